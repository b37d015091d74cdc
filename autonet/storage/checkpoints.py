"""Checkpoints: a trainer's whole state in one ``.npz`` file, written atomically.

A checkpoint stores any nested structure of dicts (str keys), lists, tuples,
numpy arrays, numpy scalars and JSON scalars (None, bool, int, float, str) --
whatever :meth:`autonet.train.Trainer.state_dict` returns, with no fixed key
list, so state added to the trainer later is saved without touching this
module. Arrays go into the archive as ``a0, a1, ...``; everything else goes
into a UTF-8 JSON ``header`` that points at them::

    header = {"format": "autonet-checkpoint", "version": 1,
              "tree": {"state": ..., "meta": ...}}
    # an array leaf in the tree: {"__ndarray__": "a3", "kind": "array" | "scalar" | "list"}

Python floats survive exactly (JSON writes ``repr``, the shortest string that
reads back to the same double; long float lists are stored as float64 arrays).
The file is written with :func:`autonet.storage.files.atomic_write` (temporary file,
fsync, rename), so a crash at any moment leaves the previous checkpoint
intact, and read with ``allow_pickle=False``, so a crafted file cannot run
code. ``meta`` describes what the state belongs to (config, data); on resume
:func:`check_checkpoint` compares it, and the parameter shapes, with the run
being resumed and raises :class:`~autonet.errors.ModelFileError` naming the
first mismatch.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from autonet.errors import ModelFileError
from autonet.net import layer_sizes
from autonet.storage.files import atomic_write
from autonet.storage.safe_npz import read_npz
from autonet.storage.trainer_state import StateFieldError, check_trainer_state

FORMAT = "autonet-checkpoint"
VERSION = 1
CHECKPOINT_NAME = "checkpoint.npz"

_ARRAY = "__ndarray__"
_MIN_LIST_AS_ARRAY = 16  # float lists at least this long are stored as one float64 array
MAX_CHECKPOINT_BYTES = 8 << 30  # without a trainer to size it (load_checkpoint called directly)
MAX_HEADER_BYTES = 64 << 20


# ----- structure <-> (JSON tree, arrays) -----


def _encode(obj: Any, arrays: dict, where: str) -> Any:
    """JSON-able copy of ``obj`` with every array replaced by a reference into ``arrays``."""
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject:
            raise TypeError(f"checkpoint: {where or 'value'} is an object array; only plain arrays can be stored")
        arrays[key := f"a{len(arrays)}"] = arr
        return {_ARRAY: key, "kind": "scalar" if isinstance(obj, np.generic) else "array"}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str) or k == _ARRAY:
                raise TypeError(f"checkpoint: key {k!r} at {where or 'top level'} must be a str other than {_ARRAY!r}")
            out[k] = _encode(v, arrays, f"{where}/{k}")
        return out
    if isinstance(obj, (list, tuple)):
        if len(obj) >= _MIN_LIST_AS_ARRAY and all(type(v) is float for v in obj):
            arrays[key := f"a{len(arrays)}"] = np.asarray(obj, dtype=np.float64)
            return {_ARRAY: key, "kind": "list"}
        return [_encode(v, arrays, f"{where}/{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store {type(obj).__name__} at {where or 'top level'}")


_KINDS = {"array": lambda a: a, "scalar": lambda a: a[()], "list": np.ndarray.tolist}


def _decode(obj: Any, arrays: dict) -> Any:
    """Inverse of :func:`_encode` (raises KeyError/TypeError/ValueError on a malformed tree)."""
    if isinstance(obj, dict) and _ARRAY in obj:
        return _KINDS[obj.get("kind", "array")](arrays[obj[_ARRAY]])
    if isinstance(obj, dict):
        return {k: _decode(v, arrays) for k, v in obj.items()}
    return [_decode(v, arrays) for v in obj] if isinstance(obj, list) else obj


# ----- files -----


def _write_arrays(f: IO[bytes], arrays: dict) -> None:
    """The one place bytes are written (tests replace it to simulate a crash mid-write)."""
    np.savez(f, allow_pickle=False, **arrays)


def save_checkpoint(path: str | os.PathLike, state: dict, meta: dict | None = None) -> Path:
    """Write ``state`` (and ``meta``) to ``path`` atomically.

    Parameters
    ----------
    path : target file (conventionally ``RUN_DIR/checkpoint.npz``)
    state : nested dicts/lists of arrays and JSON scalars, e.g. ``trainer.state_dict()``
    meta : JSON-able description of what ``state`` belongs to (compared on resume)

    Raises
    ------
    TypeError
        ``state`` holds something that cannot be stored without pickling.
    """
    arrays: dict[str, np.ndarray] = {}
    tree = _encode({"state": state, "meta": meta or {}}, arrays, "")
    header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}, allow_nan=True)
    arrays["header"] = np.frombuffer(header.encode("utf-8"), dtype=np.uint8)
    return atomic_write(path, lambda f: _write_arrays(f, arrays))


def load_checkpoint(path: str | os.PathLike, max_bytes: int = MAX_CHECKPOINT_BYTES) -> tuple[dict, dict]:
    """Read a checkpoint written by :func:`save_checkpoint`; returns ``(state, meta)``.

    ``max_bytes`` bounds the file and what its arrays inflate to; both are
    checked from the zip directory and the ``.npy`` headers before any array
    is inflated.

    Raises
    ------
    ModelFileError
        The file is missing, not a zip/npz, fails its CRC check (corrupted),
        holds pickled objects, is another format or version, or its header
        does not fit its arrays.
    """
    path = Path(path)

    def check(headers: dict, read) -> None:
        shape, dtype = headers.get("header", ((), None))
        if dtype != np.uint8 or len(shape) != 1:
            raise ModelFileError(f"{path}: not an autonet checkpoint (no header)")
        if shape[0] > MAX_HEADER_BYTES:
            raise ModelFileError(
                f"{path}: checkpoint header of uint8{list(shape)} is larger than {MAX_HEADER_BYTES:,} bytes"
            )

    arrays = read_npz(path, "checkpoint", max_bytes=max_bytes, check_headers=check)
    try:
        header = json.loads(arrays.pop("header").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ModelFileError(f"{path}: corrupted checkpoint header ({e})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(
            f"{path}: not an autonet checkpoint (format {header.get('format') if isinstance(header, dict) else None!r})"
        )
    if header.get("version") != VERSION:
        raise ModelFileError(f"{path}: checkpoint format version {header.get('version')!r}, expected {VERSION}")
    try:
        tree = _decode(header["tree"], arrays)
        state, meta = tree["state"], tree["meta"]
    except (KeyError, TypeError, ValueError, IndexError, RecursionError) as e:
        raise ModelFileError(f"{path}: corrupted checkpoint (header does not match its arrays: {e!r})") from None
    if not isinstance(state, dict) or not isinstance(meta, dict):
        raise ModelFileError(f"{path}: corrupted checkpoint (state and meta must be dicts)")
    return state, meta


# ----- does a checkpoint fit the run being resumed? -----


def _json_normal(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, ...)."""
    return json.loads(json.dumps(obj, allow_nan=True, default=str))


def _differences(saved: Any, wanted: Any, prefix: str) -> list[str]:
    """Human-readable leaf differences between two JSON-like values."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        out = []
        for k in sorted(set(saved) | set(wanted)):
            if k not in saved:
                out.append(f"{prefix}.{k} is missing in the checkpoint (run has {wanted[k]!r})")
            elif k not in wanted:
                out.append(f"{prefix}.{k}={saved[k]!r} in the checkpoint is unknown to the run")
            else:
                out += _differences(saved[k], wanted[k], f"{prefix}.{k}")
        return out
    return [] if saved == wanted else [f"{prefix}={saved!r} in the checkpoint, {wanted!r} in the run"]


def _sizes(params: dict) -> str:
    try:
        return f"layer sizes {layer_sizes(params)}"
    except Exception:
        return "parameters " + ", ".join(f"{k}{tuple(np.shape(v))}" for k, v in params.items())


def check_checkpoint(path: str | os.PathLike, state: dict, meta: dict, expected_meta: dict, params: dict) -> None:
    """Raise :class:`ModelFileError` unless the checkpoint fits the run being resumed.

    Parameters
    ----------
    path : the checkpoint (named in messages)
    state, meta : as returned by :func:`load_checkpoint`
    expected_meta : the meta the resumed run would write (every key must match)
    params : freshly initialised parameters of the resumed run (keys, shapes, dtype)
    """
    for key, wanted in _json_normal(expected_meta).items():
        if diffs := _differences(meta.get(key), wanted, key):
            raise ModelFileError(f"{path}: checkpoint does not match this run: {'; '.join(diffs[:3])}")
    saved = state.get("params")
    if not isinstance(saved, dict) or not all(isinstance(v, np.ndarray) for v in saved.values()):
        raise ModelFileError(f"{path}: corrupted checkpoint (no parameter arrays)")
    if set(saved) != set(params) or any(saved[k].shape != params[k].shape for k in params):
        theirs, ours = _sizes(saved), _sizes(params)
        if theirs == ours:  # the same layer sizes, a parameter of another shape (a bias): name it
            k = next(k for k in sorted(params) if k not in saved or saved[k].shape != params[k].shape)
            shape = tuple(saved[k].shape) if k in saved else "missing"
            theirs, ours = f"{k} of shape {shape}", f"{k} of shape {tuple(params[k].shape)}"
        raise ModelFileError(f"{path}: architecture mismatch: the checkpoint holds {theirs}, this run builds {ours}")
    for k, v in saved.items():
        if v.dtype != params[k].dtype:
            raise ModelFileError(f"{path}: checkpoint parameter {k} is {v.dtype}, this run uses {params[k].dtype}")
        if not np.isfinite(v).all():
            raise ModelFileError(f"{path}: checkpoint parameter {k} holds NaN or infinite values (corrupted)")


# ----- the trainer callback -----


def _state_budget(trainer) -> int:
    """The most bytes a checkpoint of ``trainer`` can need: parameters with up to four optimizer arrays
    each and their moving average, the epoch permutation, two float64 histories per iteration, and
    64 MiB for the rest (generator state, JSON header)."""
    params = sum(np.asarray(v).nbytes for v in trainer.params.values())
    return 6 * params + 8 * len(trainer.y_train) + 16 * trainer.config.num_iters + (64 << 20)


class Checkpointer:
    """Trainer callback that saves ``trainer.state_dict()`` to ``path``.

    Saves every ``every`` iterations (0: never periodically) and at the
    ``"end"`` event. A state whose parameters are not all finite is never
    saved, so the file on disk is always the last good state.

    Saving costs time (the best recipe's state is 107 MB), so a periodic save
    is skipped -- deferred to a later multiple of ``every`` -- while the time
    spent saving plus the last save's duration would exceed ``max_overhead``
    of the time since the first event: checkpointing then takes at most that
    fraction of the training time, saving every ``every`` iterations where
    that is cheap and at a fixed time interval (about the last save's duration
    / ``max_overhead``) where it is not. Saves at the end, on an interrupt and
    through :meth:`save` are never skipped.

    Parameters
    ----------
    path : checkpoint file
    every : period in iterations (0: only at the end and on explicit :meth:`save`)
    meta : JSON-able description of the run, stored and checked on :meth:`restore`
    max_overhead : largest fraction of the elapsed time spent on periodic saves (0: no limit)
    """

    def __init__(
        self, path: str | os.PathLike, every: int = 0, meta: dict | None = None, max_overhead: float = 0.02
    ) -> None:
        self.path = Path(path)
        self.every = int(every)
        self.meta = dict(meta or {})
        self.max_overhead = float(max_overhead)
        self.saved_iteration: int | None = None
        self.save_seconds = 0.0  # time spent in save() so far
        self._last_save_seconds = 0.0
        self._started: float | None = None  # time of the first event

    def __call__(self, event: str, trainer) -> None:
        now = time.perf_counter()
        if self._started is None:
            self._started = now
        if event == "end":
            self.save(trainer)
        elif event == "iteration" and self.every and trainer.iteration % self.every == 0:
            budget = self.max_overhead * (now - self._started)
            if not self.max_overhead or self.save_seconds + self._last_save_seconds <= budget:
                self.save(trainer)

    def save(self, trainer) -> bool:
        """Write the trainer's state now; False (nothing written) if a parameter is non-finite."""
        if self.saved_iteration == trainer.iteration and self.path.is_file():
            return True
        if not all(np.isfinite(p).all() for p in trainer.params.values()):
            return False
        start = time.perf_counter()
        save_checkpoint(self.path, trainer.state_dict(), self.meta)
        self._last_save_seconds = time.perf_counter() - start
        self.save_seconds += self._last_save_seconds
        self.saved_iteration = trainer.iteration
        return True

    def restore(self, trainer) -> None:
        """Load :attr:`path`, check it fits ``trainer`` and :attr:`meta`, continue from it.

        Every field of the saved state is checked against what ``trainer``
        itself would save (:func:`~autonet.storage.trainer_state.check_trainer_state`)
        before the trainer takes it; the file may not inflate to more than
        the trainer's state can need.
        """
        state, meta = load_checkpoint(self.path, max_bytes=_state_budget(trainer))
        check_checkpoint(self.path, state, meta, self.meta, trainer.params)
        try:
            check_trainer_state(state, trainer)
        except StateFieldError as e:
            raise ModelFileError(f"{self.path}: checkpoint field {e.field}: {e.problem}") from None
        try:
            trainer.load_state_dict(state)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ModelFileError(
                f"{self.path}: checkpoint state does not fit the trainer ({type(e).__name__}: {e})"
            ) from None
        self.saved_iteration = trainer.iteration

    def describe(self) -> str | None:
        """``"PATH (iteration N)"`` of the last state saved or restored, None if there is none."""
        return None if self.saved_iteration is None else f"{self.path} (iteration {self.saved_iteration})"

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporary files a killed writer left beside :attr:`path`; returns them."""
        stale = list(self.path.parent.glob(f".{self.path.name}.*.tmp"))
        for p in stale:
            p.unlink(missing_ok=True)
        return stale
