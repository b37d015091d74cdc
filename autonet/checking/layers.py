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
from autonet.gradcheck import numerical_gradient, rel_error, sampled_numerical_gradient
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

    def compare(self, row: str, column: str, got, want, tol: float | None = None, where=None) -> bool:
        tol = self.tol.rtol if tol is None else tol
        got = np.asarray(got, dtype=np.float64) if got is not None else None
        want = np.asarray(want, dtype=np.float64)
        if got is None or got.shape != want.shape:
            shape = None if got is None else got.shape
            self.checks.append(Check(row, column, False, None, f"shape {shape}, expected {want.shape}"))
            return False
        if where is not None:
            got, want = got[where], want[where]
        if not np.all(np.isfinite(got)):
            self.checks.append(Check(row, column, False, float("nan"), "not finite"))
            return False
        err = rel_error(got, want) if column != "numeric" else fd_error(got, want, self.tol.atol)
        self.checks.append(Check(row, column, bool(err <= tol), err))
        return err <= tol

    def attempt(self, row: str, name: str, *args, n: int | None = None):
        """:meth:`call`, or None after a failed check in ``row`` when the code raised."""
        try:
            return self.call(name, *args, n=n)
        except UserCodeError as e:
            self.failed(row, str(e))
            return None

    def failed(self, row: str, message: str) -> None:
        self.checks.append(Check(row, "autonet", False, None, message))

    def diagnose(self, title: str, signature: str | None = None, *detail: str) -> None:
        self.diagnoses.append(Diagnosis(title, signature=signature, detail=list(detail)))


def _numeric(pair: _Pair, f: Callable[[], float], *arrays: np.ndarray) -> list[np.ndarray]:
    """Centred differences of ``f``; NaN (a failed comparison) where the checked code raised."""
    try:
        return [numerical_gradient(f, a, pair.tol.fd_step) for a in arrays]
    except UserCodeError:
        return [np.full(np.shape(a), np.nan) for a in arrays]


def _affine(pair: _Pair, rng: np.random.Generator) -> None:
    x = rng.standard_normal((4, 2, 3))
    w = rng.standard_normal((6, 5))
    b = rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    want, cache_ref = ref.affine_forward(x.reshape(4, -1), w, b)
    if (got := pair.attempt("affine_forward out", "affine_forward", x.copy(), w.copy(), b.copy(), n=2)) is None:
        return
    out, cache = got
    pair.compare("affine_forward out (x of shape (4, 2, 3))", "autonet", out, want)
    if "affine_backward" not in pair.functions:
        return
    if (got := pair.attempt("affine_backward", "affine_backward", dout.copy(), cache, n=3)) is None:
        return
    dx, dw, db = got
    rdx, rdw, rdb = ref.affine_backward(dout, cache_ref)

    def f():
        return float(np.sum(pair.call("affine_forward", x, w, b, n=2)[0] * dout))

    ndx, ndw, ndb = _numeric(pair, f, x, w, b)
    for name, got, r, n in (("dx", dx, rdx.reshape(x.shape), ndx), ("dw", dw, rdw, ndw), ("db", db, rdb, ndb)):
        ok = pair.compare(f"affine_backward {name}", "autonet", got, r)
        pair.compare(f"affine_backward {name}", "numeric", got, n, pair.tol.fd_rtol)
        if not ok and np.shape(got) != r.shape:
            pair.diagnose(
                f"affine_backward: {name} has shape {np.shape(got)}, expected {r.shape}",
                "shape",
                "A gradient has its input's shape: dx is reshaped back to x's (N, d1, ..., dk), db sums "
                "over the N rows without keepdims.",
            )
        elif not ok and name == "db" and _close(got, r / x.shape[0]):
            pair.diagnose(
                "affine_backward: db is the mean over the rows, not the sum (eqs. (7)/(10))",
                "bias-mean",
                "db = sum_n dout[n]: dout already carries the 1/N of the loss.",
            )


def _close(got, want) -> bool:
    got = np.asarray(got, dtype=np.float64)
    return got.size == np.size(want) and rel_error(got.reshape(np.shape(want)), want) <= 1e-6


def _relu(pair: _Pair, rng: np.random.Generator) -> None:
    x = rng.standard_normal((5, 6))
    x[0, :3] = 0.0  # on the kink
    dout = rng.standard_normal((5, 6))
    if (got := pair.attempt("relu_forward out", "relu_forward", x.copy(), n=2)) is None:
        return
    out, cache = got
    pair.compare("relu_forward out", "autonet", out, np.maximum(x, 0))
    if "relu_backward" not in pair.functions:
        return
    if (dx := pair.attempt("relu_backward dx", "relu_backward", dout.copy(), cache)) is None:
        return
    want = ref.relu_backward(dout, x > 0)
    away = np.abs(x) > 1e-4  # finite differences straddle the kink at 0
    (ndx,) = _numeric(pair, lambda: float(np.sum(pair.call("relu_forward", x, n=2)[0] * dout)), x)
    ok = pair.compare("relu_backward dx (x off the kink)", "autonet", dx, want, where=away)
    pair.compare("relu_backward dx (x off the kink)", "numeric", dx, ndx, pair.tol.fd_rtol, where=away)
    if np.shape(dx) == x.shape:
        on = ~away
        kink_ok = _close(np.asarray(dx)[on], want[on]) or _close(np.asarray(dx)[on], dout[on])
        pair.checks.append(
            Check(
                "relu_backward dx at x == 0", "autonet", kink_ok, None, "" if kink_ok else "neither subgradient 0 nor 1"
            )
        )
    if not ok and _close(dx, np.maximum(dout, 0)):
        pair.diagnose(
            "relu_backward clips the upstream gradient by its sign, max(dout, 0), instead of masking it "
            "by the forward input (the solution write-up's printed (8))",
            "relu-clip",
            "dx = dout * (x > 0): the cache must hold the forward input x.",
        )


def _softmax(pair: _Pair, rng: np.random.Generator) -> None:
    for label, shift in (("", 0.0), (" (scores + 1000)", 1000.0)):
        x = rng.standard_normal((6, 5)) + shift
        y = rng.integers(0, 5, 6)
        want_loss, want_dx = ref.softmax_cross_entropy(x, y)
        if (got := pair.attempt(f"softmax_loss{label}", "softmax_loss", x.copy(), y.copy(), n=2)) is None:
            continue
        loss, dx = got
        ok_loss = pair.compare(
            f"softmax_loss loss{label}", "autonet", np.reshape(loss, ()) if np.size(loss) == 1 else loss, want_loss
        )
        ok_dx = pair.compare(f"softmax_loss dx{label}", "autonet", dx, want_dx)
        if not shift:

            def loss_at(x: np.ndarray = x, y: np.ndarray = y) -> float:
                return float(pair.call("softmax_loss", x, y, n=2)[0])

            (ndx,) = _numeric(pair, loss_at, x)
            pair.compare(f"softmax_loss dx{label}", "numeric", dx, ndx, pair.tol.fd_rtol)
            if not ok_dx and _close(dx, want_dx * x.shape[0]):
                pair.diagnose(
                    "softmax_loss: dx is N times too large, the 1/N of (5) is missing",
                    "missing-1/N",
                    "The loss is a mean over the N rows: dx = (softmax(x) - MaskMat) / N.",
                )
            if not ok_loss and _close(loss, want_loss * x.shape[0]):
                pair.diagnose("softmax_loss: the loss is summed over the rows, not averaged", "loss-sum")
        elif not (ok_loss and ok_dx) and not np.isfinite(np.asarray(loss, dtype=float)).all():
            pair.diagnose(
                "softmax_loss overflows on scores near 1000: no max shift in (4)",
                "no-max-shift",
                "Subtract each row's max before exp; softmax ignores a per-row constant.",
            )


def _batchnorm(pair: _Pair, rng: np.random.Generator) -> None:
    x = 3.0 * rng.standard_normal((8, 4)) + 2.0
    gamma, beta = rng.standard_normal(4) + 1.0, rng.standard_normal(4)
    dout = rng.standard_normal((8, 4))
    want, cache_ref = ref.batchnorm_forward(x, gamma, beta)
    row, train = "batchnorm_forward out (train)", {"mode": "train"}
    if (got := pair.attempt(row, "batchnorm_forward", x.copy(), gamma.copy(), beta.copy(), train, n=2)) is None:
        return
    out, cache = got
    pair.compare("batchnorm_forward out (train)", "autonet", out, want)
    rm, rv = rng.standard_normal(4), rng.random(4) + 0.5
    row, stats = "batchnorm_forward out (test: running stats)", {"running_mean": rm.copy(), "running_var": rv.copy()}
    got = pair.attempt(row, "batchnorm_forward", x.copy(), gamma.copy(), beta.copy(), {"mode": "test", **stats}, n=2)
    if got is not None:
        pair.compare(row, "autonet", got[0], ref.batchnorm_eval_forward(x, gamma, beta, rm, rv))
    rdx, rdg, rdb = ref.batchnorm_backward(dout, cache_ref)

    def f():
        return float(np.sum(pair.call("batchnorm_forward", x, gamma, beta, {"mode": "train"}, n=2)[0] * dout))

    ndx, ndg, ndb = _numeric(pair, f, x, gamma, beta)
    for name in ("batchnorm_backward", "batchnorm_backward_alt"):
        if name not in pair.functions:
            continue
        if (got := pair.attempt(name, name, dout.copy(), cache, n=3)) is None:
            continue
        dx, dg, db = got
        ok = True
        for g, got, r, n in (("dx", dx, rdx, ndx), ("dgamma", dg, rdg, ndg), ("dbeta", db, rdb, ndb)):
            ok &= pair.compare(f"{name} {g}", "autonet", got, r)
            pair.compare(f"{name} {g}", "numeric", got, n, pair.tol.fd_rtol)
        inv_std = 1.0 / np.sqrt(x.var(axis=0) + ref.BN_EPS)
        if not ok and _close(dx, dout * gamma * inv_std):
            pair.diagnose(
                f"{name}: dx treats the batch mean and variance as constants",
                "bn-constant-stats",
                "Every x[n] also moves mu and var: dx = gamma * inv_std / N * (N * dout - sum_n dout "
                "- xhat * sum_n (dout * xhat)).",
            )


def _dropout(pair: _Pair, rng: np.random.Generator) -> None:
    x = 1.0 + rng.random((50, 40))  # no zeros, so the mask reads off out / x
    dout = rng.standard_normal((50, 40))
    p = 0.3
    param = {"mode": "train", "p": p, "seed": 123}
    if (got := pair.attempt("dropout_forward out (train)", "dropout_forward", x.copy(), dict(param), n=2)) is None:
        return
    out, cache = got
    out = np.asarray(out, dtype=np.float64)
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
    pair.checks.append(
        Check(
            f"dropout_forward out (train, p = {p})",
            "autonet",
            ok,
            None,
            note
            or f"kept {frac:.2f} of the units, scaled by "
            f"{scale[0] if scale.size else float('nan'):.3g}: expected inverted dropout",
        )
    )
    if not ok and uniform and abs(scale[0] - 1) < 1e-9:
        pair.diagnose(
            "dropout_forward is not inverted: kept units are not scaled by 1 / keep probability",
            "dropout-not-inverted",
            "Inverted dropout divides by the keep probability in training so that test mode is the identity.",
        )
    row = "dropout_forward out (test: identity)"
    if (got := pair.attempt(row, "dropout_forward", x.copy(), {"mode": "test", "p": p}, n=2)) is not None:
        pair.compare(row, "autonet", got[0], x)
    if "dropout_backward" not in pair.functions:
        return
    if (dx := pair.attempt("dropout_backward dx", "dropout_backward", dout.copy(), cache)) is None:
        return
    small = (slice(0, 6), slice(0, 5))  # finite differences on a corner: 60 forward calls, not 4000

    def f():
        return float(np.sum(np.asarray(pair.call("dropout_forward", x, dict(param), n=2)[0])[small] * dout[small]))

    corner = np.asarray(np.ravel_multi_index(tuple(np.indices((6, 5)).reshape(2, -1)), x.shape))
    try:
        ndx = sampled_numerical_gradient(f, x, corner, pair.tol.fd_step).reshape(6, 5)
    except UserCodeError:
        ndx = np.full((6, 5), np.nan)
    pair.compare("dropout_backward dx (mask = out / x)", "autonet", dx, ref.dropout_backward(dout, ratio))
    pair.compare("dropout_backward dx (mask = out / x)", "numeric", np.asarray(dx)[small], ndx, pair.tol.fd_rtol)


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
    checks: list[Check] = []
    diagnoses: list[Diagnosis] = []
    found = layers.functions
    for name, fn in PAIRS.items():
        if name in found:
            pair = _Pair(layers, tol)
            fn(pair, np.random.default_rng(seed))
            checks += pair.checks
            diagnoses += pair.diagnoses
    for n in found:
        if n.endswith("_backward") and n.replace("_backward", "_forward") not in found:
            checks.append(Check(n, "autonet", False, None, f"{n} found without its forward, so it cannot be called"))
    header = (
        f"autonet check {label} (layer functions: {', '.join(found)}; against autonet.manual.layers, rel. error "
        f"<= {tol.rtol:g}, and finite differences, <= {tol.fd_rtol:g})"
    )
    report = Report(label, "layers", checks, [], header=header, columns=COLUMNS)
    if not report.passed:
        failed = ", ".join(sorted({c.case for c in report.failed}))
        report.diagnoses = diagnoses or [Diagnosis(f"{failed} differ from autonet's (see the table)")]
    return report
