"""Download the official CIFAR-10 archive, verify its md5, and extract it safely.

The archive is streamed to a temporary file, checked *before* it is opened,
every member is vetted for path safety, and the extracted folder is renamed
into place only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from autonet.data.cifar10_format import BATCH_DIR, META_FILE, TRAIN_BATCHES
from autonet.errors import DownloadError

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"

_CHUNK = 1 << 20  # download read size, bytes
# The official archive is 170,498,071 bytes: a server sending more is not serving it.
CIFAR10_MAX_BYTES = 200 << 20
# Whole-download deadline: a server trickling bytes would otherwise keep every read alive forever.
DEFAULT_DEADLINE = 30 * 60.0


OFFLINE_HINT = (
    "; this machine seems to be offline. Give the data another way: --data-dir DIR (a folder holding it), "
    "AUTONET_DATA=DIR, or `autonet download DIR` on a machine with a network, then copy DIR here"
)


def download_cifar10(
    target_dir: str | os.PathLike,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    quiet: bool = False,
    timeout: float = 60,
    deadline: float = DEFAULT_DEADLINE,
    max_bytes: int = CIFAR10_MAX_BYTES,
) -> Path:
    """Download the CIFAR-10 python archive, verify it, extract it into ``target_dir``.

    The archive is streamed to a temporary file inside ``target_dir``, its md5
    is checked *before* it is opened, every member is checked for path safety,
    and it is extracted into a temporary folder that is renamed into place only
    when complete. The archive itself is not kept.

    Parameters
    ----------
    target_dir : path-like
        Folder to put ``cifar-10-batches-py`` in (created if needed).
    url : str
        Archive URL.
    md5 : str
        Expected md5 hex digest of the archive.
    quiet : bool
        No message, no progress bar (the bar is also off when stderr is not a TTY).
    timeout : float
        Socket timeout in seconds (the longest wait for any one network read).
    deadline : float
        Seconds the whole download may take; a slower one is abandoned.
    max_bytes : int
        Largest archive accepted; a server announcing or sending more is cut off.

    Returns
    -------
    Path
        ``target_dir / "cifar-10-batches-py"``. If it already exists nothing
        is downloaded.

    Raises
    ------
    DownloadError
        Network or HTTP failure, md5 mismatch, unreadable or unsafe archive,
        archive without the expected files. No partial files are left behind,
        and folders this call created are removed again.
    """
    target = Path(target_dir).expanduser()
    final = target / BATCH_DIR
    if final.is_dir():
        return final
    created = _missing_ancestors(target)
    part = target / f".cifar-10-python.{os.getpid()}.part"
    try:
        what = "archive; nothing was extracted"
        fetch_verified(url, part, md5, what, quiet, timeout=timeout, deadline=deadline, max_bytes=max_bytes)
        with tempfile.TemporaryDirectory(dir=target, prefix=".cifar-10-extract.", ignore_cleanup_errors=True) as tmp:
            _safe_extract(part, Path(tmp), url)
            _rename_into_place(Path(tmp) / BATCH_DIR, final)
        return final
    finally:
        # Runs on success, on errors and on Ctrl-C alike.
        with contextlib.suppress(OSError):  # not there if the download failed (or target is no folder)
            part.unlink()
        if not final.is_dir():
            _remove_empty(created)


def fetch_verified(url: str, dest: Path, md5: str, what: str, quiet: bool, **limits: float) -> None:
    """Download ``url`` to ``dest`` (its folder created), whose md5 must be ``md5``; nothing kept on failure.

    ``what`` ends the mismatch message; ``limits`` (``timeout``, ``deadline``, ``max_bytes``) go to :func:`_fetch`.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    except OSError as exc:
        raise DownloadError(f"cannot write to download folder {dest.parent}: {exc}") from exc
    try:
        if not quiet:
            print(f"Downloading {url} to {dest.parent}", file=sys.stderr)
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, quiet=quiet, **limits)  # type: ignore[arg-type]  # the keywords above
        if digest.lower() != md5.lower():
            raise DownloadError(
                f"md5 mismatch for {url}: expected {md5.lower()}, got {digest}. "
                f"The download is corrupt or not the official {what}."
            )
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def _remove_empty(folders: Iterable[Path]) -> None:
    with contextlib.suppress(OSError):  # the first that is not empty (or not ours to remove) ends it
        for folder in folders:
            folder.rmdir()


def _fetch(
    url: str,
    out: BinaryIO,
    timeout: float,
    quiet: bool,
    deadline: float = DEFAULT_DEADLINE,
    max_bytes: int = CIFAR10_MAX_BYTES,
) -> str:
    """Stream ``url`` into ``out``; return the md5 hex digest of what was read.

    At most ``max_bytes`` are accepted (a larger ``Content-Length`` is refused
    before the body is read), and the whole transfer must end within
    ``deadline`` seconds: reads return whatever has arrived (``read1``), so the
    deadline is checked however slowly the bytes come, and no single read
    waits longer than ``min(timeout, time left)``, so the total stays within
    ``deadline`` plus a second or so.
    """
    from tqdm import tqdm

    digest, received, total, start = hashlib.md5(), 0, None, time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=min(timeout, deadline)) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise DownloadError(
                    f"download of {url} refused: the server announces {total:,} bytes, more than "
                    f"the {max_bytes:,} expected"
                )
            # the socket under an HTTP(S) response, to tighten its timeout as the deadline nears (None if hidden)
            sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
            name, hidden = url.rsplit("/", 1)[-1], quiet or not sys.stderr.isatty()
            with tqdm(total=total, unit="B", unit_scale=True, disable=hidden, desc=name, file=sys.stderr) as bar:
                while True:
                    left = deadline - (time.monotonic() - start)
                    if left <= 0:
                        raise TimeoutError
                    if sock is not None and not response.isclosed():
                        try:
                            sock.settimeout(max(min(timeout, left), 0.01))
                        except OSError:  # closed once the body was read (Python >= 3.13): nothing to wait for
                            sock = None
                    chunk = response.read1(_CHUNK)
                    if not chunk:
                        break
                    received += len(chunk)
                    if received > max_bytes:
                        raise DownloadError(f"download of {url} refused: more than the {max_bytes:,} bytes expected")
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except DownloadError:
        raise
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"download of {url} failed: {exc.reason}{OFFLINE_HINT}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, bad URL
        if time.monotonic() - start >= deadline:
            raise DownloadError(
                f"download of {url} too slow: {received:,} of {'?' if total is None else f'{total:,}'} bytes "
                f"after the {deadline:g} s deadline"
            ) from None
        raise DownloadError(f"download of {url} failed: {type(exc).__name__}: {exc}{OFFLINE_HINT}") from exc
    if total is not None and received != total:
        raise DownloadError(f"download of {url} incomplete: got {received} of {total} bytes")
    return digest.hexdigest()


# The official archive has 9 members of 186 MB in all; pax and GNU long-name headers of a few hundred bytes.
MAX_MEMBERS = 100
MAX_EXTRACTED_BYTES = 256 << 20
MAX_TAR_HEADER_BYTES = 1 << 16


class _Unsafe(Exception):
    pass


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose extended (pax, GNU long-name, sparse) data is refused beyond 64 KiB.

    ``tarfile`` reads such data into memory whole, at whatever size the header declares: 3 GiB from a
    3 MB archive.
    """

    def _proc_member(self, tarfile):  # tarfile's own hook
        if not self.isreg() and not self.isdir() and self.size > MAX_TAR_HEADER_BYTES:
            # not a DownloadError: tarfile.open turns any OSError into "not a gzip file"
            raise _Unsafe(
                f"unsafe archive: a {self.type!r} header of {self.size:,} bytes "
                f"(extended headers are at most {MAX_TAR_HEADER_BYTES:,}); nothing was extracted"
            )
        return super()._proc_member(tarfile)


def _safe_extract(archive: Path, dest: Path, url: str) -> None:
    """Extract the checked archive into ``dest`` after vetting every member."""
    try:
        with tarfile.open(archive, "r:*", tarinfo=_BoundedTarInfo) as tar:
            members = []
            for member in tar:
                _check_member(member)
                members.append(member)
                if len(members) > MAX_MEMBERS or sum(m.size for m in members) > MAX_EXTRACTED_BYTES:
                    raise DownloadError(
                        f"unsafe archive: more than {MAX_MEMBERS} members or {MAX_EXTRACTED_BYTES:,} bytes; "
                        "the CIFAR-10 archive has 9 members of 186 MB"
                    )
            _check_complete(members)
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                tar.extractall(dest, members=members, filter="data")
            else:
                tar.extractall(dest, members=members)
    except DownloadError:
        raise
    except _Unsafe as exc:
        raise DownloadError(str(exc)) from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        text = "; ".join(line.strip() for line in str(exc).splitlines())  # one line: tarfile lists every method
        raise DownloadError(f"cannot extract archive from {url}: {type(exc).__name__}: {text}") from exc


def _check_member(member: tarfile.TarInfo) -> None:
    """Refuse anything but plain files and folders strictly under ``cifar-10-batches-py/``."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")):
        raise DownloadError(f"unsafe archive: absolute path {name!r}")
    if ".." in parts or "\\" in name:
        raise DownloadError(f"unsafe archive: path {name!r} escapes the target folder")
    if not (member.isfile() or member.isdir()):
        raise DownloadError(f"unsafe archive: {name!r} is a link, device or other special file")
    if not parts or parts[0] != BATCH_DIR:
        raise DownloadError(f"unexpected archive member {name!r}: everything must be under {BATCH_DIR}/")


def _check_complete(members: list[tarfile.TarInfo]) -> None:
    names = {str(PurePosixPath(m.name)) for m in members if m.isfile()}
    missing = [n for n in (*TRAIN_BATCHES, META_FILE) if f"{BATCH_DIR}/{n}" not in names]
    if missing:
        raise DownloadError(f"archive is missing {', '.join(f'{BATCH_DIR}/{n}' for n in missing)}")


def _rename_into_place(src: Path, final: Path) -> None:
    try:
        os.rename(src, final)
    except OSError as exc:
        # Another process may have finished the same download first: keep theirs.
        if not final.is_dir():
            raise DownloadError(f"cannot move extracted data to {final}: {exc}") from exc
