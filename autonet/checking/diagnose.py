"""From failed checks to *where* the fault enters, and *what* it is when its signature is known.

Localisation follows the backward pass. With ``g = dL/dFC2_out`` from (5),
``W2`` and ``b2`` come from ``g`` by (6), (7); ``W1`` and ``b1`` from
``dL/dFC1_out`` by (9), (10), which (8) makes from ``g``. So:

- scores wrong: the forward pass (1)-(3);
- all four gradients wrong (on ``reg = 0``, where no L2 term hides anything): (5);
- ``W2``, ``b2`` right, ``W1`` and ``b1`` wrong: (8);
- one gradient wrong alone: the equation producing it, (6), (7), (9) or (10);
- right at ``reg = 0``, wrong at ``reg > 0``: the L2 term of (6)/(9) (or a regularised bias).

Recognised signatures (each tested against the candidate it names, never
guessed from the pattern alone): the exercise's solution write-up's printed (8), ``max(dL/dH_out, 0)``;
a missing ReLU mask; a missing (or doubled) 1/N; a gradient of flipped sign;
an L2 gradient off by a factor, including the later edition's ``reg*||W||^2``
convention; a bias regularised or summed with ``keepdims``; a loss summed
instead of averaged; softmax without the max shift overflowing; ``predict``
without ``b2``; inputs modified in place; the exercise's initialisation not
drawn from NumPy's global random state; results computed in float32.
"""

from __future__ import annotations

import functools

import numpy as np

from autonet.checking.cases import predict_case
from autonet.checking.equations import L2_FACTORS, PRODUCED_BY, SEED_ERRATA, relu_variant_grads
from autonet.checking.report import Diagnosis
from autonet.checking.target import PARAM_NAMES
from autonet.manual.layers import softmax_cross_entropy

SIG_TOL = 1e-6  # a candidate "matches" when within this relative error
PRECISION_EXPLAINS = 1e-3  # float32 results miss by ~1e-7..1e-4; larger errors are faults of their own
CHECK_FORWARD = "Every loss and gradient downstream is computed from these scores: fix the forward pass first."
ONLY_WEIGHTS = "Only the weights are regularised: the bias gradient has no reg term."
SHAPE = "A gradient has its parameter's shape; a bias gradient sums over the N rows (axis 0) to shape (H,) or (C,)."

# signature -> (equations, title, *detail): every diagnosis, its texts str.format templates of the names the rule
# that finds it passes; a key starting with "_" is a fault located but not recognised (signature None)
FAULTS: dict[str, tuple] = {
    "exception": ((), "raised on {n} of {total} cases, first on {label}: {error}"),
    "in-place": (
        (),
        "inputs modified in place: {what}",
        "The caller's arrays change under it: the training loop then steps from corrupted weights or data.",
        "Compute into new arrays (X = X - m, not X -= m; dW = W.copy() before +=).",
    ),
    "init": (
        (),
        "np.random.seed(0); Net(4, 10, 3, std=0.1) does not draw the exercise's toy weights",
        "The exercise draws W1 = std * np.random.randn(D, H), b1 = zeros(H), "
        "W2 = std * np.random.randn(H, C), b2 = zeros(C), in that order, from NumPy's "
        "global state; otherwise its hard-coded correct_scores cannot match.",
    ),
    "precision": (
        (),
        "computed in lower precision than float64: {low}",
        "The inputs are float64; a cast to float32 loses ~8 digits, more than any gradient "
        "check tolerates. Keep float64 for checking (float32 is for speed only).",
    ),
    "no-max-shift": (
        (4,),
        "softmax overflows on scores of about {score:.0f}: loss {loss}",
        "exp(score) overflows float64 beyond ~709, so the softmax is computed without subtracting each row's max.",
        "Use exp(s - s.max(axis=1, keepdims=True)): a per-row constant leaves softmax unchanged.",
    ),
    "_forward-fault": ((), "forward pass: {what}", "Evidence: {evidence}.", CHECK_FORWARD),
    "_forward": (
        (3,),
        "forward pass: the scores differ",
        "The fault is in (1)-(3): FC1_out = X.W1 + b1, H_out = max(0, FC1_out), FC2_out = H_out.W2 + b2.",
        "Fix the forward pass first: every later check depends on it.",
    ),
    "loss-sum": (
        (4,),
        "the data loss is summed over the N examples, not averaged",
        "L = -(1/N) sum_n log final_output[n, y_n]: divide by N.",
    ),
    "_data-loss": (
        (4,),
        "the data loss differs (reg = 0)",
        "L = -(1/N) sum_n log final_output[n, y_n], final_output the softmax of the scores.",
    ),
    "loss-l2-biases": (
        (),
        "the L2 term of the loss includes the biases",
        "Regularise the weights only: reg * (||W1||^2 + ||W2||^2).",
    ),
    "loss-l2": ((), "the loss is right at reg = 0 but its L2 term is not a multiple of reg * (||W1||^2 + ||W2||^2)"),
    "loss-l2-missing": ((), "the loss has no L2 term", "Add {times}reg * (||W1||^2 + ||W2||^2)."),
    "loss-l2-factor": (
        (),
        "the L2 term of the loss is {k:g} * reg * sum ||W||^2",
        "Your L2 term is {k:g} * reg * (||W1||^2 + ||W2||^2); this check expects {expected:g} * reg * (...).",
    ),
    "_shape": ((), "d{p} has shape {got}, but {p} has shape {want}: {why}", SHAPE),
    "missing-1/N": (
        (5,),
        "every gradient is N times too large: the 1/N of (5) is missing",
        "The solution write-up's (5) is {erratum}.",
        "The loss is a mean over the N examples, so dL/dFC2_out = (final_output - MaskMat) "
        "/ N (right at N = 1, where the cases agree).",
    ),
    "sign": (
        (5,),
        "every gradient has the wrong sign",
        "dL/dFC2_out = final_output - MaskMat (over N), not MaskMat - final_output; "
        "the update then subtracts the gradient.",
    ),
    "_all-four": ((5,), "all four gradients are wrong: the fault enters at dL/dFC2_out, before (6), (7), (9), (10)"),
    "relu-clip": (
        (8,),
        "the ReLU gradient is clipped by its sign, max(dL/dH_out, 0), instead of masked by the forward input",
        "That is the solution write-up's own (8), {erratum}.",
        "Zero dL/dH_out where FC1_out <= 0 (dhidden[FC1_out <= 0] = 0); keep negative gradients of live units.",
    ),
    "relu-unmasked": (
        (8,),
        "the ReLU gradient is not applied: dL/dFC1_out = dL/dH_out",
        "Units that were 0 in the forward pass (FC1_out <= 0) pass no gradient: mask by 1[FC1_out > 0].",
    ),
    "_relu": (
        (8,),
        "W1 and b1 are wrong while W2 and b2 are right: the fault enters between dL/dFC2_out and dL/dFC1_out",
    ),
    "_mean": (
        (),
        "d{p} is N times too small: averaged over the N rows although (5) already divided by N",
        "Sum over the rows (np.sum(..., axis=0)), do not take the mean: dL/dFC_out already carries the 1/N.",
    ),
    "scale-N": (
        (),
        "d{p} is N times too large",
        "It misses the 1/N the other gradients have: build it from the same dL/dFC_out.",
    ),
    "_sign-one": ((), "d{p} has the wrong sign"),
    "scale": ((), "d{p} is {k:g} times the right value"),
    "_one": ((), "d{p} is wrong while {others} {verb} right"),
    "bias-regularised": ((), "d{p} includes an L2 term: the bias is regularised", ONLY_WEIGHTS),
    "_bias-reg": ((), "d{p} is right at reg = 0, wrong at reg > 0", ONLY_WEIGHTS),
    "_l2": ((), "{ws} right at reg = 0 but wrong at reg > 0: the L2 term of the gradient"),
    "l2-missing": (
        (),
        "the L2 gradient is missing from {dws}",
        "Add {times}reg * W (the derivative of the loss's L2 term).",
    ),
    "l2-factor": (
        (),
        "the L2 gradient is {k_times}reg * W instead of {times}reg * W",
        "Your L2 gradient is {k_times}reg * W; with this loss's L2 term it must be "
        "{times}reg * W (the data part, checked at reg = 0, is right).",
    ),
    "kink": (
        (8,),
        "on the ReLU kink (FC1_out exactly 0) the gradient follows neither convention",
        "Right everywhere else. At FC1_out == 0 max(0, .) has no derivative; autonet uses 0 "
        "(mask FC1_out > 0), the mask FC1_out >= 0 uses 1. Either passes; this is neither.",
    ),
    "predict-no-b2": (
        (3,),
        "predict drops b2: it takes the argmax of H_out . W2, not of the scores",
        "predict(X) = argmax over classes of FC2_out = H_out . W2 + b2 (the solution write-up's predict forgets + b2).",
    ),
    "predict": ((), "predict disagrees with the argmax of the scores ({note})"),
    "_differ": ((), "{bad} differ from autonet's on some cases (see the table)"),
}


def _found(key: str, wrong=(), right=(), *, sig=None, eqs=None, extra=(), **names) -> Diagnosis:
    """The diagnosis ``key`` of :data:`FAULTS`, its texts formatted with ``names``; ``sig``, ``eqs`` override the
    table's signature and equations, ``extra`` are further detail lines."""
    equations, title, *detail = FAULTS[key]
    detail = [d.format(**names) for d in detail] + list(extra)
    return Diagnosis(
        title.format(**names),
        list(eqs or equations),
        list(wrong),
        list(right),
        sig or (None if key[0] == "_" else key),
        detail,
    )


def _scale(g: np.ndarray, r: np.ndarray) -> float | None:
    """The k with ``g == k * r`` (to SIG_TOL), or None."""
    g, r = np.ravel(np.asarray(g, dtype=np.float64)), np.ravel(np.asarray(r, dtype=np.float64))
    if g.shape != r.shape or not (np.all(np.isfinite(g)) and np.all(np.isfinite(r))):
        return None
    rr = float(r @ r)
    if rr == 0:
        return None
    k = float(g @ r) / rr
    scale = max(np.linalg.norm(g), np.linalg.norm(r))
    return k if np.linalg.norm(g - k * r) <= SIG_TOL * scale else None


def _common(ks: list) -> float | None:
    """The one value every k in ``ks`` is near (None when they differ, any is None, or there are none)."""
    return ks[0] if ks and ks[0] is not None and all(_near(k, ks[0]) for k in ks) else None


def _matches(g, candidate) -> bool:
    g = np.asarray(g, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    if g.size != candidate.size:
        return False
    g = g.reshape(candidate.shape)
    scale = max(np.abs(candidate).max(initial=0.0), 1e-12)
    return bool(np.all(np.isfinite(g)) and np.abs(g - candidate).max() <= SIG_TOL * scale)


def _near(k: float | None, value: float) -> bool:
    return k is not None and abs(k - value) <= 1e-6 * max(1.0, abs(value))


def _failing(runs, quantity) -> list:
    return [r for r in runs if quantity in r.checks and not r.checks[quantity].ok]


def diagnose(runs: list, extra: dict, target, l2: str = "half") -> list[Diagnosis]:
    """Diagnoses for a two-layer check's :class:`~autonet.checking.twolayer.CaseRun` list."""
    ok_runs = [r for r in runs if r.error is None]
    normal = [r for r in ok_runs if not r.case.kinks and not r.case.overflow]
    precision = _precision(ok_runs)
    found = [_exceptions(runs), precision]
    for key, check in (("in-place", extra.get("inputs")), ("init", extra.get("init"))):
        if check is not None and not check.ok:
            found.append(_found(key, what=check.note.partition(": ")[2]))
    failed = [c for r in runs for q, c in r.checks.items() if not c.ok and q != "fd"]  # fd of a float32 loss is noise
    if precision and all(c.error is not None and c.error < PRECISION_EXPLAINS for c in failed):
        return [d for d in found if d]  # every failure is within what the lost digits explain
    found += [_overflow(ok_runs, normal), forward := _forward(normal)]
    if not forward:  # downstream of wrong scores every comparison is moot
        loss_diag = _loss(normal, l2)
        found += [*loss_diag, *_gradients(normal, l2, loss_diag), _kinks(ok_runs, normal)]
    out = [d for d in [*found, _predict(extra)] if d]
    if not out and any(not c.ok for r in runs for c in r.checks.values()):
        bad = sorted({q for r in runs for q, c in r.checks.items() if not c.ok})
        out.append(_found("_differ", bad, bad=", ".join(bad)))
    return out


def _exceptions(runs) -> Diagnosis | None:
    if not (failed := [r for r in runs if r.error is not None]):
        return None
    return _found("exception", n=len(failed), total=len(runs), label=failed[0].label, error=failed[0].error)


def _precision(ok_runs) -> Diagnosis | None:
    low = sorted(
        {
            f"{name} {np.asarray(v).dtype}"
            for r in ok_runs
            for name, v in [("scores", r.scores), *[(f"d{k}", g) for k, g in r.grads.items()]]
            if v is not None and np.asarray(v).dtype.kind == "f" and np.asarray(v).dtype.itemsize < 8
        }
    )
    return _found("precision", low=", ".join(low)) if low else None


def _overflow(ok_runs, normal) -> Diagnosis | None:
    big = [r for r in ok_runs if r.case.overflow]
    if not big or not all(np.isfinite(r.loss) for r in normal):
        return None
    r = big[0]
    if np.isfinite(r.loss) and all(np.all(np.isfinite(g)) for g in r.grads.values()):
        return None
    return _found("no-max-shift", ["loss"], score=np.abs(r.ref.scores).max(), loss=r.loss)


FORWARD_FAULTS = {  # what -> (equation, signature, the scores that fault computes)
    "b2 is left out of (3)": (3, "no-b2", lambda p, X: np.maximum(X @ p["W1"] + p["b1"], 0) @ p["W2"]),
    "b1 is left out of (1)": (1, "no-b1", lambda p, X: np.maximum(X @ p["W1"], 0) @ p["W2"] + p["b2"]),
    "the ReLU (2) is missing": (2, "no-relu", lambda p, X: (X @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]),
    "a ReLU is also applied to the scores": (
        3,
        "relu-on-scores",
        lambda p, X: np.maximum(np.maximum(X @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"], 0),
    ),
}


def _forward(normal) -> Diagnosis | None:
    """A wrong forward pass, from the scores (classes) or, for a function, from its loss at reg = 0."""
    bad = _failing(normal, "scores")
    from_loss = not bad and not any("scores" in r.checks for r in normal)
    if from_loss:
        bad = [r for r in _failing(normal, "loss") if r.case.reg == 0]
    if not bad:
        return None
    for what, (eq, sig, fn) in FORWARD_FAULTS.items():
        if from_loss:
            hit = all(_near(r.loss, softmax_cross_entropy(fn(r.case.params, r.case.X), r.case.y)[0]) for r in bad)
            evidence = "your loss at reg = 0 is the cross-entropy of exactly those scores"
        else:
            hit = all(_matches(r.scores, fn(r.case.params, r.case.X)) for r in bad)
            evidence = "your scores are exactly those"
        if hit:
            quantity = "loss" if from_loss else "scores"
            return _found("_forward-fault", [quantity], sig=sig, eqs=[eq], what=what, evidence=evidence)
    return None if from_loss else _found("_forward", ["scores"])  # a function has no scores: the loss speaks


def _l2_sum(params, biases=False) -> float:
    keys = ("W1", "W2", "b1", "b2") if biases else ("W1", "W2")
    return float(sum(np.sum(params[k] ** 2) for k in keys))


def _loss(normal, l2) -> list[Diagnosis]:
    if not (bad := [r for r in _failing(normal, "loss") if r.checks.get("scores") is None or r.checks["scores"].ok]):
        return []
    if data_bad := [r for r in bad if r.case.reg == 0]:
        summed = all(_near(r.loss / r.ref.data_loss, r.case.X.shape[0]) for r in data_bad)
        return [_found("loss-sum" if summed else "_data-loss", ["loss"])]
    expected = 0.5 if l2 == "half" else 1.0
    if all(_near((r.loss - r.ref.data_loss) / (r.case.reg * _l2_sum(r.case.params, True)), expected) for r in bad):
        return [_found("loss-l2-biases", ["loss"])]
    k = _common([(r.loss - r.ref.data_loss) / (r.case.reg * _l2_sum(r.case.params)) for r in bad])
    if k is None:
        return [_found("loss-l2", ["loss"])]
    if _near(k, 0.0):
        return [_found("loss-l2-missing", ["loss"], times=_times(expected))]
    convention = []
    if _near(k, 1.0) and l2 == "half":
        convention.append(
            "That is the later edition's convention (no 0.5): if your assignment asks for it, "
            "run the check with --l2 full."
        )
    elif _near(k, 0.5) and l2 == "full":
        convention.append("That is the original edition's convention (0.5 * reg): run the check with --l2 half.")
    return [_found("loss-l2-factor", ["loss"], extra=convention, k=k, expected=expected)]


def _shape_diag(runs, p) -> Diagnosis | None:
    for r in runs:
        got, want = np.shape(r.grads[p]), r.case.params[p].shape
        if got != want:
            if int(np.prod(got)) == int(np.prod(want)):
                why = "summed with keepdims=True (or reshaped)"
            else:
                why = "summed over the wrong axis" if p.startswith("b") else "transposed or built from the wrong arrays"
            sig = "bias-shape" if p.startswith("b") else "shape"
            return _found("_shape", [p], sig=sig, eqs=[PRODUCED_BY[p]], p=p, got=got, want=want, why=why)
    return None


def _gradients(normal, l2, loss_diag) -> list[Diagnosis]:
    out = []
    zero = [r for r in normal if r.case.reg == 0]
    positive = [r for r in normal if r.case.reg > 0]
    wrong0 = [p for p in PARAM_NAMES if _failing(zero, p)]
    wrong_reg = [p for p in PARAM_NAMES if p not in wrong0 and _failing(positive, p)]
    right = [p for p in PARAM_NAMES if p not in wrong0]
    fd_note = _fd_note(normal)
    if set(wrong0) == set(PARAM_NAMES):
        out.append(_all_four(zero, fd_note))
    elif wrong0 and not {"W2", "b2"} & set(wrong0) and {"W1", "b1"} <= set(wrong0):
        out.append(_relu(zero, right, fd_note))
    else:
        out += [_shape_diag(zero, p) or _one_gradient(zero, p, right, fd_note) for p in wrong0]
    if wrong_reg:
        right_reg = [p for p in right if p not in wrong_reg]
        out += _l2_gradient(positive, wrong_reg, right_reg, l2, loss_diag)
    return out


def _fd_note(normal) -> list[str]:
    """What finite differences of the target's own loss add to a gradient diagnosis (a detail line, or none)."""
    if not (fd := [r.checks["fd"] for r in normal if "fd" in r.checks]):
        return []
    if all(c.ok for c in fd):
        return [
            "Finite differences of your own loss agree with your gradients: the gradients fit your loss, "
            "so the loss itself is a different function."
        ]
    return ["Finite differences of your own loss disagree with your gradients too: the backward pass is wrong."]


def _all_four(zero, fd_note) -> Diagnosis:
    bad = [r for r in zero if any(not r.checks[p].ok for p in PARAM_NAMES)]
    ks = [[_scale(r.grads[p], r.ref.data_grads[p]) for p in PARAM_NAMES] for r in bad]
    if bad and all(all(_near(k, r.case.X.shape[0]) for k in row) for r, row in zip(bad, ks, strict=True)):
        return _found("missing-1/N", PARAM_NAMES, erratum=SEED_ERRATA[5])
    if bad and all(all(_near(k, -1.0) for k in row) for row in ks):
        return _found("sign", PARAM_NAMES)
    return _found("_all-four", PARAM_NAMES, extra=fd_note)


def _relu(zero, right, fd_note) -> Diagnosis:
    bad = [r for r in zero if not (r.checks["W1"].ok and r.checks["b1"].ok)]
    for variant, sig in (("clip", "relu-clip"), ("none", "relu-unmasked")):
        if bad and all(
            _matches(r.grads[k], relu_variant_grads(r.case, r.ref, variant)[k]) for r in bad for k in ("W1", "b1")
        ):
            return _found(sig, ["W1", "b1"], right, erratum=SEED_ERRATA[8])
    return _found("_relu", ["W1", "b1"], right, extra=fd_note)


def _one_gradient(zero, p, right, fd_note) -> Diagnosis:
    bad = _failing(zero, p)
    ks = [_scale(r.grads[p], r.ref.data_grads[p]) for r in bad]
    ns = [r.case.X.shape[0] for r in bad]
    others = [q for q in right if q != p]
    found = functools.partial(_found, wrong=[p], right=others, eqs=[PRODUCED_BY[p]], p=p)
    if ks and all(_near(k, 1.0 / n) for k, n in zip(ks, ns, strict=True)):
        return found("_mean", sig="bias-mean" if p[0] == "b" else "scale")
    if ks and all(_near(k, float(n)) for k, n in zip(ks, ns, strict=True)):
        return found("scale-N")
    if ks and all(_near(k, -1.0) for k in ks):
        return found("_sign-one", sig="sign")
    if (k := _common(ks)) is not None:
        return found("scale", k=k)
    return found(
        "_one", extra=fd_note, others=", ".join(others) or "nothing else", verb="is" if len(others) == 1 else "are"
    )


def _l2_scales(positive, p) -> list[float | None]:
    """Per failing case, the k with ``d{p} - (data part) == k * reg * p`` (None when it is no such multiple)."""
    return [_scale(r.grads[p] - r.ref.data_grads[p], r.case.reg * r.case.params[p]) for r in _failing(positive, p)]


def _l2_gradient(positive, wrong, right, l2, loss_diag) -> list[Diagnosis]:
    expected = L2_FACTORS[l2]
    out = []
    for p in [p for p in wrong if p.startswith("b")]:
        ks = _l2_scales(positive, p)
        key = "bias-regularised" if ks and all(k is not None for k in ks) else "_bias-reg"
        out.append(_found(key, [p], right, eqs=[PRODUCED_BY[p]], p=p))
    if not (ws := [p for p in wrong if p.startswith("W")]):
        return out
    found = functools.partial(_found, wrong=ws, right=right, eqs=[PRODUCED_BY[p] for p in ws])
    k = _common([k for p in ws for k in _l2_scales(positive, p)])
    if k is None:
        return [*out, found("_l2", ws=", ".join(ws))]
    if _near(k, 0.0):
        return [*out, found("l2-missing", dws=", ".join(f"d{p}" for p in ws), times=_times(expected))]
    consistent = any(d.signature == "loss-l2-factor" for d in loss_diag)
    convention = []
    if _near(k, 2.0) and l2 == "half":
        convention.append(
            "2 * reg * W is the gradient of the later edition's reg * ||W||^2"
            + (
                ", and your loss uses that convention too: run the check with --l2 full."
                if consistent
                else ", but your loss is 0.5 * reg * ||W||^2: make them agree."
            )
        )
    elif _near(k, 1.0) and l2 == "full":
        convention.append(
            "reg * W belongs to the original edition's loss 0.5 * reg * ||W||^2"
            + (": run the check with --l2 half." if consistent else ".")
        )
    return [*out, found("l2-factor", extra=convention, k_times=_times(k), times=_times(expected))]


def _times(k: float) -> str:
    return "" if _near(k, 1.0) else f"{k:g} * "


def _kinks(ok_runs, normal) -> Diagnosis | None:
    kink = [r for r in ok_runs if r.case.kinks]
    if not kink or _failing(normal, "W1") or _failing(normal, "b1"):
        return None
    bad = [k for k in ("W1", "b1") if _failing(kink, k)]
    return _found("kink", bad) if bad else None


def _predict(extra) -> Diagnosis | None:
    check = extra.get("predict")
    if check is None or check.ok:
        return None
    case = predict_case(np.random.default_rng(7))
    got = extra.get("predicted")
    without_b2 = FORWARD_FAULTS["b2 is left out of (3)"][2](case.params, case.X).argmax(axis=1)
    if got is not None and np.shape(got) == without_b2.shape and np.array_equal(got, without_b2):
        return _found("predict-no-b2", ["predict"])
    return _found("predict", ["predict"], note=check.note)
