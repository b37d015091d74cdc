"""Check an assignment's layer functions, found by name in a module, pair by pair.

The names and signatures are the exercise's (assignment 2's ``layers.py``)::

    affine_forward(x, w, b) -> out, cache        affine_backward(dout, cache) -> dx, dw, db
    relu_forward(x) -> out, cache                relu_backward(dout, cache) -> dx
    softmax_loss(x, y) -> loss, dx
    batchnorm_forward(x, gamma, beta, bn_param) -> out, cache
    batchnorm_backward(dout, cache) -> dx, dgamma, dbeta   (and batchnorm_backward_alt)
    dropout_forward(x, dropout_param) -> out, cache
    dropout_backward(dout, cache) -> dx

``x`` of the affine layer may be (N, d1, ..., dk), flattened to (N, D). Each
forward is held against :mod:`autonet.manual.layers`, each backward against
:mod:`autonet.manual.layers` and against centred finite differences of
``sum(forward(...) * dout)`` (or of the loss). Dropout's mask comes from the
user's own random draw, so it is read off the output (``out / x``) and the
backward is compared with autonet's given that mask; ``p`` is accepted as the
keep probability (later editions) or the drop probability (the 2016 edition),
and the report says which.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from autonet.checking.report import Check, Diagnosis, Report
from autonet.checking.target import UserCodeError, guarded
from autonet.checking.tolerances import Tolerances, fd_error
from autonet.gradcheck import numerical_gradient, rel_error
from autonet.manual import layers as ref

LAYER_NAMES = (
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "dropout_forward",
    "dropout_backward",
)
COLUMNS = ("autonet", "numeric")
FAULTS = {  # signature -> (title, detail): the classic faults, each recognised by the result it computes
    "shape": (
        "affine_backward: {name} has shape {got}, expected {want}",
        "A gradient has its input's shape: dx is reshaped back to x's (N, d1, ..., dk), db sums "
        "over the N rows without keepdims.",
    ),
    "bias-mean": (
        "affine_backward: db is the mean over the rows, not the sum (eqs. (7)/(10))",
        "db = sum_n dout[n]: dout already carries the 1/N of the loss.",
    ),
    "relu-clip": (
        "relu_backward clips the upstream gradient by its sign, max(dout, 0), instead of masking it "
        "by the forward input (the solution write-up's printed (8))",
        "dx = dout * (x > 0): the cache must hold the forward input x.",
    ),
    "missing-1/N": (
        "softmax_loss: dx is N times too large, the 1/N of (5) is missing",
        "The loss is a mean over the N rows: dx = (softmax(x) - MaskMat) / N.",
    ),
    "loss-sum": ("softmax_loss: the loss is summed over the rows, not averaged", None),
    "no-max-shift": (
        "softmax_loss overflows on scores near 1000: no max shift in (4)",
        "Subtract each row's max before exp; softmax ignores a per-row constant.",
    ),
    "bn-constant-stats": (
        "{name}: dx treats the batch mean and variance as constants",
        "Every x[n] also moves mu and var: dx = gamma * inv_std / N * (N * dout - sum_n dout "
        "- xhat * sum_n (dout * xhat)).",
    ),
    "dropout-not-inverted": (
        "dropout_forward is not inverted: kept units are not scaled by 1 / keep probability",
        "Inverted dropout divides by the keep probability in training so that test mode is the identity.",
    ),
}


class LocalLayers:
    """The layer functions of a module in this process (``autonet.testing``); see also
    :class:`autonet.checking.sandbox.RemoteLayers`, the same interface over a separate process."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.functions = layer_functions(module)

    def call(self, name: str, *args):
        return guarded(lambda: getattr(self.module, name)(*args), name)


class _Pair:
    """Collects checks and diagnoses for one forward/backward pair."""

    def __init__(self, layers: Any, tol: Tolerances) -> None:
        self.layers, self.tol, self.functions = layers, tol, layers.functions
        self.checks: list[Check] = []
        self.diagnoses: list[Diagnosis] = []

    def call(self, name: str, *args, n: int | None = None):
        """``name(*args)``: ``n`` values (or one), each a float64 array but a forward's last (its cache).

        Raises UserCodeError when the result has another form.
        """
        out = self.layers.call(name, *args)
        values = [out] if n is None else out
        if n is not None and not (isinstance(out, (tuple, list)) and len(out) == n):
            raise UserCodeError(f"{name} must return {n} values; got {type(out).__name__}")
        numeric = len(values) - 1 if name.endswith("_forward") and n else len(values)
        try:
            values = [np.asarray(v, dtype=np.float64) for v in values[:numeric]] + list(values[numeric:])
        except (TypeError, ValueError):
            raise UserCodeError(f"{name} returned something that is not an array of numbers") from None
        return values[0] if n is None else values

    def compare(self, row: str, column: str, got, want, where=None) -> bool:
        """One check of ``got`` against autonet's ``want`` (column ``autonet``) or centred differences
        (``numeric``), on the entries ``where`` if given; whether it passed."""
        tol = self.tol.rtol if column == "autonet" else self.tol.fd_rtol
        got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
        if got.shape != want.shape:
            self.checks.append(Check(row, column, False, None, f"shape {got.shape}, expected {want.shape}"))
            return False
        if where is not None:
            got, want = got[where], want[where]
        if not np.all(np.isfinite(got)):
            self.checks.append(Check(row, column, False, float("nan"), "not finite"))
            return False
        err = rel_error(got, want) if column == "autonet" else fd_error(got, want, self.tol.atol)
        self.checks.append(Check(row, column, bool(err <= tol), err))
        return err <= tol

    def attempt(self, row: str, name: str, *args, n: int | None = None):
        """:meth:`call` on copies of the array arguments, or None after a failed check in ``row`` when
        the code raised."""
        try:
            return self.call(name, *[a.copy() if isinstance(a, np.ndarray) else a for a in args], n=n)
        except UserCodeError as e:
            self.failed(row, str(e))
            return None

    def forward(self, row: str, name: str, args: tuple, want: np.ndarray):
        """``name(*args)``'s output checked against ``want``; its cache, or None when it raised."""
        if (got := self.attempt(row, name, *args, n=2)) is None:
            return None
        self.compare(row, "autonet", got[0], want)
        return got[1]

    def backward(self, name: str, dout, cache, grads: dict, numeric: list, suffix: str = "", where=None):
        """``name(dout, cache)`` against autonet's ``grads`` (name -> array) and the centred differences
        ``numeric``; per gradient ``(name, got, autonet's, matched autonet)``, or None when it raised."""
        n = len(grads) if len(grads) > 1 else None
        if (got := self.attempt(f"{name} {next(iter(grads))}{suffix}", name, dout, cache, n=n)) is None:
            return None
        out = []
        for (g, want), value, num in zip(grads.items(), [got] if n is None else got, numeric, strict=True):
            ok = self.compare(f"{name} {g}{suffix}", "autonet", value, want, where)
            self.compare(f"{name} {g}{suffix}", "numeric", value, num, where)
            out.append((g, value, want, ok))
        return out

    def failed(self, row: str, message: str) -> None:
        self.checks.append(Check(row, "autonet", False, None, message))

    def diagnose(self, signature: str, when: bool = True, **names) -> None:
        """Report the fault ``signature`` of :data:`FAULTS` (its title formatted with ``names``) ``when`` true."""
        title, detail = FAULTS[signature]
        if when:
            self.diagnoses.append(
                Diagnosis(title.format(**names), signature=signature, detail=[detail] if detail else [])
            )


def _close(got, want) -> bool:
    got = np.asarray(got, dtype=np.float64)
    return got.size == np.size(want) and rel_error(got.reshape(np.shape(want)), want) <= 1e-6


def _numeric(pair: _Pair, f: Callable[[], float], *arrays: np.ndarray) -> list[np.ndarray]:
    """Centred differences of ``f``; NaN (a failed comparison) where the checked code raised."""
    try:
        return [numerical_gradient(f, a, pair.tol.fd_step) for a in arrays]
    except UserCodeError:
        return [np.full(np.shape(a), np.nan) for a in arrays]


def _out_dot(pair: _Pair, name: str, args: tuple, dout: np.ndarray) -> list[np.ndarray]:
    """Centred differences of ``sum(name(*args)[0] * dout)`` with respect to each array in ``args``."""
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    return _numeric(pair, lambda: float(np.sum(pair.call(name, *args, n=2)[0] * dout)), *arrays)


def _affine(pair: _Pair, rng: np.random.Generator) -> None:
    x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    want, cache_ref = ref.affine_forward(x.reshape(4, -1), w, b)
    cache = pair.forward("affine_forward out (x of shape (4, 2, 3))", "affine_forward", (x, w, b), want)
    if cache is None or "affine_backward" not in pair.functions:
        return
    rdx, rdw, rdb = ref.affine_backward(dout, cache_ref)
    refs = {"dx": rdx.reshape(x.shape), "dw": rdw, "db": rdb}
    for name, got, r, ok in (
        pair.backward("affine_backward", dout, cache, refs, _out_dot(pair, "affine_forward", (x, w, b), dout)) or []
    ):
        if not ok and np.shape(got) != r.shape:
            pair.diagnose("shape", name=name, got=np.shape(got), want=r.shape)
        else:
            pair.diagnose("bias-mean", name == "db" and not ok and _close(got, r / x.shape[0]))


def _relu(pair: _Pair, rng: np.random.Generator) -> None:
    x = rng.standard_normal((5, 6))
    x[0, :3] = 0.0  # on the kink
    dout = rng.standard_normal((5, 6))
    cache = pair.forward("relu_forward out", "relu_forward", (x,), np.maximum(x, 0))
    if cache is None or "relu_backward" not in pair.functions:
        return
    want, away = ref.relu_backward(dout, x > 0), np.abs(x) > 1e-4  # finite differences straddle the kink at 0
    numeric = _out_dot(pair, "relu_forward", (x,), dout)
    if not (got := pair.backward("relu_backward", dout, cache, {"dx": want}, numeric, " (x off the kink)", away)):
        return
    ((_, dx, _, ok),) = got
    if dx.shape == x.shape:
        on = ~away
        kink_ok = _close(dx[on], want[on]) or _close(dx[on], dout[on])
        note = "" if kink_ok else "neither subgradient 0 nor 1"
        pair.checks.append(Check("relu_backward dx at x == 0", "autonet", kink_ok, None, note))
    pair.diagnose("relu-clip", not ok and _close(dx, np.maximum(dout, 0)))


def _softmax(pair: _Pair, rng: np.random.Generator) -> None:
    for label, shift in (("", 0.0), (" (scores + 1000)", 1000.0)):
        x, y = rng.standard_normal((6, 5)) + shift, rng.integers(0, 5, 6)
        want_loss, want_dx = ref.softmax_cross_entropy(x, y)
        if (got := pair.attempt(f"softmax_loss{label}", "softmax_loss", x, y, n=2)) is None:
            continue
        loss, dx = got
        ok_loss = pair.compare(
            f"softmax_loss loss{label}", "autonet", loss.reshape(()) if loss.size == 1 else loss, want_loss
        )
        ok_dx = pair.compare(f"softmax_loss dx{label}", "autonet", dx, want_dx)
        if shift:
            pair.diagnose("no-max-shift", not (ok_loss and ok_dx) and not np.isfinite(loss).all())
            continue
        (ndx,) = _numeric(pair, lambda: float(pair.call("softmax_loss", x, y, n=2)[0]), x)  # noqa: B023
        pair.compare(f"softmax_loss dx{label}", "numeric", dx, ndx)
        pair.diagnose("missing-1/N", not ok_dx and _close(dx, want_dx * x.shape[0]))
        pair.diagnose("loss-sum", not ok_loss and _close(loss, want_loss * x.shape[0]))


def _batchnorm(pair: _Pair, rng: np.random.Generator) -> None:
    x = 3.0 * rng.standard_normal((8, 4)) + 2.0
    gamma, beta = rng.standard_normal(4) + 1.0, rng.standard_normal(4)
    dout = rng.standard_normal((8, 4))
    want, cache_ref = ref.batchnorm_forward(x, gamma, beta)
    cache = pair.forward(
        "batchnorm_forward out (train)", "batchnorm_forward", (x, gamma, beta, {"mode": "train"}), want
    )
    if cache is None:
        return
    rm, rv = rng.standard_normal(4), rng.random(4) + 0.5
    test = {"mode": "test", "running_mean": rm.copy(), "running_var": rv.copy()}
    want = ref.batchnorm_eval_forward(x, gamma, beta, rm, rv)
    pair.forward("batchnorm_forward out (test: running stats)", "batchnorm_forward", (x, gamma, beta, test), want)
    if not (backwards := [n for n in ("batchnorm_backward", "batchnorm_backward_alt") if n in pair.functions]):
        return
    refs = dict(zip(("dx", "dgamma", "dbeta"), ref.batchnorm_backward(dout, cache_ref), strict=True))
    numeric = _out_dot(pair, "batchnorm_forward", (x, gamma, beta, {"mode": "train"}), dout)
    inv_std = 1.0 / np.sqrt(x.var(axis=0) + ref.BN_EPS)
    for name in backwards:
        if (got := pair.backward(name, dout, cache, refs, numeric)) is None:
            continue
        wrong = not all(ok for *_, ok in got)
        pair.diagnose("bn-constant-stats", wrong and _close(got[0][1], dout * gamma * inv_std), name=name)


def _dropout(pair: _Pair, rng: np.random.Generator) -> None:
    x = 1.0 + rng.random((50, 40))  # no zeros, so the mask reads off out / x
    dout = rng.standard_normal((50, 40))
    p = 0.3
    param = {"mode": "train", "p": p, "seed": 123}
    if (got := pair.attempt("dropout_forward out (train)", "dropout_forward", x, dict(param), n=2)) is None:
        return
    out, cache = got
    if out.shape != x.shape:
        return pair.failed("dropout_forward out (train)", f"shape {out.shape}, expected {x.shape}")
    ratio = out / x
    kept = ratio != 0
    scale = ratio[kept]
    frac = kept.mean()
    uniform = scale.size > 0 and np.allclose(scale, scale[0], rtol=1e-12)
    note = ""
    if uniform and abs(scale[0] * p - 1) < 1e-9 and abs(frac - p) < 0.05:
        note = f"p = {p} is the keep probability (later editions)"
    elif uniform and abs(scale[0] * (1 - p) - 1) < 1e-9 and abs(frac - (1 - p)) < 0.05:
        note = f"p = {p} is the drop probability (the 2016 edition)"
    ok = bool(note)
    note = note or (
        f"kept {frac:.2f} of the units, scaled by {scale[0] if scale.size else float('nan'):.3g}: "
        "expected inverted dropout"
    )
    pair.checks.append(Check(f"dropout_forward out (train, p = {p})", "autonet", ok, None, note))
    pair.diagnose("dropout-not-inverted", not ok and uniform and abs(scale[0] - 1) < 1e-9)
    pair.forward("dropout_forward out (test: identity)", "dropout_forward", (x, {"mode": "test", "p": p}), x)
    if "dropout_backward" not in pair.functions:
        return
    if (dx := pair.attempt("dropout_backward dx", "dropout_backward", dout, cache)) is None:
        return
    small = (slice(0, 6), slice(0, 5))  # finite differences on a corner: 60 forward calls, not 4000

    def f():
        return float(np.sum(np.asarray(pair.call("dropout_forward", x, dict(param), n=2)[0])[small] * dout[small]))

    (ndx,) = _numeric(pair, f, x[small])  # a view: perturbing it perturbs x
    pair.compare("dropout_backward dx (mask = out / x)", "autonet", dx, ref.dropout_backward(dout, ratio))
    pair.compare("dropout_backward dx (mask = out / x)", "numeric", np.asarray(dx)[small], ndx)


PAIRS = {
    "affine_forward": _affine,
    "relu_forward": _relu,
    "softmax_loss": _softmax,
    "batchnorm_forward": _batchnorm,
    "dropout_forward": _dropout,
}


def layer_functions(module: Any) -> list[str]:
    """The exercise's layer function names ``module`` defines."""
    return [n for n in LAYER_NAMES if callable(getattr(module, n, None))]


def check_layers(module: Any, label: str, tol: Tolerances | None = None, seed: int = 0) -> Report:
    """Check every forward/backward pair ``module`` defines (see the module docstring).

    ``module``: a module in this process, or anything with its layer names in
    ``functions`` and a ``call(name, *args)`` (:class:`LocalLayers`).
    """
    tol = tol or Tolerances()
    layers = LocalLayers(module) if inspect.ismodule(module) else module
    pair, found = _Pair(layers, tol), layers.functions
    for name, fn in PAIRS.items():
        if name in found:
            fn(pair, np.random.default_rng(seed))
    for n in found:
        if n.endswith("_backward") and n.replace("_backward", "_forward") not in found:
            pair.checks.append(
                Check(n, "autonet", False, None, f"{n} found without its forward, so it cannot be called")
            )
    header = (
        f"autonet check {label} (layer functions: {', '.join(found)}; against autonet.manual.layers, rel. error "
        f"<= {tol.rtol:g}, and finite differences, <= {tol.fd_rtol:g})"
    )
    report = Report(label, "layers", pair.checks, [], header=header, columns=COLUMNS)
    if not report.passed:
        failed = ", ".join(sorted({c.case for c in report.failed}))
        report.diagnoses = pair.diagnoses or [Diagnosis(f"{failed} differ from autonet's (see the table)")]
    return report
