"""How close the checked code must come: one set of tolerances for ``autonet check``, ``autonet grade``
(the rubric's ``[tolerances]``) and :mod:`autonet.testing`."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from autonet.errors import ConfigError

FD_SMALL = 1e-5  # below this |g| + |numeric|, a centred difference is mostly rounding noise: compare absolutely


@dataclass(frozen=True)
class Tolerances:
    """Float64 tolerances of every check; :class:`~autonet.errors.ConfigError` (a ValueError) when one is not
    in (0, 0.1].

    Attributes
    ----------
    rtol : relative error allowed against autonet's backends (the exercise's ``rel_error``)
    fd_rtol : relative error allowed against centred finite differences, where ``|g| + |num| >= 1e-5``
    atol : absolute difference allowed against finite differences below that
    fd_step : the step ``h`` of the centred differences
    """

    rtol: float = 1e-7
    fd_rtol: float = 1e-6
    atol: float = 1e-9
    fd_step: float = 1e-5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 0.1):
                raise ConfigError(f"tolerance {f.name} must be a number in (0, 0.1], got {value!r}")


def fd_error(got: np.ndarray, num: np.ndarray, atol: float) -> float:
    """The exercise's relative error of ``got`` against centred differences ``num`` where
    ``|g| + |num| >= FD_SMALL``; an entry below that, whose centred difference is mostly rounding
    noise, counts as 1.0 only if it is off by more than ``atol``."""
    from autonet.gradcheck import rel_error

    big = np.abs(got) + np.abs(num) >= FD_SMALL
    err = rel_error(got[big], num[big]) if big.any() else 0.0
    if (~big).any() and np.abs(got[~big] - num[~big]).max() > atol:
        err = max(err, 1.0)
    return err
