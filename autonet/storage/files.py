"""Atomic file writes, and the one guarded way to open a file autonet reads.

Each writer puts the bytes in a temporary file in the target's directory,
flushes and fsyncs it, then ``os.replace``-s it over the target, which POSIX
guarantees to be atomic within one file system.

Every file autonet reads from a user-given path (data batches, model files,
checkpoints, config, space and summary files) is opened through
:func:`open_regular_file` / :func:`read_regular_file`: a FIFO, device,
socket or directory is refused before a single byte is read (reading a FIFO
would block forever, a device may never end), and so is a file larger than
what the caller can need.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from autonet.errors import ConfigError, WriteError


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fileobj)`` on a temporary file, then move it to ``path``.

    The temporary file is removed if ``write`` raises, so no partial file is
    left behind either at ``path`` or beside it.

    Raises
    ------
    WriteError
        An ``OSError`` on the way (disk full, read-only folder, no
        permission), as one line naming ``path``; the old file is untouched.
    """
    path = Path(path)
    refuse_links(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise WriteError.from_os_error(e, path) from None
    try:
        umask = os.umask(0)  # read it (only os.umask can); restored at once
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not isinstance(e, WriteError):
            raise WriteError.from_os_error(e, path) from None
        raise
    with contextlib.suppress(OSError):  # persist the rename itself (best effort; not every OS allows it)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


# Run directories this process holds the lock of (absolute, as named): below them, every directory and
# file written is autonet's own, so a symbolic link there was planted and is never written through.
LOCKED_DIRS: set[str] = set()


def refuse_links(path: str | os.PathLike) -> None:
    """Raise :class:`ConfigError` if ``path``, or a directory between it and a locked run directory, is a link.

    Writing through such a link (``RUN/plots -> /elsewhere``, ``RUN/.lock -> ~/.bashrc``) would replace
    or truncate a file outside the run. The run directory itself may be a link: the user named it.
    """
    target = Path(os.path.abspath(path))
    top = next((Path(d) for d in LOCKED_DIRS if target.is_relative_to(d) and target != Path(d)), None)
    for p in (target, *(target.parents if top is not None else ())):
        if p == top:
            break
        if os.path.islink(p):
            raise ConfigError(
                f"{p}: is a symbolic link; autonet never writes through a link it did not create "
                f"(it could replace a file elsewhere): remove it (rm {p}), then try again"
            )


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_savez(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` to ``path`` atomically (no pickled objects allowed)."""
    return atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))


# ----- reading -----

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


# O_NONBLOCK: opening a FIFO with no writer returns at once (POSIX); O_BINARY: no newline translation (Windows)
_READ_FLAGS = os.O_RDONLY | sum(getattr(os, f, 0) for f in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC", "O_BINARY"))


def _a(what: str) -> str:
    """``what`` with its indefinite article: a model file, an IDX file."""
    return f"{'an' if what[:1] in 'aeiouAEIOU' else 'a'} {what}"


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def open_regular_file(path: str | os.PathLike, max_bytes: int, what: str, error: type[Exception]) -> BinaryIO:
    """Open ``path`` for reading in binary mode, refusing anything but a regular file.

    The file is opened with ``O_NONBLOCK`` (so opening a FIFO with no writer
    returns at once instead of blocking), then ``fstat``-ed *on the open
    descriptor* -- no window between the check and the read -- and only a
    regular file of at most ``max_bytes`` is handed back, in blocking mode.

    Parameters
    ----------
    path : the file
    max_bytes : largest size accepted (the most the caller can ever need)
    what : what the file is, for messages ("model file", "checkpoint", ...)
    error : exception class raised, with a one-line message naming ``path``

    Raises
    ------
    error
        ``{path}: no such {what}``, ``{path}: is a FIFO, not a regular file;
        refusing to read it as a {what}``, ``{path}: {what} of N bytes is
        larger than the M bytes ...``, or ``{path}: cannot read {what} (...)``.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as e:
        try:  # a socket cannot be opened at all (ENXIO): say what it is
            mode = os.stat(path).st_mode
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):
            raise error(f"{path}: is {_kind(mode)}, not a regular file; refusing to read it as {_a(what)}") from None
        raise error(f"{path}: cannot read {what} ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: is {_kind(st.st_mode)}, not a regular file; refusing to read it as {_a(what)}")
        if st.st_size > max_bytes:
            raise error(
                f"{path}: {what} of {st.st_size:,} bytes is larger than the {max_bytes:,} bytes "
                f"{_a(what)} can need; refused"
            )
        if hasattr(os, "O_NONBLOCK"):  # POSIX; Windows has no FIFOs to block on
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_file(path: str | os.PathLike, max_bytes: int, what: str, error: type[Exception]) -> bytes:
    """All bytes of the regular file ``path`` (at most ``max_bytes``); see :func:`open_regular_file`.

    A file that grows past ``max_bytes`` while being read is refused too.
    """
    with open_regular_file(path, max_bytes, what, error) as f:
        size = os.fstat(f.fileno()).st_size
        chunks: list[bytes] = []
        try:
            # one read of the stat size (a buffer of max_bytes would be allocated up front), then
            # bounded chunks in case the file grew since; the position is the count read so far
            while chunk := f.read(size + 1 if not chunks else 1 << 20):
                chunks.append(chunk)
                if f.tell() > max_bytes:
                    raise error(f"{path}: {what} is larger than the {max_bytes:,} bytes {_a(what)} can need; refused")
        except OSError as e:
            raise error(f"{path}: cannot read {what} ({e.strerror or e})") from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
