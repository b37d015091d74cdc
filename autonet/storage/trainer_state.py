"""Check a loaded trainer state field by field before the trainer takes it.

A checkpoint can be a well-formed ``.npz`` and still lie: a permutation out of
range or 2-D, a negative, huge or infinite iteration, optimizer moments of the
wrong shape, a string where the loss history holds numbers, a generator state
numpy would reject deep inside training. :func:`check_trainer_state` compares
the state with a *template* built from the trainer itself -- its own
:meth:`~autonet.train.Trainer.state_dict`, and the optimizer state its update
rule creates after one step -- so the schema follows whatever the trainer
saves, and adds the few range rules a template cannot express (iteration
within ``num_iters``, ``perm`` a permutation of the training rows, ``pos``
within it, ``train_seconds`` finite and >= 0, and the optimizer's: every
state array present once a step was taken, decays such as ``beta1``/``beta2``
in [0, 1), ``epsilon`` > 0, learning rates >= 0, the step count ``t`` within
the iteration, second moments >= 0). Every refusal names the field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# state_dict keys that checkpoints written by earlier versions may lack (load_state_dict defaults them)
_OPTIONAL = frozenset({"bn_state", "train_seconds", "learning_rate", "config", "ema", "best"})


class StateFieldError(ValueError):
    """A field of a trainer state is missing or wrong; ``field`` is its path (``opt_state/W1/m``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.ndim}-D {value.dtype} array of shape {value.shape}"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v: Any) -> bool:
    return _is_int(v) or isinstance(v, (float, np.floating))


def _is_finite(v: Any) -> bool:
    return _is_real(v) and math.isfinite(float(v))


# (is a value of this kind, what the message calls it), bool before int; a template of none of the
# first three kinds (a float, or None standing for one) asks for a finite number
_SCALARS = (
    (lambda v: isinstance(v, (bool, np.bool_)), "a bool"),
    (_is_int, "an integer"),
    (lambda v: isinstance(v, str), "a string"),
    (_is_finite, "a finite number"),
)


def _same_keys(value: dict, required, allowed, prefix: str, missing: str = "missing", unknown: str = "") -> None:
    """Every key of ``required`` in ``value``, and no key outside ``allowed``; names the first field that is not."""
    if absent := sorted(set(required) - set(value)):
        raise StateFieldError(prefix + absent[0], missing)
    if extra := sorted(map(str, set(value) - set(allowed))):
        raise StateFieldError(prefix + extra[0], unknown or "unknown to this trainer")


def _like(value: Any, template: Any, field: str) -> None:
    """``value`` has the type, keys, shape and dtype of ``template``; float arrays and numbers are finite."""
    if isinstance(template, dict):
        if not isinstance(value, dict):
            raise StateFieldError(field, f"expected a dict, got {_describe(value)}")
        _same_keys(value, template, template, f"{field}/")
        for k, t in template.items():
            _like(value[k], t, f"{field}/{k}")
    elif isinstance(template, np.ndarray):
        if not isinstance(value, np.ndarray) or value.shape != template.shape or value.dtype != template.dtype:
            raise StateFieldError(
                field, f"expected a {template.dtype} array of shape {template.shape}, got {_describe(value)}"
            )
        if value.dtype.kind in "fc" and not np.isfinite(value).all():
            raise StateFieldError(field, "holds NaN or infinite values")
    elif isinstance(template, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise StateFieldError(field, f"expected a list, got {_describe(value)}")
        if template:
            if len(value) != len(template):
                raise StateFieldError(field, f"expected {len(template)} entries, got {len(value)}")
            for i, (v, t) in enumerate(zip(value, template, strict=True)):
                _like(v, t, f"{field}/{i}")
    else:  # a scalar: of the kind of the template
        fits, name = next((kind for kind in _SCALARS[:3] if kind[0](template)), _SCALARS[3])
        if not fits(value) and not (value is None and template is None):
            raise StateFieldError(field, f"expected {name}, got {_describe(value)}")


def _optimizer_template(trainer, name: str) -> tuple[dict, dict]:
    """(state before the first step, state after one step) of parameter ``name``'s optimizer."""
    fresh = trainer.opt_state[name]
    stepped = {k: (np.copy(v) if isinstance(v, np.ndarray) else v) for k, v in fresh.items()}
    stepped["learning_rate"] = 0.0
    w = np.array(trainer.params[name], copy=True)
    trainer.update_rule(w, np.zeros_like(w), stepped)
    return fresh, stepped


def _hyperparameter_rules() -> dict:
    """The range of each optimizer hyperparameter a state may hold, as the config schema spells ranges.

    ``momentum`` is the schema's own field; the rules' fixed constants (autonet.optim.DEFAULTS) get
    the range their update equations need: a decay in [0, 1) (``1 - beta**t`` divides), ``epsilon``
    > 0 (it keeps ``sqrt(v) + eps`` away from 0), a learning rate or weight decay >= 0 (schedules
    reach 0 at a warmup's start or a cosine's end).
    """
    from autonet.config import FRACTION, NONNEGATIVE, POSITIVE, option

    return {
        "momentum": option("momentum").kind,
        **dict.fromkeys(("beta1", "beta2", "decay_rate"), FRACTION),
        "epsilon": POSITIVE,
        **dict.fromkeys(("weight_decay", "learning_rate"), NONNEGATIVE),
    }


# running averages of squared gradients: a negative entry makes sqrt() NaN on the next step
_SECOND_MOMENTS = frozenset({"v", "cache"})


def _check_in_range(v: Any, field: str, key: str, iteration: int, rules: dict) -> None:
    """The range rules of one optimizer-state entry ``key`` (its type is already checked)."""
    from autonet.errors import ConfigError

    if key in rules and v is not None:
        try:
            rules[key].check(key, v)
        except ConfigError as e:
            raise StateFieldError(field, str(e)) from None
    elif _is_int(v) and v < 0:
        raise StateFieldError(field, f"must be >= 0, got {v}")
    elif key == "t" and v != iteration:
        raise StateFieldError(
            field, f"must equal the checkpoint's iteration {iteration} (one step per iteration), got {_describe(v)}"
        )
    elif key in _SECOND_MOMENTS and isinstance(v, np.ndarray) and v.size and v.min() < 0:
        raise StateFieldError(
            field, f"holds negative values (min {float(v.min()):.3g}); a running mean of squared gradients is >= 0"
        )


def _check_opt_state(value: Any, trainer, iteration: int) -> None:
    if not isinstance(value, dict) or set(value) != set(trainer.params):
        got = sorted(map(str, value)) if isinstance(value, dict) else _describe(value)
        raise StateFieldError("opt_state", f"expected one entry per parameter {sorted(trainer.params)}, got {got}")
    rules = _hyperparameter_rules()
    for name, state in value.items():
        fresh, stepped = _optimizer_template(trainer, name)
        where = f"opt_state/{name}"
        if not isinstance(state, dict):
            raise StateFieldError(where, f"expected a dict, got {_describe(state)}")
        # after a step every parameter's optimizer holds its whole state (moments, step count, ...)
        after = f" (the optimizer has taken {iteration} steps)" if iteration > 0 else ""
        unknown = f"unknown to the {trainer.config.update} optimizer"
        _same_keys(state, stepped if iteration > 0 else fresh, stepped, f"{where}/", "missing" + after, unknown)
        for k, v in state.items():
            # learning_rate: None until the first step, then a float
            template = None if k == "learning_rate" else fresh.get(k) if stepped[k] is None else stepped[k]
            _like(v, template, f"{where}/{k}")
            _check_in_range(v, f"{where}/{k}", k, iteration, rules)


def _check_rng(value: Any, trainer) -> None:
    template = trainer.rng.bit_generator.state
    if not isinstance(value, dict) or value.get("bit_generator") != template["bit_generator"]:
        got = value.get("bit_generator") if isinstance(value, dict) else _describe(value)
        raise StateFieldError("rng", f"expected a {template['bit_generator']} generator state, got {got!r}")
    probe = type(trainer.rng.bit_generator)()
    try:
        probe.state = value
    except Exception as e:  # numpy raises ValueError, TypeError, KeyError or OverflowError
        raise StateFieldError(
            "rng", f"not a valid {template['bit_generator']} state ({type(e).__name__}: {str(e)[:80]})"
        ) from None


def _check_history(value: Any, template: dict, iteration: int, has_val: bool) -> None:
    """Numbers, one loss per iteration, one entry per finished epoch in the per-epoch lists."""
    _like(value, {k: [] for k in template}, "history")
    for k, entries in value.items():
        for i, v in enumerate(entries):
            if not _is_real(v):
                raise StateFieldError(f"history/{k}", f"expected numbers, found {_describe(v)} at index {i}")
    if len(losses := value.get("loss", ())) != iteration:
        raise StateFieldError("history/loss", f"expected one loss per iteration ({iteration}), got {len(losses)}")
    ends = value.get("epoch_iteration", [])
    if any(not _is_int(e) or not 0 < e <= iteration for e in ends) or list(ends) != sorted(set(ends)):
        raise StateFieldError("history/epoch_iteration", f"expected increasing iterations in [1, {iteration}]")
    for k in ("learning_rate", "train_acc", "val_acc"):
        want = len(ends) if k != "val_acc" or has_val else 0
        if len(got := value.get(k, ())) != want:
            raise StateFieldError(f"history/{k}", f"expected one entry per finished epoch ({want}), got {len(got)}")


def _count(state: dict, field: str, limit: int, what: str) -> int:
    """``state[field]``, which must be an integer in [0, ``limit``] (``what`` says where the limit comes from)."""
    if not _is_int(value := state[field]) or not 0 <= value <= limit:
        raise StateFieldError(field, f"expected an integer in [0, {limit}] ({what}), got {_describe(value)}")
    return value


def check_trainer_state(state: Any, trainer) -> None:
    """Raise :class:`StateFieldError` naming the first field of ``state`` that ``trainer`` cannot take.

    ``state["params"]`` is not checked here: :func:`autonet.storage.checkpoints.check_checkpoint`,
    which runs first on every resume, has checked its keys, shapes, dtypes and values.

    Parameters
    ----------
    state : a state as :meth:`Trainer.state_dict` returns it (e.g. from a checkpoint)
    trainer : the :class:`~autonet.train.Trainer` that is to load it
    """
    if not isinstance(state, dict):
        raise StateFieldError("state", f"expected a dict, got {_describe(state)}")
    template = trainer.state_dict()
    _same_keys(state, set(template) - _OPTIONAL, template, "")

    iteration = _count(state, "iteration", trainer.config.num_iters, "num_iters")
    n = len(trainer.y_train)
    perm = state["perm"]
    if not isinstance(perm, np.ndarray) or perm.ndim != 1 or perm.dtype.kind not in "iu" or len(perm) not in (0, n):
        raise StateFieldError("perm", f"expected a 1-D integer array of length {n} (or 0), got {_describe(perm)}")
    if len(perm) and not np.array_equal(np.sort(perm), np.arange(n)):
        raise StateFieldError(
            "perm",
            f"not a permutation of the {n} training rows (values from {perm.min()} "
            f"to {perm.max()}, {n - len(np.unique(perm))} repeated)",
        )
    _count(state, "pos", len(perm), "the length of perm")
    if "train_seconds" in state:
        t = state["train_seconds"]
        if not _is_finite(t) or t < 0:
            raise StateFieldError("train_seconds", f"expected a finite number >= 0, got {_describe(t)}")
    if "learning_rate" in state:
        _like(state["learning_rate"], 0.0, "learning_rate")
        _check_in_range(state["learning_rate"], "learning_rate", "learning_rate", iteration, _hyperparameter_rules())
    if "config" in state and not isinstance(state["config"], dict):
        raise StateFieldError("config", f"expected a dict, got {_describe(state['config'])}")
    _check_rng(state["rng"], trainer)
    _check_history(state["history"], template["history"], iteration, trainer.X_val is not None)
    # params: checked by autonet.storage.checkpoints.check_checkpoint; bn_state, and the moving average
    # (ema_decay) and early stopping's best epoch when on: the shapes of the net, else empty
    for k in ("bn_state", "ema", "best"):
        if k in state:
            _like(state[k], template[k], k)
    if state.get("best") and not 0 <= state["best"]["epoch"] <= len(state["history"]["val_acc"]):
        raise StateFieldError("best/epoch", f"must be an epoch already trained, got {state['best']['epoch']}")
    _check_opt_state(state["opt_state"], trainer, iteration)
