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
from autonet.checking.report import Check, Report
from autonet.checking.target import (
    PARAM_NAMES,
    TargetError,
    TwoLayerTarget,
    UserCodeError,
    two_layer_target,
)
from autonet.checking.variants import L2_FACTORS, relu_variant_grads
from autonet.gradcheck import numerical_gradient, rel_error

TOL = 1e-7  # relative error allowed against the backends (float64; the exercise asks < 1e-7 of scores)
FD_REL, FD_SMALL, FD_ABS = 1e-6, 1e-5, 1e-9  # finite differences: relative where |g|+|num| >= SMALL, else absolute
FD_KINK_MARGIN = 1e-4  # skip finite differences when a pre-activation is this close to the kink
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
    mutated: list = field(default_factory=list)
    checks: dict = field(default_factory=dict)  # quantity -> Check


def case_label(case: Case) -> str:
    N, D, H, C = case.sizes
    return f"{case.name} {N}x{D}-{H}-{C} reg={case.reg:g}"


def reference(case: Case, l2: str = "half") -> Reference:
    """Both backends on ``case`` (their agreement is itself checked: < 1e-9 or AssertionError)."""
    from autonet.autograd_loss import scores as autograd_scores
    from autonet.backends import get_backend
    from autonet.manual.two_layer import forward

    factor = L2_FACTORS[l2]
    f = forward(case.params, case.X)
    by = {}
    for name in REFERENCES:
        lg = get_backend(name)
        loss, grads = lg(case.params, case.X, case.y, reg=case.reg * factor)
        s = f["FC2_out"] if name == "manual" else np.asarray(autograd_scores(case.params, case.X))
        by[name] = (s, float(loss), grads)
    m, a = by["manual"], by["autograd"]
    disagree = max([rel_error(m[0], a[0]), rel_error(m[1], a[1])] + [rel_error(m[2][k], a[2][k]) for k in m[2]])
    assert disagree < 1e-9, f"autonet's backends disagree on {case.name} (rel error {disagree:.1e}): an autonet bug"
    data_loss, data_grads = get_backend("manual")(case.params, case.X, case.y, reg=0.0)
    return Reference(m[0], m[1], m[2], float(data_loss), data_grads, f["FC1_out"], by)


def _err(value, ref_values) -> float:
    return max(rel_error(value, r) for r in ref_values)


def _compare(label: str, quantity: str, value, refs: list, expected_shape=None) -> Check:
    value = np.asarray(value, dtype=np.float64)
    shape = expected_shape if expected_shape is not None else np.shape(refs[0])
    if value.shape != shape:
        note = f"shape {value.shape}, expected {shape}"
        if value.size == int(np.prod(shape)):
            err = _err(value.reshape(shape), refs)
            return Check(label, quantity, False, err, note)
        return Check(label, quantity, False, None, note)
    if not np.all(np.isfinite(value)):
        return Check(label, quantity, False, float("nan") if np.isnan(value).any() else float("inf"), "not finite")
    err = _err(value, refs)
    return Check(label, quantity, bool(err <= TOL), err)


def _finite_difference_check(target: TwoLayerTarget, run: CaseRun) -> Check | None:
    case = run.case
    if case.kinks or case.overflow or np.abs(run.ref.hidden_pre).min() < FD_KINK_MARGIN or run.grads is None:
        return None
    params = {k: v.copy() for k, v in case.params.items()}
    f = target.loss_fn(params, case.X, case.y, case.reg)
    worst = 0.0
    for k in PARAM_NAMES:
        g = run.grads[k]
        num = numerical_gradient(f, params[k])
        if g.shape != num.shape:
            return Check(run.label, "fd", False, None, f"{k} has shape {g.shape}, expected {num.shape}")
        big = np.abs(g) + np.abs(num) >= FD_SMALL
        if big.any():
            worst = max(worst, rel_error(g[big], num[big]))
        if (~big).any() and np.abs(g[~big] - num[~big]).max() > FD_ABS:
            worst = max(worst, 1.0)
    return Check(run.label, "fd", bool(worst <= FD_REL), worst)


def run_case(target: TwoLayerTarget, case: Case, l2: str = "half", first: bool = False) -> CaseRun:
    """Call the target on one case and fill in its checks.

    A :class:`TargetError` (wrong type of return value) propagates from the
    ``first`` case, where it means the API has the wrong shape; on a later case
    it is a failed check like any exception.
    """
    ref = reference(case, l2)
    run = CaseRun(case, ref, case_label(case))
    refs = REFERENCES
    try:
        params, X, y = case.copy_inputs()
        if target.has_scores:
            run.scores = target.scores(params, X)
            run.mutated += target.mutated
        run.loss, run.grads = target.loss_and_grads(params, X, y, case.reg)
        run.mutated += [m for m in target.mutated if m not in run.mutated]
    except (UserCodeError, TargetError) as e:
        if first and isinstance(e, TargetError):
            raise
        run.error = str(e)
    label = run.label
    if run.error is not None:
        for q in COLUMNS[:6] if target.has_scores else COLUMNS[1:6]:
            run.checks[q] = Check(label, q, False, None, run.error)
        return run
    if run.scores is not None:
        run.checks["scores"] = _compare(label, "scores", run.scores, [ref.by_backend[n][0] for n in refs])
    run.checks["loss"] = _compare(label, "loss", run.loss, [ref.by_backend[n][1] for n in refs])
    assert run.grads is not None  # no error, so the call returned gradients
    for k in PARAM_NAMES:
        run.checks[k] = _compare(
            label, k, run.grads[k], [ref.by_backend[n][2][k] for n in refs], expected_shape=case.params[k].shape
        )
    if case.kinks:
        _accept_other_subgradient(run, l2)
    fd = _finite_difference_check(target, run)
    if fd is not None:
        run.checks["fd"] = fd
    return run


def _accept_other_subgradient(run: CaseRun, l2: str) -> None:
    """On a kink, 1[FC1_out >= 0] is as valid a subgradient as autonet's 1[FC1_out > 0]: pass it, with a note."""
    bad = [k for k in ("W1", "b1") if not run.checks[k].ok]
    if not bad:
        return
    ge = relu_variant_grads(run.case, run.ref, "ge", l2)
    assert run.grads is not None  # checked: some gradient entries were compared
    if all(run.grads[k].shape == ge[k].shape and rel_error(run.grads[k], ge[k]) <= TOL for k in ("W1", "b1")):
        for k in bad:
            c = run.checks[k]
            c.ok, c.error = True, rel_error(run.grads[k], ge[k])
            c.note = "ReLU derivative 1 at FC1_out == 0 (autonet uses 0; both are subgradients)"


def init_check(target: TwoLayerTarget) -> Check:
    """``np.random.seed(0); Cls(4, 10, 3, std=1e-1)`` draws the exercise's toy weights (its correct_scores need them)."""
    try:
        got = target.init(*battery_cases.TOY_SIZES, battery_cases.TOY_STD, seed=0)
    except UserCodeError as e:
        return Check("init: np.random.seed(0); Net(4, 10, 3, std=0.1)", "init", False, None, str(e))
    want = battery_cases.toy_params()
    err = max(rel_error(got[k], want[k]) for k in PARAM_NAMES)
    return Check("init: np.random.seed(0); Net(4, 10, 3, std=0.1)", "init", bool(err <= TOL), err)


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
    time_limit: float | None = None,
    cases: list[Case] | None = None,
) -> Report:
    """The whole two-layer check of a class (exercise API) or a function (backend contract).

    Parameters
    ----------
    obj : the class or function (see :func:`autonet.checking.target.two_layer_target`)
    label : how the report names it
    l2 : ``"half"`` for the loss ``0.5*reg*||W||^2`` (the seed's edition, autonet's), ``"full"`` for
        the later edition's ``reg*||W||^2``
    time_limit : seconds allowed per call of the user's code (None: unbounded)
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
    target = obj if isinstance(obj, TwoLayerTarget) else two_layer_target(obj, label, time_limit)
    runs = [run_case(target, case, l2, first=(i == 0)) for i, case in enumerate(cases or battery_cases.battery())]
    checks = [c for run in runs for c in run.checks.values()]
    extra = {}
    if target.has_init:
        extra["init"] = init_check(target)
    if target.has_predict:
        extra["predict"], extra["predicted"] = predict_check(target)
    mutated = sorted({m for run in runs for m in run.mutated})
    extra["inputs"] = Check(
        "inputs: X and params unchanged by every call",
        "inputs",
        not mutated,
        None,
        f"modified in place: {', '.join(mutated)}" if mutated else "",
    )
    checks += [c for c in extra.values() if isinstance(c, Check)]
    convention = "0.5*reg*||W||^2" if l2 == "half" else "reg*||W||^2"
    header = (
        f"autonet check {target.label} ({target.kind}; loss = mean softmax cross-entropy + {convention}; "
        f"against backends {' and '.join(REFERENCES)}, rel. error <= {TOL:g}; fd = finite differences "
        "of its own loss)"
    )
    report = Report(
        target.label, target.kind, checks, [], header=header, columns=COLUMNS if target.has_scores else COLUMNS[1:]
    )
    report.diagnoses = diagnose(runs, extra, target, l2) if not report.passed else []
    return report
