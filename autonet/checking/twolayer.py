"""Run the battery on a two-layer target and hold every output against both autonet backends.

For each case the target's scores (classes only), loss and four gradients are
compared with the ``manual`` and ``autograd`` backends, and its gradients
with centred finite differences of its *own* loss (which tells "the gradient
is wrong" apart from "the loss is a different function"). Once per target:
the exercise's global-RNG initialisation (classes), ``predict`` (if any) and
whether any call modified its inputs. :func:`autonet.checking.diagnose.diagnose`
turns the failures into statements of where the fault enters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autonet.checking import cases as battery_cases
from autonet.checking.cases import Case
from autonet.checking.equations import L2_FACTORS, relu_variant_grads
from autonet.checking.report import Check, Report
from autonet.checking.target import (
    PARAM_NAMES,
    TargetError,
    TwoLayerTarget,
    UserCodeError,
    two_layer_target,
)
from autonet.checking.tolerances import Tolerances, fd_error
from autonet.gradcheck import directional_derivatives, numerical_gradient, rel_error

FD_KINK_MARGIN = 1e-4  # skip finite differences when a pre-activation is this close to the kink
TRAIN_OPTIONS = {"learning_rate": 1e-1, "reg": 5e-6, "num_iters": 100, "verbose": False}  # the exercise's toy run
TRAIN_LOSS = 0.02  # the exercise: the toy net's final training loss should be below this
REFERENCES = ("manual", "autograd")
COLUMNS = ("scores", "loss", "W1", "b1", "W2", "b2", "fd")


@dataclass
class Reference:
    """What the backends say for one case: at the case's reg, and at reg 0 (the data part)."""

    scores: np.ndarray
    loss: float
    grads: dict
    data_loss: float
    data_grads: dict
    hidden_pre: np.ndarray  # FC1_out (N, H)
    by_backend: dict = field(default_factory=dict)  # name -> (scores, loss, grads)


@dataclass
class CaseRun:
    """A case, its reference, what the target returned, and the checks made."""

    case: Case
    ref: Reference
    label: str
    scores: np.ndarray | None = None
    loss: float | None = None
    grads: dict | None = None
    error: str | None = None
    mutated: set = field(default_factory=set)
    checks: dict = field(default_factory=dict)  # quantity -> Check


def reference(case: Case, l2: str = "half") -> Reference:
    """Both backends on ``case`` (their agreement is itself checked: < 1e-9 or AssertionError)."""
    from autonet.autograd_loss import scores as autograd_scores
    from autonet.backends import get_backend
    from autonet.manual.two_layer import forward

    factor = L2_FACTORS[l2]
    f = forward(case.params, case.X)
    by = {}
    for name in REFERENCES:
        loss, grads = get_backend(name)(case.params, case.X, case.y, reg=case.reg * factor)
        s = f["FC2_out"] if name == "manual" else np.asarray(autograd_scores(case.params, case.X))
        by[name] = (s, float(loss), grads)
    m, a = by["manual"], by["autograd"]
    disagree = max([rel_error(m[0], a[0]), rel_error(m[1], a[1])] + [rel_error(m[2][k], a[2][k]) for k in m[2]])
    assert disagree < 1e-9, f"autonet's backends disagree on {case.name} (rel error {disagree:.1e}): an autonet bug"
    data_loss, data_grads = get_backend("manual")(case.params, case.X, case.y, reg=0.0)
    return Reference(m[0], m[1], m[2], float(data_loss), data_grads, f["FC1_out"], by)


def _compare(label: str, quantity: str, value, refs: list, tol: Tolerances, expected_shape=None) -> Check:
    value = np.asarray(value, dtype=np.float64)
    shape = expected_shape if expected_shape is not None else np.shape(refs[0])
    if value.shape != shape:  # still measured when only the layout differs (a diagnosis tells which)
        err = max(rel_error(value.reshape(shape), r) for r in refs) if value.size == int(np.prod(shape)) else None
        return Check(label, quantity, False, err, f"shape {value.shape}, expected {shape}")
    if not np.all(np.isfinite(value)):
        return Check(label, quantity, False, float("nan") if np.isnan(value).any() else float("inf"), "not finite")
    err = max(rel_error(value, r) for r in refs)
    return Check(label, quantity, bool(err <= tol.rtol), err)


def _finite_difference_check(target: TwoLayerTarget, run: CaseRun, tol: Tolerances) -> Check | None:
    """Every entry of every gradient against centred differences of the target's own loss, and the gradient
    along one random direction through all four parameters at once (two more loss evaluations)."""
    case = run.case
    if case.kinks or case.overflow or np.abs(run.ref.hidden_pre).min() < FD_KINK_MARGIN or run.grads is None:
        return None
    params = {k: v.copy() for k, v in case.params.items()}
    f = target.loss_fn(params, case.X, case.y, case.reg)
    worst = 0.0
    try:
        for k in PARAM_NAMES:
            g = np.asarray(run.grads[k], dtype=np.float64)
            num = numerical_gradient(f, params[k], tol.fd_step)
            if g.shape != num.shape:
                return Check(run.label, "fd", False, None, f"{k} has shape {g.shape}, expected {num.shape}")
            worst = max(worst, fd_error(g, num, tol.atol))
        along, numeric = directional_derivatives(f, params, run.grads, tol.fd_step, np.random.default_rng(0))
    except UserCodeError as e:
        return Check(run.label, "fd", False, None, str(e))
    worst = max(worst, fd_error(np.array([along]), np.array([numeric]), tol.atol))
    return Check(run.label, "fd", bool(worst <= tol.fd_rtol), worst)


def run_case(
    target: TwoLayerTarget, case: Case, l2: str = "half", first: bool = False, tol: Tolerances | None = None
) -> CaseRun:
    """Call the target on one case and fill in its checks.

    A :class:`TargetError` (wrong type of return value) propagates from the
    ``first`` case, where it means the API has the wrong shape; on a later case
    it is a failed check like any exception.
    """
    tol = tol or Tolerances()
    ref = reference(case, l2)
    run = CaseRun(case, ref, "{} {}x{}-{}-{} reg={:g}".format(case.name, *case.sizes, case.reg))
    backs = [ref.by_backend[n] for n in REFERENCES]  # (scores, loss, grads) of each
    try:
        if target.has_scores:  # a target calls the code on copies and reports what the call changed in them
            run.scores = target.scores(case.params, case.X)
            run.mutated.update(target.mutated)
        run.loss, run.grads = target.loss_and_grads(case.params, case.X, case.y, case.reg)
        run.mutated.update(target.mutated)
    except (UserCodeError, TargetError) as e:
        if first and isinstance(e, TargetError):
            raise
        run.error = str(e)
    label = run.label
    if run.error is not None:
        run.checks = {
            q: Check(label, q, False, None, run.error) for q in (COLUMNS[:6] if target.has_scores else COLUMNS[1:6])
        }
        return run
    if run.scores is not None:
        run.checks["scores"] = _compare(label, "scores", run.scores, [b[0] for b in backs], tol)
    run.checks["loss"] = _compare(label, "loss", run.loss, [b[1] for b in backs], tol)
    assert run.grads is not None  # no error, so the call returned gradients
    for k in PARAM_NAMES:
        run.checks[k] = _compare(label, k, run.grads[k], [b[2][k] for b in backs], tol, case.params[k].shape)
    if case.kinks:
        _accept_other_subgradient(run, l2, tol)
    if (fd := _finite_difference_check(target, run, tol)) is not None:
        run.checks["fd"] = fd
    return run


def _accept_other_subgradient(run: CaseRun, l2: str, tol: Tolerances) -> None:
    """On a kink, 1[FC1_out >= 0] is as valid a subgradient as autonet's 1[FC1_out > 0]: pass it, with a note."""
    if not (bad := [k for k in ("W1", "b1") if not run.checks[k].ok]):
        return
    ge = relu_variant_grads(run.case, run.ref, "ge", l2)
    assert run.grads is not None  # checked: some gradient entries were compared
    if all(run.grads[k].shape == ge[k].shape and rel_error(run.grads[k], ge[k]) <= tol.rtol for k in ("W1", "b1")):
        for k in bad:
            c = run.checks[k]
            c.ok, c.error = True, rel_error(run.grads[k], ge[k])
            c.note = "ReLU derivative 1 at FC1_out == 0 (autonet uses 0; both are subgradients)"


def init_check(target: TwoLayerTarget, tol: Tolerances) -> Check:
    """``np.random.seed(0); Cls(4, 10, 3, std=1e-1)`` draws the exercise's toy weights (its correct_scores need them)."""
    label = "init: np.random.seed(0); Net(4, 10, 3, std=0.1)"
    try:
        got = target.init(*battery_cases.TOY_SIZES, battery_cases.TOY_STD, seed=0)
    except UserCodeError as e:
        return Check(label, "init", False, None, str(e))
    want = battery_cases.toy_params()
    err = max(rel_error(got[k], want[k]) for k in PARAM_NAMES)
    return Check(label, "init", bool(err <= tol.rtol), err)


def train_check(target: TwoLayerTarget) -> Check:
    """The exercise's toy training (``net.train(X, y, X, y, learning_rate=0.1, reg=5e-6, num_iters=100)``
    from ``np.random.seed(0)``): autonet's loss of the trained weights must fall below 0.02."""
    from autonet.backends import get_backend

    label = f"train: toy problem, final loss < {TRAIN_LOSS:g}"
    X, y = battery_cases.toy_data()
    try:
        params = target.train(X, y, TRAIN_OPTIONS)
    except UserCodeError as e:
        return Check(label, "train", False, None, str(e))
    try:
        loss = float(get_backend("manual")(params, X, y, reg=TRAIN_OPTIONS["reg"])[0])
    except (ValueError, KeyError, TypeError):
        return Check(label, "train", False, None, "the trained params have the wrong shapes")
    ok = bool(np.isfinite(loss) and loss < TRAIN_LOSS)
    return Check(label, "train", ok, loss, "" if ok else f"loss {loss:.4g} after training")


def predict_check(target: TwoLayerTarget) -> tuple[Check, Any]:
    """``predict(X)`` equals the argmax of the reference scores on a case where ``b2`` decides every row."""
    case = battery_cases.predict_case(np.random.default_rng(7))
    label = "predict: b2 decides every row"
    want = reference(case).scores.argmax(axis=1)
    try:
        got = target.predict(case.params, case.X)
    except UserCodeError as e:
        return Check(label, "predict", False, None, str(e)), None
    if got.shape != want.shape:
        return Check(label, "predict", False, None, f"shape {got.shape}, expected {want.shape}"), got
    wrong = int((got != want).sum())
    return Check(
        label, "predict", wrong == 0, float(wrong) / len(want), f"{wrong} of {len(want)} labels differ" if wrong else ""
    ), got


def check_two_layer(
    obj: Any,
    label: str | None = None,
    *,
    l2: str = "half",
    tol: Tolerances | None = None,
    cases: list[Case] | None = None,
) -> Report:
    """The whole two-layer check of a class (exercise API) or a function (backend contract).

    Parameters
    ----------
    obj : the class or function (see :func:`autonet.checking.target.two_layer_target`)
    label : how the report names it
    l2 : ``"half"`` for the loss ``0.5*reg*||W||^2`` (the original edition's, autonet's), ``"full"`` for
        the later edition's ``reg*||W||^2``
    tol : the tolerances (default :class:`~autonet.checking.tolerances.Tolerances`)
    cases : the battery (default :func:`autonet.checking.cases.battery`)

    Raises
    ------
    TargetError
        When ``obj`` does not have either API (wrong constructor, no ``params``,
        wrong return types).
    """
    from autonet.checking.diagnose import diagnose

    if l2 not in L2_FACTORS:
        raise ValueError(f"l2 must be one of {', '.join(L2_FACTORS)}, got {l2!r}")
    tol = tol or Tolerances()
    target = obj if isinstance(obj, TwoLayerTarget) else two_layer_target(obj, label)
    runs = [run_case(target, c, l2, i == 0, tol) for i, c in enumerate(cases or battery_cases.battery())]
    checks = [c for run in runs for c in run.checks.values()]
    extra = {}
    if target.has_init:
        extra["init"] = init_check(target, tol)
    if target.has_train:
        extra["train"] = train_check(target)
    if target.has_predict:
        extra["predict"], extra["predicted"] = predict_check(target)
    mutated = sorted(set().union(*[run.mutated for run in runs]))
    note = f"modified in place: {', '.join(mutated)}" if mutated else ""
    extra["inputs"] = Check("inputs: X and params unchanged by every call", "inputs", not mutated, None, note)
    checks += [c for c in extra.values() if isinstance(c, Check)]
    convention = "0.5*reg*||W||^2" if l2 == "half" else "reg*||W||^2"
    header = (
        f"autonet check {target.label} ({target.kind}; loss = mean softmax cross-entropy + {convention}; "
        f"against backends {' and '.join(REFERENCES)}, rel. error <= {tol.rtol:g}; fd = finite differences "
        "of its own loss, every entry and one random direction)"
    )
    columns = COLUMNS if target.has_scores else COLUMNS[1:]
    report = Report(target.label, target.kind, checks, [], header=header, columns=columns)
    report.diagnoses = diagnose(runs, extra, target, l2) if not report.passed else []
    return report
