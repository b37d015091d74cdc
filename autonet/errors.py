"""The project's own exception types.

Every error autonet raises on purpose derives from :class:`AutonetError`, so a
caller (or the CLI) can tell "the input was wrong" from "autonet has a bug".
Each also derives from the closest builtin (``ValueError``, ``OSError``), so
code written against the builtin types keeps working.
"""

from __future__ import annotations


class AutonetError(Exception):
    """Base class of every error autonet raises deliberately."""


class ConfigError(AutonetError, ValueError):
    """A hyperparameter, flag or API argument has an invalid value."""


class DataError(AutonetError, ValueError):
    """A data file or array is missing, malformed, truncated or unsafe."""


class DownloadError(AutonetError, OSError):
    """Fetching or verifying the CIFAR-10 archive failed."""


class ModelFileError(AutonetError, ValueError):
    """A saved model or checkpoint is corrupted or does not match."""


class DivergenceError(AutonetError, FloatingPointError):
    """Training produced a non-finite loss or gradient.

    Attributes
    ----------
    iteration : int
        The (0-based) iteration at which the non-finite value appeared.
    name : str
        ``"loss"`` or the name of the offending parameter gradient.
    """

    def __init__(self, message: str, iteration: int = -1, name: str = "loss") -> None:
        super().__init__(message)
        self.iteration = iteration
        self.name = name
