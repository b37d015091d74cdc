"""The update rules of :mod:`autonet.optim`, applied in place, block by block, without temporaries.

A rule of :mod:`autonet.optim` is a handful of whole-array numpy expressions
(Adam: about a dozen), and each one streams the parameter, its gradient and
its state through memory once and allocates a full-size temporary. For the
9 M parameters of ``--preset best`` that was a third of a step. :class:`FusedUpdate`
runs *the same float operations in the same order* -- so the result is equal
bit for bit, which ``tests/test_fused_update.py`` checks for every rule -- but
over blocks of :data:`BLOCK_BYTES`, with every temporary in one of a few
preallocated block buffers: a block of ``w``, ``dw`` and the state is read
from memory once and stays in cache while all the passes run over it.

The per-parameter ``config`` dicts are the rules' own (hyperparameters,
``learning_rate``, state arrays ``velocity``/``cache``/``m``/``v`` and the
step count ``t``), created and read exactly as the rules do, so a trainer can
switch between the rules and this class at any step, and checkpoints hold the
same state either way.

The blocks are shared out between threads (as many as numpy's BLAS uses,
read once with threadpoolctl): numpy releases the GIL inside each ufunc, and
the update is memory- and ufunc-bound, so two cores halve its time. Which
thread updates a block does not change a single bit of it.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from autonet.optim import DEFAULTS, UPDATE_RULES, _state

BLOCK_BYTES = 1 << 18  # 256 KiB of each array per block: w, dw, state and three buffers fit in a 2 MiB L2
# fewer blocks than this are updated by the calling thread: handing a few small blocks (a net's biases) to
# another thread costs more than updating them (tens of microseconds of wake-up against a few)
MIN_BLOCKS_TO_SHARE = 4


class FusedUpdate:
    """Apply update rule ``name`` to every parameter in place (``rule(w, dw, config)`` for each).

    Parameters
    ----------
    name : a key of :data:`autonet.optim.UPDATE_RULES`
    threads : threads sharing the blocks; None: numpy's BLAS thread count at the first call
    """

    def __init__(self, name: str, threads: int | None = None) -> None:
        if not self.supports(name):
            raise ValueError(f"no fused form of update rule {name!r}")
        self.name = name
        self._prepare = getattr(self, f"_{name}")
        self._block = getattr(self, f"_{name}_block")
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._buffers: dict[tuple, tuple[np.ndarray, ...]] = {}

    def __getstate__(self) -> dict:
        """Picklable (a trainer may be): without the thread pool and the scratch buffers."""
        return {**self.__dict__, "_pool": None, "_buffers": {}, "_prepare": None, "_block": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._prepare = getattr(self, f"_{self.name}")
        self._block = getattr(self, f"_{self.name}_block")

    @classmethod
    def supports(cls, name: str) -> bool:
        """True when rule ``name`` of :data:`autonet.optim.UPDATE_RULES` has a fused form here."""
        return name in UPDATE_RULES and callable(getattr(cls, f"_{name}_block", None))

    def __call__(self, params: dict, grads: dict, configs: dict, l2: dict | None = None) -> None:
        """Update every ``params[k]`` in place from ``grads[k]`` and ``configs[k]`` (as the rule would).

        ``l2``: optional ``{key: reg}``; the rule then gets ``dw + reg * w``
        (computed block by block into a scratch buffer; ``grads`` are never
        modified), the gradient of ``0.5 * reg * ||w||^2`` added where the
        update reads it anyway.
        """
        jobs = []
        for key, w in params.items():
            dw, config = grads[key], configs[key]
            reg = l2.get(key, 0.0) if l2 else 0.0
            if w.dtype != dw.dtype or w.shape != dw.shape or not (w.flags.c_contiguous and dw.flags.c_contiguous):
                if reg:
                    dw += reg * w
                UPDATE_RULES[self.name](w, dw, config)  # the rule itself handles what blocks cannot
                continue
            states, scalars = self._prepare(w, config)
            jobs.append(((w, dw, *states), scalars, reg))
        blocks = [(arrays, scalars, reg) for whole, scalars, reg in jobs for arrays in _split(whole)]
        threads = self._thread_count()
        if threads < 2 or len(blocks) < MIN_BLOCKS_TO_SHARE:
            self._run(blocks, 0)
            return
        if self._pool is None or self._pool_pid != os.getpid():  # a forked child has none of the threads
            self._pool = ThreadPoolExecutor(max_workers=threads - 1, thread_name_prefix="autonet-update")
            self._pool_pid = os.getpid()
        share = -(-len(blocks) // threads)
        # worker threads start with numpy's default error handling: give them the caller's (the CLI ignores
        # overflow on the way to a divergence, which the trainer then reports once)
        err = dict(np.geterr())
        futures = [self._pool.submit(self._run, blocks[k * share : (k + 1) * share], k, err) for k in range(1, threads)]
        self._run(blocks[:share], 0)
        for f in futures:
            f.result()

    def _thread_count(self) -> int:
        if self.threads is None:
            from threadpoolctl import threadpool_info

            self.threads = max(
                [int(i.get("num_threads") or 1) for i in threadpool_info() if i.get("user_api") == "blas"] or [1]
            )
        return self.threads

    def _run(self, blocks: list, worker: int, err: dict | None = None) -> None:
        """Apply the rule to ``blocks`` with worker ``worker``'s three scratch buffers (under ``np.errstate(**err)``)."""
        if err is not None:
            with np.errstate(**err):
                self._run(blocks, worker)
            return
        for (w, dw, *states), scalars, reg in blocks:
            key = (worker, w.dtype)
            if key not in self._buffers:
                self._buffers[key] = tuple(np.empty(_block_size(w.dtype), w.dtype) for _ in range(3))
            t1, t2, g = (b[: w.size] for b in self._buffers[key])
            if reg:  # g = dw + reg * w, as autonet.manual.network adds it; dw itself is only read (never written back)
                np.multiply(reg, w, out=g)
                np.add(dw, g, out=g)
                dw = g
            self._block(w, dw, *states, t1, t2, *scalars)

    # ----- the rules, operation for operation as in autonet.optim -----
    # _<rule>(w, config) reads/creates the config entries as the rule does and returns
    # (state arrays, scalars); _<rule>_block(w, dw, *states, t1, t2, *scalars) updates one block.

    def _sgd(self, w, config):
        return (), (config["learning_rate"],)

    @staticmethod
    def _sgd_block(w, dw, t1, t2, lr) -> None:
        np.multiply(lr, dw, out=t1)  # w -= lr * dw
        np.subtract(w, t1, out=w)

    def _momentum(self, w, config):
        mu = config.setdefault("momentum", DEFAULTS["momentum"])
        return (_state(config, "velocity", w),), (mu, config["learning_rate"])

    @staticmethod
    def _momentum_block(w, dw, v, t1, t2, mu, lr) -> None:
        np.multiply(v, mu, out=v)  # v *= mu
        np.multiply(lr, dw, out=t1)  # v -= lr * dw
        np.subtract(v, t1, out=v)
        np.add(w, v, out=w)  # w += v

    _nesterov = _momentum

    @staticmethod
    def _nesterov_block(w, dw, v, t1, t2, mu, lr) -> None:
        np.multiply(v, mu, out=v)  # v *= mu
        np.multiply(lr, dw, out=t1)  # v -= lr * dw
        np.subtract(v, t1, out=v)
        np.multiply(mu, v, out=t1)  # w += mu * v
        np.add(w, t1, out=w)
        np.multiply(lr, dw, out=t1)  # w -= lr * dw
        np.subtract(w, t1, out=w)

    def _rmsprop(self, w, config):
        rho = config.setdefault("decay_rate", DEFAULTS["decay_rate"])
        eps = config.setdefault("epsilon", DEFAULTS["epsilon"])
        return (_state(config, "cache", w),), (rho, eps, config["learning_rate"])

    @staticmethod
    def _rmsprop_block(w, dw, s, t1, t2, rho, eps, lr) -> None:
        np.multiply(s, rho, out=s)  # s *= rho
        np.multiply(1 - rho, dw, out=t1)  # s += (1 - rho) * dw * dw
        np.multiply(t1, dw, out=t1)
        np.add(s, t1, out=s)
        np.multiply(lr, dw, out=t1)  # w -= lr * dw / (sqrt(s) + eps)
        np.sqrt(s, out=t2)
        np.add(t2, eps, out=t2)
        np.divide(t1, t2, out=t1)
        np.subtract(w, t1, out=w)

    def _adam(self, w, config, decay: float = 0.0):
        b1 = config.setdefault("beta1", DEFAULTS["beta1"])
        b2 = config.setdefault("beta2", DEFAULTS["beta2"])
        eps = config.setdefault("epsilon", DEFAULTS["epsilon"])
        m, v = _state(config, "m", w), _state(config, "v", w)
        config["t"] = t = config.get("t", 0) + 1
        step = float(config["learning_rate"]) / (1 - b1**t)
        unbias = 1 / math.sqrt(1 - b2**t)
        return (m, v), (decay, b1, b2, eps, step, unbias)

    @staticmethod
    def _adam_block(w, dw, m, v, t1, t2, decay, b1, b2, eps, step, unbias) -> None:
        if decay:
            np.multiply(decay, w, out=t1)  # w -= (lr * weight_decay) * w
            np.subtract(w, t1, out=w)
        np.multiply(m, b1, out=m)  # m = b1 * m + (1 - b1) * dw
        np.multiply(1 - b1, dw, out=t1)
        np.add(m, t1, out=m)
        np.multiply(v, b2, out=v)  # v = b2 * v + (1 - b2) * dw * dw
        np.multiply(1 - b2, dw, out=t1)
        np.multiply(t1, dw, out=t1)
        np.add(v, t1, out=v)
        np.multiply(step, m, out=t1)  # w -= step * m / (sqrt(v) * unbias + eps)
        np.sqrt(v, out=t2)
        np.multiply(t2, unbias, out=t2)
        np.add(t2, eps, out=t2)
        np.divide(t1, t2, out=t1)
        np.subtract(w, t1, out=w)

    def _adamw(self, w, config):
        wd = config.setdefault("weight_decay", DEFAULTS["weight_decay"])
        return self._adam(w, config, decay=config["learning_rate"] * wd)

    _adamw_block = _adam_block


def _block_size(dtype: np.dtype) -> int:
    return max(1, BLOCK_BYTES // np.dtype(dtype).itemsize)


def _split(arrays: tuple) -> list[tuple]:
    """The flattened ``arrays`` (all the same size) cut into matching blocks of :data:`BLOCK_BYTES`."""
    flat = [a.reshape(-1) for a in arrays]
    n, step = flat[0].size, _block_size(flat[0].dtype)
    return [tuple(a[i : i + step] for a in flat) for i in range(0, n, step)]
