"""Read an ``.npz`` archive without unpickling, and without inflating more than the caller needs.

``np.load`` trusts an archive: it inflates whatever a member's zip entry
says, and allocates whatever shape a member's ``.npy`` header declares, before
anything can be checked. :func:`read_npz` reads each member's *header* first
(a few hundred bytes), checks it against the member's uncompressed size from
the zip central directory -- the two must agree exactly: a header that
declares a huge shape for a small member, or a member that inflates to more
than its header declares, is refused -- and hands the headers to the caller's
``check_headers``, which refuses shapes and dtypes it does not need. Only then
is any array data inflated, with ``allow_pickle=False``.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from autonet.errors import ModelFileError
from autonet.storage.files import open_regular_file

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip
MAX_MEMBERS = 10_000
MAX_HEADER_BYTES = 10_000  # numpy's own default limit for an .npy header

Headers = dict[str, tuple[tuple[int, ...], np.dtype]]
"""Member name (without ``.npy``) -> (shape, dtype) as its ``.npy`` header declares."""


def read_npz(
    path: str | os.PathLike,
    what: str = "model file",
    *,
    max_bytes: int = 8 << 30,
    check_headers: Callable[[Headers, Callable[[str], np.ndarray]], None] | None = None,
    check_members: Callable[[list[zipfile.ZipInfo]], None] | None = None,
    error: type[Exception] = ModelFileError,
) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``: headers checked first, nothing unpickled.

    Parameters
    ----------
    path : the archive
    what : what it is, for messages ("model file", "checkpoint")
    max_bytes : most bytes the archive may hold, compressed (file size) and
        uncompressed (sum of its members)
    error : the exception class raised (:class:`ModelFileError` for models
        and checkpoints, :class:`~autonet.errors.DataError` for datasets)
    check_headers : called as ``check_headers(headers, read)`` with every
        member's declared (shape, dtype) before any array data is inflated;
        ``read(name)`` inflates one member of at most 64 KiB (to look at
        ``layer_sizes`` and the like). Raises :class:`ModelFileError` to refuse
    check_members : called with the zip directory's entries before anything
        else is read from them (names, sizes, compression); raises ``error``
        to refuse

    Raises
    ------
    ModelFileError
        Naming ``path`` and the problem: missing or not a regular file, not an
        npz archive, holds pickled (object) arrays, a member's header and size
        disagree, larger than ``max_bytes``, refused by ``check_headers``, or
        damaged (bad CRC, truncated, unsupported compression, ...).
    """
    try:
        return _read(Path(path), what, max_bytes, check_headers, check_members, error)
    except ModelFileError as e:
        raise e if error is ModelFileError else error(str(e)) from None


def _read(path: Path, what: str, max_bytes: int, check_headers, check_members, error) -> dict[str, np.ndarray]:
    with open_regular_file(path, max_bytes, what, ModelFileError) as f:
        if f.read(4) not in _ZIP_MAGIC:
            raise ModelFileError(f"{path}: not a readable {what} (not an .npz archive)")
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as z:
                if check_members is not None:
                    check_members(z.infolist())
                infos = _members(z, path, what, max_bytes)
                headers = {name: _header(z, info, path, what) for name, info in infos.items()}
                if check_headers is not None:
                    check_headers(headers, lambda name: _inflate(z, infos[name], path, what, limit=1 << 16))
                return {name: _inflate(z, info, path, what) for name, info in infos.items()}
        except (ModelFileError, error):
            raise
        except Exception as e:  # a damaged zip surfaces as many builtin types (BadZipFile, NotImplementedError, ...)
            raise ModelFileError(f"{path}: corrupted {what} ({type(e).__name__}: {str(e)[:200]})") from None


def _inflate(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, what: str, limit: int | None = None) -> np.ndarray:
    """One member's array (its header was checked by :func:`_header`: no objects, the size it declares)."""
    if limit is not None and info.file_size > limit:
        raise ModelFileError(
            f"{path}: member {info.filename[:-4]} of {info.file_size:,} bytes is too large "
            f"for what it holds in a {what}"
        )
    with z.open(info) as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def _members(z: zipfile.ZipFile, path: Path, what: str, max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    infos = z.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{path}: {len(infos):,} members; an autonet {what} has far fewer")
    out = {}
    for info in infos:
        if not info.filename.endswith(".npy") or info.filename[:-4] in out:
            raise ModelFileError(
                f"{path}: corrupted {what} (member {info.filename[:80]!r} is not a distinct .npy array)"
            )
        out[info.filename[:-4]] = info
    if (total := sum(i.file_size for i in infos)) > max_bytes:
        raise ModelFileError(
            f"{path}: the {what}'s arrays would inflate to {total:,} bytes, more than the "
            f"{max_bytes:,} bytes it can need; refused before inflating"
        )
    return out


def _header(z: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, what: str) -> tuple[tuple, np.dtype]:
    """(shape, dtype) of one member, from its ``.npy`` header alone."""
    name = info.filename[:-4]
    with z.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ModelFileError(f"{path}: corrupted {what} (member {name}: .npy format version {version})")
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(member, max_header_size=MAX_HEADER_BYTES)
        start = member.tell()
    if dtype.hasobject:
        raise ModelFileError(f"{path}: the {what} holds pickled objects; refused (autonet never unpickles {what}s)")
    nbytes = math.prod(shape) * dtype.itemsize
    if start + nbytes != info.file_size:
        raise ModelFileError(
            f"{path}: corrupted {what}: member {name} declares {dtype}{list(shape)} ({nbytes:,} bytes) but "
            f"inflates to {info.file_size - start:,} bytes of data; refused before inflating"
        )
    return shape, dtype
