"""The update rules of :mod:`autonet.optim`, applied in place, block by block, without temporaries.

A rule of :mod:`autonet.optim` is a handful of whole-array numpy expressions
(Adam: about a dozen), and each one streams the parameter, its gradient and
its state through memory once and allocates a full-size temporary. For the
9 M parameters of ``--preset best`` that is most of a step. :class:`FusedUpdate`
runs *the same float operations in the same order* -- so the result is equal
bit for bit, which ``tests/test_fused_update.py`` checks for every rule -- but
over blocks of :data:`BLOCK_BYTES`, with every temporary in one of two
preallocated block buffers: a block of ``w``, ``dw`` and the state is read
from memory once and stays in cache while all the passes run over it.

The per-parameter ``config`` dicts are the rules' own (hyperparameters,
``learning_rate``, state arrays ``velocity``/``cache``/``m``/``v`` and the
step count ``t``), created and read exactly as the rules do, so a trainer can
switch between the rules and this class at any step, and checkpoints hold the
same state either way.
"""

from __future__ import annotations

import math

import numpy as np

from autonet.optim import DEFAULTS, UPDATE_RULES, _state

BLOCK_BYTES = 1 << 18  # 256 KiB of each array per block: w, dw, state and two buffers fit in a 2 MiB L2


class FusedUpdate:
    """Apply update rule ``name`` to every parameter in place (``rule(w, dw, config)`` for each).

    Parameters
    ----------
    name : a key of :data:`autonet.optim.UPDATE_RULES`
    """

    def __init__(self, name: str) -> None:
        if not self.supports(name):
            raise ValueError(f"no fused form of update rule {name!r}")
        self.name = name
        self._kernel = getattr(self, f"_{name}")
        self._buffers: dict[np.dtype, tuple[np.ndarray, np.ndarray]] = {}

    @classmethod
    def supports(cls, name: str) -> bool:
        """True when rule ``name`` of :data:`autonet.optim.UPDATE_RULES` has a fused form here."""
        return name in UPDATE_RULES and callable(getattr(cls, f"_{name}", None))

    def __call__(self, params: dict, grads: dict, configs: dict) -> None:
        """Update every ``params[k]`` in place from ``grads[k]`` and ``configs[k]`` (as the rule would)."""
        for key, w in params.items():
            dw, config = grads[key], configs[key]
            if w.dtype != dw.dtype or w.shape != dw.shape or not (w.flags.c_contiguous and dw.flags.c_contiguous):
                UPDATE_RULES[self.name](w, dw, config)  # the rule itself handles what blocks cannot
                continue
            self._kernel(w, dw, config)

    # ----- blocks -----

    def _blocks(self, *arrays: np.ndarray):
        """Yield ``(block of each array..., t1, t2)`` over the flattened arrays (all the same size)."""
        flat = [a.reshape(-1) for a in arrays]
        dtype = flat[0].dtype
        step = max(1, BLOCK_BYTES // dtype.itemsize)
        if dtype not in self._buffers:
            self._buffers[dtype] = (np.empty(step, dtype), np.empty(step, dtype))
        b1, b2 = self._buffers[dtype]
        n = flat[0].size
        for i in range(0, n, step):
            j = min(i + step, n)
            yield (*(a[i:j] for a in flat), b1[: j - i], b2[: j - i])

    # ----- the rules, operation for operation as in autonet.optim -----

    def _sgd(self, w, dw, config) -> None:
        lr = config["learning_rate"]
        for w_, dw_, t1, _ in self._blocks(w, dw):
            np.multiply(lr, dw_, out=t1)  # w -= lr * dw
            np.subtract(w_, t1, out=w_)

    def _momentum(self, w, dw, config) -> None:
        mu = config.setdefault("momentum", DEFAULTS["momentum"])
        lr = config["learning_rate"]
        v = _state(config, "velocity", w)
        for w_, dw_, v_, t1, _ in self._blocks(w, dw, v):
            np.multiply(v_, mu, out=v_)  # v *= mu
            np.multiply(lr, dw_, out=t1)  # v -= lr * dw
            np.subtract(v_, t1, out=v_)
            np.add(w_, v_, out=w_)  # w += v

    def _nesterov(self, w, dw, config) -> None:
        mu = config.setdefault("momentum", DEFAULTS["momentum"])
        lr = config["learning_rate"]
        v = _state(config, "velocity", w)
        for w_, dw_, v_, t1, _ in self._blocks(w, dw, v):
            np.multiply(v_, mu, out=v_)  # v *= mu
            np.multiply(lr, dw_, out=t1)  # v -= lr * dw
            np.subtract(v_, t1, out=v_)
            np.multiply(mu, v_, out=t1)  # w += mu * v
            np.add(w_, t1, out=w_)
            np.multiply(lr, dw_, out=t1)  # w -= lr * dw
            np.subtract(w_, t1, out=w_)

    def _rmsprop(self, w, dw, config) -> None:
        rho = config.setdefault("decay_rate", DEFAULTS["decay_rate"])
        eps = config.setdefault("epsilon", DEFAULTS["epsilon"])
        lr = config["learning_rate"]
        s = _state(config, "cache", w)
        for w_, dw_, s_, t1, t2 in self._blocks(w, dw, s):
            np.multiply(s_, rho, out=s_)  # s *= rho
            np.multiply(1 - rho, dw_, out=t1)  # s += (1 - rho) * dw * dw
            np.multiply(t1, dw_, out=t1)
            np.add(s_, t1, out=s_)
            np.multiply(lr, dw_, out=t1)  # w -= lr * dw / (sqrt(s) + eps)
            np.sqrt(s_, out=t2)
            np.add(t2, eps, out=t2)
            np.divide(t1, t2, out=t1)
            np.subtract(w_, t1, out=w_)

    def _adam(self, w, dw, config, decay: float = 0.0) -> None:
        b1 = config.setdefault("beta1", DEFAULTS["beta1"])
        b2 = config.setdefault("beta2", DEFAULTS["beta2"])
        eps = config.setdefault("epsilon", DEFAULTS["epsilon"])
        m, v = _state(config, "m", w), _state(config, "v", w)
        config["t"] = t = config.get("t", 0) + 1
        step = float(config["learning_rate"]) / (1 - b1**t)
        unbias = 1 / math.sqrt(1 - b2**t)
        for w_, dw_, m_, v_, t1, t2 in self._blocks(w, dw, m, v):
            if decay:
                np.multiply(decay, w_, out=t1)  # w -= (lr * weight_decay) * w
                np.subtract(w_, t1, out=w_)
            np.multiply(m_, b1, out=m_)  # m = b1 * m + (1 - b1) * dw
            np.multiply(1 - b1, dw_, out=t1)
            np.add(m_, t1, out=m_)
            np.multiply(v_, b2, out=v_)  # v = b2 * v + (1 - b2) * dw * dw
            np.multiply(1 - b2, dw_, out=t1)
            np.multiply(t1, dw_, out=t1)
            np.add(v_, t1, out=v_)
            np.multiply(step, m_, out=t1)  # w -= step * m / (sqrt(v) * unbias + eps)
            np.sqrt(v_, out=t2)
            np.multiply(t2, unbias, out=t2)
            np.add(t2, eps, out=t2)
            np.divide(t1, t2, out=t1)
            np.subtract(w_, t1, out=w_)

    def _adamw(self, w, dw, config) -> None:
        wd = config.setdefault("weight_decay", DEFAULTS["weight_decay"])
        self._adam(w, dw, config, decay=config["learning_rate"] * wd)
