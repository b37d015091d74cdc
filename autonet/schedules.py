"""Learning-rate schedules: the step size as a pure function of the iteration.

The trainer asks :func:`learning_rate_at` for the rate of every step, so the
rate depends only on the iteration number (and the epoch length), never on
what happened before: a run resumed from a checkpoint continues on exactly
the same schedule.

Schedules (``lr0`` the base rate, ``t`` the 0-based iteration, ``E`` the
iterations per epoch, ``T`` the total iterations, ``W`` the warm-up iterations):

- ``"decay"`` (the exercise's): ``lr0 * decay ** (t // E)``, times ``decay`` after every epoch;
- ``"step"``: ``lr0 * decay ** (t // (step_epochs * E))``, times ``decay`` every ``step_epochs`` epochs;
- ``"cosine"``: ``lr0 * 0.5 * (1 + cos(pi * (t - W) / (T - W)))``, from ``lr0`` after warm-up down to 0 at ``T``;
- ``"constant"``: ``lr0``.

A linear warm-up multiplies any of them by ``(t + 1) / W`` while ``t < W``.
"""

from __future__ import annotations

import math

from autonet.errors import ConfigError

SCHEDULES = ("decay", "step", "cosine", "constant")


def learning_rate_at(
    iteration: int,
    base_lr: float,
    iterations_per_epoch: int,
    num_iters: int,
    schedule: str = "decay",
    decay: float = 1.0,
    step_epochs: int = 1,
    warmup_iters: int = 0,
) -> float:
    """The learning rate of step ``iteration`` (0-based); see the module docstring.

    Parameters
    ----------
    iteration : 0-based index of the step about to be taken
    base_lr : lr0
    iterations_per_epoch : E (>= 1)
    num_iters : T, the planned total (used by ``"cosine"``)
    schedule : one of :data:`SCHEDULES`
    decay : factor of ``"decay"`` and ``"step"``
    step_epochs : epochs between ``"step"`` drops
    warmup_iters : W, linear warm-up length (0: none)

    Returns
    -------
    float
    """
    t = int(iteration)
    if schedule in ("decay", "step"):  # "decay" is "step" with a drop every epoch
        lr = base_lr * decay ** (t // ((step_epochs if schedule == "step" else 1) * iterations_per_epoch))
    elif schedule == "cosine":
        span = max(num_iters - warmup_iters, 1)
        progress = min(max(t - warmup_iters, 0) / span, 1.0)
        lr = base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
    elif schedule == "constant":
        lr = base_lr
    else:
        raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    if t < warmup_iters:
        lr *= (t + 1) / warmup_iters
    return float(lr)
