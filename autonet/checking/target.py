"""Find, import and call the code under check, containing whatever it does.

A target is named ``path/to/file.py:Name`` or ``package.module:Name``.
Importing it runs the user's code: every import and every call goes through
:func:`guarded`, which turns any exception (``SystemExit`` included) into a
one-line :class:`UserCodeError` naming the student's file and line, sends the
code's prints to stderr and silences floating-point warnings (an overflow is
*measured* by the checks, not warned about). ``autonet check`` runs all of
this in a separate, bounded process (:mod:`autonet.checking.sandbox`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from autonet.errors import AutonetError

DEFAULT_CLASS = "TwoLayerNet"
PARAM_NAMES = ("W1", "b1", "W2", "b2")


class TargetError(AutonetError, ValueError):
    """The target cannot be found, imported, or does not have the API a check needs (CLI exit 2).

    ``events``: what stopped the checked code's process, when it ran in one (see ``Report.events``).
    """

    events: list[str] = []


class UserCodeError(Exception):
    """The checked code raised, exited or ran out of time; ``str()`` is one line."""


REAL_INTERRUPTS = True  # False in the checking process, where a KeyboardInterrupt is the student's own


def one_line(e: BaseException) -> str:
    """``"TypeError: message (file.py, line 12)"``: first line only, at most 300 characters, with the
    innermost line of the traceback outside autonet, NumPy and the standard library (the student's)."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = f"{type(e).__name__}: {text}" if text else type(e).__name__
    where = _student_line(e)
    text = text if len(text) <= 240 else text[:237] + "..."
    return f"{text} ({where})" if where and where not in text else text


def _student_line(e: BaseException) -> str:
    roots: list[str | Path] = [sys.prefix, sys.base_prefix, Path(__file__).parents[1], Path(np.__file__).parent]
    ours = tuple(str(Path(p).resolve()) + os.sep for p in roots)
    where = ""
    tb = e.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if not name.startswith("<") and not str(Path(name).resolve()).startswith(ours):
            where = f"{Path(name).name}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return where


def guarded(call: Callable[[], Any], what: str, seed: int | None = None) -> Any:
    """``call()`` with the user's exceptions, prints, warnings and global RNG contained.

    NumPy's global random state is seeded with ``seed`` (if given) for the call and
    restored afterwards, so checking code that draws from it does not change what the caller draws next. Time, memory and
    output are bounded by the process the code runs in (:mod:`autonet.checking.sandbox`).

    Raises
    ------
    UserCodeError
        ``"<what> raised TypeError: ... (file.py, line 12)"`` or ``"<what> called exit(1)"``.
    """
    state = np.random.get_state()
    if seed is not None:
        np.random.seed(seed)
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return call()
    except KeyboardInterrupt as e:
        if REAL_INTERRUPTS:
            raise
        raise UserCodeError(f"{what} raised {one_line(e)}") from None
    except SystemExit as e:
        raise UserCodeError(f"{what} called exit({e.code})") from None
    except BaseException as e:  # the user's code may raise anything
        raise UserCodeError(f"{what} raised {one_line(e)}") from None
    finally:
        np.random.set_state(state)


def _package_root(path: Path) -> tuple[Path, str]:
    """The folder to put on ``sys.path`` and the dotted module name of ``path``.

    A file inside packages (folders with ``__init__.py``, like the exercise's
    ``cs231n/classifiers/neural_net.py``) is imported as ``cs231n.classifiers.neural_net``,
    so its relative imports work.
    """
    parts = [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


def import_module(spec: str):
    """Import ``path/to/file.py`` or ``package.module``; :class:`TargetError` (one line) if it fails."""
    root, name = None, spec
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec).expanduser()
        if path.is_dir():
            raise TargetError(f"{spec} is a folder: name a .py file in it (FILE.py or FILE.py:Name)")
        if not path.is_file():
            raise TargetError(f"no such file: {spec}")
        root, name = _package_root(path.resolve())
        sys.path.insert(0, str(root))
        if name in sys.modules and getattr(sys.modules[name], "__file__", None) != str(path.resolve()):
            del sys.modules[name]  # a module of the same name from elsewhere
    elif not all(part.isidentifier() for part in spec.split(".")):
        raise TargetError(f"{spec!r} is neither a .py file nor a dotted module name")
    try:
        return guarded(lambda: importlib.import_module(name), f"importing {spec}")
    except UserCodeError as e:
        raise TargetError(str(e)) from None
    finally:
        if root is not None:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(root))


def split_spec(spec: str) -> tuple[str, str | None]:
    """``"a/b.py:Net"`` -> ``("a/b.py", "Net")``; ``"a/b.py"`` -> ``("a/b.py", None)``.

    The last colon splits, so a Windows drive letter (``C:\\x.py:Net``) survives.
    """
    module, sep, name = spec.rpartition(":")
    if not sep or not name.isidentifier() or not module:
        return spec, None
    return module, name


class TwoLayerTarget:
    """Common interface over the two shapes of API a two-layer check accepts; itself the function with the
    backend contract ``loss_and_grads(params, X, y, reg) -> (loss, grads)`` (:class:`ClassTarget`: a class).

    ``loss_and_grads(params, X, y, reg)``, and where ``has_scores``, ``has_predict``, ``has_init``,
    ``has_train`` say so ``scores(params, X)``, ``predict(params, X)``, ``init(D, H, C, std, seed)`` (the
    parameters a fresh object draws) and ``train(X, y, options)`` (a function has none of these). Each call
    hands the target fresh copies; :attr:`mutated` lists what the last call changed in place.
    """

    kind = "function"
    has_scores = False
    has_predict = False
    has_init = False
    has_train = False

    def __init__(self, obj: Any, label: str) -> None:
        self.obj = obj
        self.label = label
        self.mutated: list[str] = []

    # Provided by the subclasses that have them (see has_scores, has_predict, has_init, has_train).
    scores: Callable[[dict, np.ndarray], np.ndarray]  # (params, X) -> scores
    predict: Callable[[dict, np.ndarray], np.ndarray]  # (params, X) -> labels
    init: Callable[..., dict]  # (D, H, C, std, seed) -> params
    train: Callable[[np.ndarray, np.ndarray, dict], dict]  # (X, y, options) -> params

    def _guard(self, call, what, seed=None):
        return guarded(call, f"{self.label.rpartition(':')[2] or self.label}.{what}", seed)

    def _record_mutation(self, before: dict, after: dict, X0, X) -> None:
        self.mutated = [f"params[{k!r}]" for k in before if k in after and not _same(before[k], after[k])]
        if not _same(X0, X):
            self.mutated.insert(0, "X")

    def loss_fn(self, params: dict, X: np.ndarray, y: np.ndarray, reg: float) -> Callable[[], float]:
        return lambda: float(
            self._guard(lambda: self.obj(params, X.copy(), y.copy(), reg), "loss_and_grads(params, X, y, reg)")[0]
        )

    def loss_and_grads(self, params: dict, X: np.ndarray, y: np.ndarray, reg: float):
        p, X1, y1 = ({k: v.copy() for k, v in params.items()}, X.copy(), y.copy())
        out = self._guard(lambda: self.obj(p, X1, y1, reg), "loss_and_grads(params, X, y, reg)")
        self._record_mutation(params, p, X, X1)
        return check_loss_return(out, "loss_and_grads(params, X, y, reg)")


class ClassTarget(TwoLayerTarget):
    """A class with the exercise's API: ``Cls(D, H, C, std)``, ``.params``, ``.loss(X, y=None, reg=0.0)``."""

    kind = "class"
    has_scores = True
    has_init = True

    def __init__(self, obj: Any, label: str) -> None:
        super().__init__(obj, label)
        self.has_predict = callable(getattr(obj, "predict", None))
        self.has_train = callable(getattr(obj, "train", None))

    def new(self, D: int, H: int, C: int, std: float = 0.1, seed: int | None = None):
        """A fresh instance (drawing from NumPy's global state, seeded with ``seed`` if given, restored afterwards)."""
        net = self._guard(lambda: self.obj(D, H, C, std), f"__init__({D}, {H}, {C}, std={std})", seed)
        params = getattr(net, "params", None)
        if not isinstance(params, dict):
            raise TargetError(f"{self.label}: an instance has no dict attribute 'params' (got {type(params).__name__})")
        if missing := [k for k in PARAM_NAMES if k not in params]:
            raise TargetError(f"{self.label}: params has no {', '.join(missing)} (keys: {sorted(params)})")
        for k, shape in {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}.items():
            if (got := np.shape(params[k])) != shape:
                raise TargetError(f"{self.label}({D}, {H}, {C}): params[{k!r}] has shape {got}, expected {shape}")
        return net

    def init(self, D: int, H: int, C: int, std: float, seed: int) -> dict:
        """The parameters ``np.random.seed(seed); Cls(D, H, C, std)`` draws (global state restored)."""
        net = self.new(D, H, C, std, seed)
        return {k: np.array(net.params[k], dtype=np.float64, copy=True) for k in PARAM_NAMES}

    def train(self, X: np.ndarray, y: np.ndarray, options: dict) -> dict:
        """The weights after ``np.random.seed(0)``, ``Cls(D, 10, C, std=0.1)``, ``net.train(X, y, X, y, **options)``
        (the exercise's toy run; NumPy's global state restored afterwards)."""
        net = self.new(X.shape[1], 10, int(y.max()) + 1, 1e-1, seed=0)
        self._guard(lambda: net.train(X, y, X, y, **options), "train(X, y, X_val, y_val, ...)", seed=0)
        return {k: np.asarray(net.params[k]) for k in PARAM_NAMES}

    def _loaded(self, params: dict):
        """A fresh instance holding ``params`` themselves (not copies)."""
        D, H = params["W1"].shape
        net = self.new(D, H, params["W2"].shape[1])
        net.params.update({k: params[k] for k in PARAM_NAMES})
        return net

    def _on_net(self, params: dict, X: np.ndarray, method: str, what: str, **kwargs):
        """``net.<method>(X, **kwargs)`` on a fresh instance holding copies of ``params`` and ``X``."""
        net, X1 = self._loaded({k: v.copy() for k, v in params.items()}), X.copy()
        out = self._guard(lambda: getattr(net, method)(X1, **kwargs), what)
        self._record_mutation(params, net.params, X, X1)
        return out

    def scores(self, params: dict, X: np.ndarray) -> np.ndarray:
        out = self._on_net(params, X, "loss", "loss(X)")
        if not (isinstance(out, np.ndarray) and out.ndim == 2):
            raise TargetError(f"{self.label}.loss(X) must return the scores, an (N, C) array; got {_describe(out)}")
        return np.asarray(out)

    def loss_and_grads(self, params: dict, X: np.ndarray, y: np.ndarray, reg: float):
        out = self._on_net(params, X, "loss", "loss(X, y, reg)", y=y.copy(), reg=reg)
        return check_loss_return(out, f"{self.label}.loss(X, y, reg)")

    def loss_fn(self, params: dict, X: np.ndarray, y: np.ndarray, reg: float) -> Callable[[], float]:
        """A no-argument loss reading ``params`` live (for finite differences, which perturb them)."""
        net = self._loaded(params)
        return lambda: float(self._guard(lambda: net.loss(X.copy(), y=y.copy(), reg=reg), "loss(X, y, reg)")[0])

    def predict(self, params: dict, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._on_net(params, X, "predict", "predict(X)"))


def _same(a, b) -> bool:
    try:
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:
        return a is b


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of {len(x)}"
    return type(x).__name__


def check_loss_return(out: Any, what: str) -> tuple[float, dict]:
    """``(loss, grads)`` as the contract says, or :class:`TargetError` saying what came back instead."""
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TargetError(f"{what} must return (loss, grads); got {_describe(out)}")
    loss, grads = out
    if not isinstance(grads, dict):
        raise TargetError(f"{what} must return (loss, grads) with grads a dict; got grads as {_describe(grads)}")
    if missing := [k for k in PARAM_NAMES if k not in grads]:
        raise TargetError(f"{what}: grads has no {', '.join(missing)} (keys: {sorted(grads)})")
    try:
        loss = float(np.asarray(loss).reshape(()))
    except (TypeError, ValueError):
        raise TargetError(f"{what}: loss must be a number; got {_describe(loss)}") from None
    return loss, {k: np.asarray(grads[k]) for k in PARAM_NAMES}  # dtype kept: a float32 result is diagnosed


def two_layer_target(obj: Any, label: str | None = None) -> TwoLayerTarget:
    """Wrap a class (exercise API) or a function (backend contract); :class:`TargetError` if it is neither."""
    label = label or getattr(obj, "__qualname__", None) or repr(obj)
    if inspect.isclass(obj):
        if not callable(getattr(obj, "loss", None)):
            raise TargetError(f"{label} is a class without a loss(X, y=None, reg=0.0) method")
        try:
            inspect.signature(obj).bind(4, 10, 3, 0.1)
        except (TypeError, ValueError):
            raise TargetError(
                f"{label}(input_size, hidden_size, output_size, std) does not accept four arguments"
            ) from None
        return ClassTarget(obj, label)
    if callable(obj):
        try:
            inspect.signature(obj).bind({}, None, None, 0.0)
        except TypeError:
            raise TargetError(f"{label} does not accept (params, X, y, reg)") from None
        except ValueError:
            pass  # builtins without a signature: try calling
        return TwoLayerTarget(obj, label)
    raise TargetError(f"{label} is a {type(obj).__name__}, not a class or a function")
