"""The project's own exception types.

Every error autonet raises on purpose derives from :class:`AutonetError`, so a
caller (or the CLI) can tell "the input was wrong" from "autonet has a bug".
Each also derives from the closest builtin (``ValueError``, ``OSError``), so
code written against the builtin types keeps working.
"""

from __future__ import annotations


class AutonetError(Exception):
    """Base class of every error autonet raises deliberately.

    ``exit_code`` is the command line's exit status for it (2: bad input).
    """

    exit_code = 2


class ConfigError(AutonetError, ValueError):
    """A hyperparameter, flag or API argument has an invalid value."""


class DataError(AutonetError, ValueError):
    """A data file or array is missing, malformed, truncated or unsafe."""


class DownloadError(AutonetError, OSError):
    """Fetching or verifying the CIFAR-10 archive failed."""


class ModelFileError(AutonetError, ValueError):
    """A saved model or checkpoint is corrupted or does not match."""


class DivergenceError(AutonetError, FloatingPointError):
    """Training produced a non-finite loss or gradient (exit status 3: the input was valid, the run diverged).

    Attributes
    ----------
    iteration : int
        The (0-based) iteration at which the non-finite value appeared.
    name : str
        ``"loss"`` or the name of the offending parameter gradient.
    """

    exit_code = 3

    def __init__(self, message: str, iteration: int = -1, name: str = "loss") -> None:
        super().__init__(message)
        self.iteration = iteration
        self.name = name


class OutOfMemory(AutonetError, MemoryError):
    """An allocation failed although the up-front memory estimate fitted; the message quotes the estimate."""


class RunDirBusy(AutonetError, OSError):
    """Another live process is writing the run (or sweep) directory; ``pid`` is its PID (or None)."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class WriteError(AutonetError, OSError):
    """A file could not be written: disk full, read-only folder, no permission.

    Exit status 74 (``EX_IOERR`` of sysexits.h): the input was fine, the
    machine could not store the result.
    """

    exit_code = 74

    @classmethod
    def from_os_error(cls, e: OSError, path=None) -> WriteError:
        """``cannot write PATH: No space left on device`` from the OSError ``e``."""
        where = path if path is not None else (e.filename or "a file")
        err = cls(f"cannot write {where}: {e.strerror or e}")
        err.errno, err.strerror, err.filename = e.errno, e.strerror, str(where)
        return err

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
