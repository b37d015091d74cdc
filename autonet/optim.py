"""Update rules.

Every rule has the cs231n signature::

    next_w, config = rule(w, dw, config)

- ``w``: parameter array (updated in place when possible, and returned);
- ``dw``: gradient of the loss with respect to ``w``, same shape;
- ``config``: dict holding the hyperparameters (``learning_rate`` is set by
  the trainer before every call) and the rule's per-parameter state
  (velocities, moments, step count), so saving ``config`` saves the optimizer.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from autonet.errors import ConfigError

UpdateRule = Callable[[np.ndarray, np.ndarray, dict], tuple]


def sgd(w: np.ndarray, dw: np.ndarray, config: dict) -> tuple[np.ndarray, dict]:
    """Vanilla stochastic gradient descent: ``w <- w - learning_rate * dw``."""
    w -= config["learning_rate"] * dw
    return w, config


UPDATE_RULES: dict[str, UpdateRule] = {"sgd": sgd}


def get_update_rule(name: str) -> UpdateRule:
    """The update rule registered as ``name`` (ConfigError listing valid names otherwise)."""
    try:
        return UPDATE_RULES[name]
    except KeyError:
        raise ConfigError(
            f"unknown optimizer {name!r}; choose one of: {', '.join(sorted(UPDATE_RULES))}"
        ) from None
