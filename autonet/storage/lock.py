"""One writer per run directory: an OS file lock held for the run's life.

``RUN_DIR/.lock`` is locked with ``fcntl.flock(LOCK_EX | LOCK_NB)`` (POSIX) or
``msvcrt.locking(LK_NBLCK)`` on its first byte (Windows) and holds the
writer's PID. The OS drops either lock when the process holding it dies,
however it dies (exit, exception, SIGKILL, OOM kill), so a lock can never be
stale: a file left behind by a killed run is just a file, and the next writer
takes the lock and overwrites the PID. A second writer is refused at once
with :class:`RunDirBusy` naming the holder's PID, instead of two processes
interleaving checkpoints and deleting each other's temporary files.

A finished writer deletes the lock file while it still holds the lock, so a
finished run leaves no ``.lock`` behind; a process that locked the deleted file
in the meantime sees that the path no longer names its file and locks the new
one, so two processes can never hold locks on two different inodes. Where
neither module exists, locking is unavailable: the run goes on, with a warning
saying so.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

from autonet.errors import RunDirBusy, WriteError
from autonet.storage.files import LOCKED_DIRS, refuse_links

LOCK_NAME = ".lock"

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None  # type: ignore[assignment]
try:
    import msvcrt  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # not Windows
    msvcrt = None  # type: ignore[assignment]


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` exclusively without waiting: False if another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif msvcrt is not None:  # one byte from the start; released when the descriptor closes
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            warnings.warn(
                "run-directory locking is unavailable on this platform (neither fcntl nor msvcrt): make sure "
                "only one autonet process writes a run directory at a time",
                RuntimeWarning,
                stacklevel=3,
            )
    except (BlockingIOError, PermissionError):  # EWOULDBLOCK (flock), EACCES (msvcrt): held elsewhere
        return False
    return True


def check_no_writer(directory: str | os.PathLike) -> None:
    """Raise :class:`RunDirBusy` if a live process holds ``directory``'s lock (no lock file is created)."""
    if fcntl is not None and os.path.lexists(Path(directory) / LOCK_NAME):
        RunLock(directory).acquire().release()


class RunLock:
    """Exclusive, non-blocking lock on ``directory/.lock`` (the directory must exist).

    Use as a context manager, or :meth:`acquire` / :meth:`release`::

        with RunLock(run_dir):
            ...   # this process is the only writer of run_dir

    Raises
    ------
    RunDirBusy
        Another live process holds the lock; the message names its PID.
    WriteError
        The lock file cannot be created (read-only directory, disk full).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        refuse_links(self.path)
        try:  # O_NOFOLLOW: a link planted as .lock is refused by the kernel, not truncated
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as e:
            refuse_links(self.path)  # a link that appeared since: say so
            raise WriteError.from_os_error(e, self.path) from None
        try:
            free = _try_lock(fd)
        except OSError as e:
            os.close(fd)
            raise WriteError.from_os_error(e, self.path) from None
        if not free:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"PID {holder}" if holder else "another process"
            raise RunDirBusy(
                f"{self.directory}: in use by another autonet process ({who}), which is still running; a run "
                "directory has one writer: wait for it to finish or stop it, then try again",
                pid=holder,
            )
        if not _names(self.path, fd):  # deleted by the writer that just finished: lock the new file
            os.close(fd)
            return self.acquire()
        with contextlib.suppress(OSError):  # the lock is what matters; the PID is only for the message
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        LOCKED_DIRS.add(os.path.abspath(self.directory))
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        LOCKED_DIRS.discard(os.path.abspath(self.directory))
        try:
            os.unlink(self.path)  # while held (see the module docstring)
        except OSError:  # Windows cannot delete an open file: leave it empty instead
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except OSError:
        return False


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)  # not os.pread: POSIX only
        text = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and text.isascii() else None
