"""Where the CIFAR-10 batches are, and how the official archive gets there: md5-checked, safely extracted.

The folder looked in is the ``data_dir`` argument, else ``$AUTONET_DATA``, else
the per-user cache (:func:`chosen_place`); it may either *be* a
``cifar-10-batches-py`` folder or *contain* one. When it holds neither, the
official archive is downloaded into it only if it is the default cache folder
(or ``download=True``): a folder the user named (``data_dir``,
``$AUTONET_DATA``) without the data is an error naming it and saying how to get
the data (``autonet download DIR``), not a 170 MB download the user did not ask for.

The archive is streamed to a temporary file, checked *before* it is opened,
every member is vetted for path safety, and the extracted folder is renamed
into place only when complete."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import itertools
import os
import shlex
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from autonet.errors import DataError, DownloadError

# the official archive's layout
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
ENV_VAR = "AUTONET_DATA"

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"

_CHUNK = 1 << 20  # download read size, bytes
# The official archive is 170,498,071 bytes: a server sending more is not serving it.
CIFAR10_MAX_BYTES = 200 << 20
# Whole-download deadline: a server trickling bytes would otherwise keep every read alive forever.
DEFAULT_DEADLINE = 30 * 60.0
DEFAULT_TIMEOUT = 60.0  # the longest wait for any one network read, seconds


OFFLINE_HINT = (
    "; this machine seems to be offline. Give the data another way: --data-dir DIR (a folder holding it), "
    "AUTONET_DATA=DIR, or `autonet download DIR` on a machine with a network, then copy DIR here"
)


def default_cache_dir(platform: str = sys.platform) -> Path:
    """Return the per-user cache folder, by each platform's convention (as ``platformdirs`` has it).

    Windows: ``%LOCALAPPDATA%\\autonet\\Cache``; macOS: ``~/Library/Caches/autonet``; elsewhere
    ``$XDG_CACHE_HOME/autonet`` or ``~/.cache/autonet`` (a relative ``XDG_CACHE_HOME`` is ignored, as
    the XDG spec requires).
    """
    if platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "autonet" / "Cache"
    if platform == "darwin":
        return Path.home() / "Library" / "Caches" / "autonet"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "autonet"
    return Path.home() / ".cache" / "autonet"


def chosen_place(data_dir: str | os.PathLike | None, download: bool | None) -> tuple[Path, str, bool]:
    """The one folder to use, a phrase saying why it was chosen, and whether to download into it.

    ``download`` if given, else True only for the default cache folder (an implicit place).
    """
    if data_dir is not None:
        place, why = Path(data_dir).expanduser(), "--data-dir"
    elif os.environ.get(ENV_VAR, ""):
        place, why = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        return default_cache_dir(), "the default cache folder", download is None or bool(download)
    return place, why, bool(download)


def locate_cifar10(
    data_dir: str | os.PathLike | None = None, download: bool | None = None, quiet: bool = False
) -> Path:
    """Find (or download) the ``cifar-10-batches-py`` folder.

    The folder looked in is ``data_dir`` if given, else ``$AUTONET_DATA`` if
    set, else :func:`default_cache_dir` -- only that one; a later candidate is
    never used as a fallback for an earlier one. It may either be a
    ``cifar-10-batches-py`` folder or contain one.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder that is or contains ``cifar-10-batches-py``.
    download : bool or None
        If the folder holds no data, download the official archive into it:
        True always, False never, None (default) only into the default cache
        folder (a folder the user chose is never filled without being asked).
    quiet : bool
        Suppress the download message and progress bar.

    Returns
    -------
    Path
        The ``cifar-10-batches-py`` folder. Its contents are checked only when
        loaded.

    Raises
    ------
    DataError
        No data found and no download allowed; the message names every path
        looked in and the command that gets the data.
    DownloadError
        Downloading was needed and failed.
    """
    place, why, may_download = chosen_place(data_dir, download)
    if any((place / name).is_file() for name in (*TRAIN_BATCHES, TEST_BATCH, META_FILE)):
        return place  # it holds the batch files itself
    inner = place / BATCH_DIR
    if inner.is_dir():
        return inner
    if may_download:
        # Module globals looked up at call time, so tests can point them at a local server.
        return download_cifar10(place, url=CIFAR10_URL, md5=CIFAR10_MD5, quiet=quiet)
    raise DataError(
        f"CIFAR-10 not found in {place} (chosen by {why}): neither it nor {inner} holds the batch files; "
        f"get them with: autonet download {shlex.quote(str(place))}"
    )


def download_cifar10(
    target_dir: str | os.PathLike,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    quiet: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
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
    part = target / f".cifar-10-python.{os.getpid()}.part"
    with new_folders_removed_unless_filled(target):
        what = "archive; nothing was extracted"
        fetch_verified(url, part, md5, what, quiet, timeout=timeout, deadline=deadline, max_bytes=max_bytes)
        try:  # the archive is not kept, whether extraction succeeds, fails or is interrupted
            with tempfile.TemporaryDirectory(
                dir=target, prefix=".cifar-10-extract.", ignore_cleanup_errors=True
            ) as tmp:
                _safe_extract(part, Path(tmp), url)
                try:
                    os.rename(Path(tmp) / BATCH_DIR, final)
                except OSError as exc:
                    if not final.is_dir():  # another process may have finished the same download first: keep theirs
                        raise DownloadError(f"cannot move extracted data to {final}: {exc}") from exc
        finally:
            part.unlink(missing_ok=True)
    return final


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


@contextlib.contextmanager
def new_folders_removed_unless_filled(folder: Path) -> Iterator[None]:
    """Run the block; then remove ``folder`` and the ancestors the block created, as long as they are empty."""
    created = list(itertools.takewhile(lambda p: not p.exists(), (folder, *folder.parents)))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # the first that is not empty (or not ours to remove) ends it
            for p in created:  # deepest first
                p.rmdir()


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
                    # the socket is closed once the body was read (Python >= 3.13): nothing to wait for then
                    with contextlib.suppress(OSError):
                        if sock is not None and not response.isclosed():
                            sock.settimeout(max(min(timeout, left), 0.01))
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
            names = {str(PurePosixPath(m.name)) for m in members if m.isfile()}
            if missing := [n for n in (*TRAIN_BATCHES, META_FILE) if f"{BATCH_DIR}/{n}" not in names]:
                raise DownloadError(f"archive is missing {', '.join(f'{BATCH_DIR}/{n}' for n in missing)}")
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
