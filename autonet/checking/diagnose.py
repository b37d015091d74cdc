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
from autonet.checking.equations import PRODUCED_BY, SEED_ERRATA
from autonet.checking.report import Diagnosis
from autonet.checking.target import PARAM_NAMES
from autonet.checking.variants import L2_FACTORS, relu_variant_grads

SIG_TOL = 1e-6  # a candidate "matches" when within this relative error
PRECISION_EXPLAINS = 1e-3  # float32 results miss by ~1e-7..1e-4; larger errors are faults of their own


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


def _failing(runs, quantity, where=lambda r: True) -> list:
    return [r for r in runs if quantity in r.checks and not r.checks[quantity].ok and where(r)]


def diagnose(runs: list, extra: dict, target, l2: str = "half") -> list[Diagnosis]:
    """Diagnoses for a two-layer check's :class:`~autonet.checking.twolayer.CaseRun` list."""
    ok_runs = [r for r in runs if r.error is None]
    normal = [r for r in ok_runs if not r.case.kinks and not r.case.overflow]
    precision = _precision(ok_runs)
    found = [_exceptions(runs), _mutation(extra.get("inputs")), _init(extra.get("init")), precision]
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
        out.append(Diagnosis(f"{', '.join(bad)} differ from autonet's on some cases (see the table)", wrong=bad))
    return out


def _exceptions(runs) -> Diagnosis | None:
    failed = [r for r in runs if r.error is not None]
    if not failed:
        return None
    first = failed[0]
    return Diagnosis(
        f"raised on {len(failed)} of {len(runs)} cases, first on {first.label}: {first.error}",
        signature="exception",
    )


def _mutation(check) -> Diagnosis | None:
    if check is None or check.ok:
        return None
    return Diagnosis(
        f"inputs modified in place: {check.note.partition(': ')[2]}",
        signature="in-place",
        detail=[
            "The caller's arrays change under it: the training loop then steps from corrupted weights or data.",
            "Compute into new arrays (X = X - m, not X -= m; dW = W.copy() before +=).",
        ],
    )


def _init(check) -> Diagnosis | None:
    if check is None or check.ok:
        return None
    return Diagnosis(
        "np.random.seed(0); Net(4, 10, 3, std=0.1) does not draw the exercise's toy weights",
        signature="init",
        detail=[
            "The exercise draws W1 = std * np.random.randn(D, H), b1 = zeros(H), "
            "W2 = std * np.random.randn(H, C), b2 = zeros(C), in that order, from NumPy's "
            "global state; otherwise its hard-coded correct_scores cannot match."
        ],
    )


def _precision(ok_runs) -> Diagnosis | None:
    low = sorted(
        {
            f"{name} {np.asarray(v).dtype}"
            for r in ok_runs
            for name, v in [("scores", r.scores), *[(f"d{k}", g) for k, g in r.grads.items()]]
            if v is not None and np.asarray(v).dtype.kind == "f" and np.asarray(v).dtype.itemsize < 8
        }
    )
    if not low:
        return None
    return Diagnosis(
        f"computed in lower precision than float64: {', '.join(low)}",
        signature="precision",
        detail=[
            "The inputs are float64; a cast to float32 loses ~8 digits, more than any gradient "
            "check tolerates. Keep float64 for checking (float32 is for speed only)."
        ],
    )


def _overflow(ok_runs, normal) -> Diagnosis | None:
    big = [r for r in ok_runs if r.case.overflow]
    if not big or not all(np.isfinite(r.loss) for r in normal):
        return None
    r = big[0]
    if np.isfinite(r.loss) and all(np.all(np.isfinite(g)) for g in r.grads.values()):
        return None
    return Diagnosis(
        f"softmax overflows on scores of about {np.abs(r.ref.scores).max():.0f}: loss {r.loss}",
        equations=[4],
        wrong=["loss"],
        signature="no-max-shift",
        detail=[
            "exp(score) overflows float64 beyond ~709, so the softmax is computed without subtracting each row's max.",
            "Use exp(s - s.max(axis=1, keepdims=True)): a per-row constant leaves softmax unchanged.",
        ],
    )


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


def _mean_cross_entropy(scores: np.ndarray, y: np.ndarray) -> float:
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(y)), y].mean())


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
            hit = all(_near(r.loss, _mean_cross_entropy(fn(r.case.params, r.case.X), r.case.y)) for r in bad)
        else:
            hit = all(_matches(r.scores, fn(r.case.params, r.case.X)) for r in bad)
        if hit:
            evidence = (
                "your loss at reg = 0 is the cross-entropy of exactly those scores"
                if from_loss
                else "your scores are exactly those"
            )
            return Diagnosis(
                f"forward pass: {what}",
                equations=[eq],
                wrong=["loss" if from_loss else "scores"],
                signature=sig,
                detail=[
                    f"Evidence: {evidence}.",
                    "Every loss and gradient downstream is computed from these scores: fix the forward pass first.",
                ],
            )
    if from_loss:
        return None  # a function has no scores to blame: the loss diagnosis speaks
    return Diagnosis(
        "forward pass: the scores differ",
        equations=[3],
        wrong=["scores"],
        detail=[
            "The fault is in (1)-(3): FC1_out = X.W1 + b1, H_out = max(0, FC1_out), FC2_out = H_out.W2 + b2.",
            "Fix the forward pass first: every later check depends on it.",
        ],
    )


def _l2_sum(params, biases=False) -> float:
    keys = ("W1", "W2", "b1", "b2") if biases else ("W1", "W2")
    return float(sum(np.sum(params[k] ** 2) for k in keys))


def _loss(normal, l2) -> list[Diagnosis]:
    bad = [r for r in _failing(normal, "loss") if r.checks.get("scores") is None or r.checks["scores"].ok]
    if not bad:
        return []
    data_bad = [r for r in bad if r.case.reg == 0]
    found = functools.partial(Diagnosis, wrong=["loss"])
    if data_bad:
        if all(_near(r.loss / r.ref.data_loss, r.case.X.shape[0]) for r in data_bad):
            title = "the data loss is summed over the N examples, not averaged"
            fix = "L = -(1/N) sum_n log final_output[n, y_n]: divide by N."
            return [found(title, equations=[4], signature="loss-sum", detail=[fix])]
        fix = "L = -(1/N) sum_n log final_output[n, y_n], final_output the softmax of the scores."
        return [found("the data loss differs (reg = 0)", equations=[4], detail=[fix])]
    expected = 0.5 if l2 == "half" else 1.0
    ks = [(r.loss - r.ref.data_loss) / (r.case.reg * _l2_sum(r.case.params)) for r in bad]
    kb = [(r.loss - r.ref.data_loss) / (r.case.reg * _l2_sum(r.case.params, True)) for r in bad]
    if all(_near(k, expected) for k in kb):
        detail = ["Regularise the weights only: reg * (||W1||^2 + ||W2||^2)."]
        return [found("the L2 term of the loss includes the biases", signature="loss-l2-biases", detail=detail)]
    k = ks[0]
    if not all(_near(x, k) for x in ks):
        title = "the loss is right at reg = 0 but its L2 term is not a multiple of reg * (||W1||^2 + ||W2||^2)"
        return [found(title, signature="loss-l2")]
    detail = [f"Your L2 term is {k:g} * reg * (||W1||^2 + ||W2||^2); this check expects {expected:g} * reg * (...)."]
    if _near(k, 1.0) and l2 == "half":
        detail.append(
            "That is the later edition's convention (no 0.5): if your assignment asks for it, "
            "run the check with --l2 full."
        )
    elif _near(k, 0.5) and l2 == "full":
        detail.append("That is the original edition's convention (0.5 * reg): run the check with --l2 half.")
    elif _near(k, 0.0):
        detail = ["Add 0.5 * reg * (||W1||^2 + ||W2||^2)." if l2 == "half" else "Add reg * (||W1||^2 + ||W2||^2)."]
    return [
        found(
            "the loss has no L2 term" if _near(k, 0.0) else f"the L2 term of the loss is {k:g} * reg * sum ||W||^2",
            signature="loss-l2-missing" if _near(k, 0.0) else "loss-l2-factor",
            detail=detail,
        )
    ]


def _shape_diag(runs, p) -> Diagnosis | None:
    for r in runs:
        got, want = np.shape(r.grads[p]), r.case.params[p].shape
        if got != want:
            why = (
                "summed with keepdims=True (or reshaped)"
                if int(np.prod(got)) == int(np.prod(want))
                else "summed over the wrong axis"
                if p.startswith("b")
                else "transposed or built from the wrong arrays"
            )
            return Diagnosis(
                f"d{p} has shape {got}, but {p} has shape {want}: {why}",
                equations=[PRODUCED_BY[p]],
                wrong=[p],
                signature="bias-shape" if p.startswith("b") else "shape",
                detail=[
                    "A gradient has its parameter's shape; a bias gradient sums over the N rows "
                    "(axis 0) to shape (H,) or (C,)."
                ],
            )
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
    fd = [r.checks["fd"] for r in normal if "fd" in r.checks]
    if not fd:
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
    found = functools.partial(Diagnosis, equations=[5], wrong=list(PARAM_NAMES))
    if bad and all(all(_near(k, r.case.X.shape[0]) for k in row) for r, row in zip(bad, ks, strict=True)):
        return found(
            "every gradient is N times too large: the 1/N of (5) is missing",
            signature="missing-1/N",
            detail=[
                f"The solution write-up's (5) is {SEED_ERRATA[5]}.",
                "The loss is a mean over the N examples, so dL/dFC2_out = (final_output - MaskMat) "
                "/ N (right at N = 1, where the cases agree).",
            ],
        )
    if bad and all(all(_near(k, -1.0) for k in row) for row in ks):
        return found(
            "every gradient has the wrong sign",
            signature="sign",
            detail=[
                "dL/dFC2_out = final_output - MaskMat (over N), not MaskMat - final_output; "
                "the update then subtracts the gradient."
            ],
        )
    return found(
        "all four gradients are wrong: the fault enters at dL/dFC2_out, before (6), (7), (9), (10)",
        detail=fd_note,
    )


def _relu(zero, right, fd_note) -> Diagnosis:
    found = functools.partial(Diagnosis, equations=[8], wrong=["W1", "b1"], right=right)
    bad = [r for r in zero if not (r.checks["W1"].ok and r.checks["b1"].ok)]
    for variant, (sig, title, detail) in {
        "clip": (
            "relu-clip",
            "the ReLU gradient is clipped by its sign, max(dL/dH_out, 0), instead of masked by the forward input",
            [
                f"That is the solution write-up's own (8), {SEED_ERRATA[8]}.",
                "Zero dL/dH_out where FC1_out <= 0 (dhidden[FC1_out <= 0] = 0); keep negative gradients of live units.",
            ],
        ),
        "none": (
            "relu-unmasked",
            "the ReLU gradient is not applied: dL/dFC1_out = dL/dH_out",
            ["Units that were 0 in the forward pass (FC1_out <= 0) pass no gradient: mask by 1[FC1_out > 0]."],
        ),
    }.items():
        if bad and all(
            _matches(r.grads[k], relu_variant_grads(r.case, r.ref, variant)[k]) for r in bad for k in ("W1", "b1")
        ):
            return found(title, signature=sig, detail=detail)
    return found(
        "W1 and b1 are wrong while W2 and b2 are right: the fault enters between dL/dFC2_out and dL/dFC1_out",
        detail=fd_note,
    )


def _one_gradient(zero, p, right, fd_note) -> Diagnosis:
    eq = PRODUCED_BY[p]
    bad = _failing(zero, p)
    ks = [_scale(r.grads[p], r.ref.data_grads[p]) for r in bad]
    ns = [r.case.X.shape[0] for r in bad]
    others = [q for q in right if q != p]
    found = functools.partial(Diagnosis, equations=[eq], wrong=[p], right=others)
    if ks and all(_near(k, 1.0 / n) for k, n in zip(ks, ns, strict=True)):
        return found(
            f"d{p} is N times too small: averaged over the N rows although (5) already divided by N",
            signature="bias-mean" if p[0] == "b" else "scale",
            detail=[
                "Sum over the rows (np.sum(..., axis=0)), do not take the mean: dL/dFC_out already carries the 1/N."
            ],
        )
    if ks and all(_near(k, float(n)) for k, n in zip(ks, ns, strict=True)):
        return found(
            f"d{p} is N times too large",
            signature="scale-N",
            detail=["It misses the 1/N the other gradients have: build it from the same dL/dFC_out."],
        )
    if ks and all(_near(k, -1.0) for k in ks):
        return found(f"d{p} has the wrong sign", signature="sign")
    known = [k for k in ks if k is not None]
    if ks and len(known) == len(ks) and all(_near(k, known[0]) for k in known):
        return found(f"d{p} is {known[0]:g} times the right value", signature="scale")
    return found(
        f"d{p} is wrong while {', '.join(others) or 'nothing else'} {'is' if len(others) == 1 else 'are'} right",
        detail=fd_note,
    )


def _l2_scales(positive, p) -> list[float | None]:
    """Per failing case, the k with ``d{p} - (data part) == k * reg * p`` (None when it is no such multiple)."""
    return [_scale(r.grads[p] - r.ref.data_grads[p], r.case.reg * r.case.params[p]) for r in _failing(positive, p)]


def _l2_gradient(positive, wrong, right, l2, loss_diag) -> list[Diagnosis]:
    expected = L2_FACTORS[l2]
    out = []
    ws = [p for p in wrong if p.startswith("W")]
    for p in [p for p in wrong if p.startswith("b")]:
        ks = _l2_scales(positive, p)
        sig, title = (
            ("bias-regularised", f"d{p} includes an L2 term: the bias is regularised")
            if ks and all(k is not None for k in ks)
            else (None, f"d{p} is right at reg = 0, wrong at reg > 0")
        )
        detail = ["Only the weights are regularised: the bias gradient has no reg term."]
        out.append(Diagnosis(title, [7 if p == "b2" else 10], [p], right, sig, detail))
    if not ws:
        return out
    found = functools.partial(Diagnosis, equations=[PRODUCED_BY[p] for p in ws], wrong=ws, right=right)
    ks = [k for p in ws for k in _l2_scales(positive, p)]
    known = [k for k in ks if k is not None]
    if not (ks and len(known) == len(ks) and all(_near(k, known[0]) for k in known)):
        return [*out, found(f"{', '.join(ws)} right at reg = 0 but wrong at reg > 0: the L2 term of the gradient")]
    k = known[0]
    detail = [
        f"Your L2 gradient is {_times(k)}reg * W; with this loss's L2 term it must be "
        f"{_times(expected)}reg * W (the data part, checked at reg = 0, is right)."
    ]
    consistent = any(d.signature == "loss-l2-factor" for d in loss_diag)
    if _near(k, 2.0) and l2 == "half":
        detail.append(
            "2 * reg * W is the gradient of the later edition's reg * ||W||^2"
            + (
                ", and your loss uses that convention too: run the check with --l2 full."
                if consistent
                else ", but your loss is 0.5 * reg * ||W||^2: make them agree."
            )
        )
    elif _near(k, 1.0) and l2 == "full":
        detail.append(
            "reg * W belongs to the original edition's loss 0.5 * reg * ||W||^2"
            + (": run the check with --l2 half." if consistent else ".")
        )
    if _near(k, 0.0):
        detail = [f"Add {_times(expected)}reg * W (the derivative of the loss's L2 term)."]
        return [
            *out,
            found(
                f"the L2 gradient is missing from {', '.join(f'd{p}' for p in ws)}",
                signature="l2-missing",
                detail=detail,
            ),
        ]
    title = f"the L2 gradient is {_times(k)}reg * W instead of {_times(expected)}reg * W"
    return [*out, found(title, signature="l2-factor", detail=detail)]


def _times(k: float) -> str:
    return "" if _near(k, 1.0) else f"{k:g} * "


def _kinks(ok_runs, normal) -> Diagnosis | None:
    kink = [r for r in ok_runs if r.case.kinks]
    if not kink or _failing(normal, "W1") or _failing(normal, "b1"):
        return None
    if not (bad := [k for k in ("W1", "b1") if _failing(kink, k)]):
        return None
    return Diagnosis(
        "on the ReLU kink (FC1_out exactly 0) the gradient follows neither convention",
        equations=[8],
        wrong=bad,
        signature="kink",
        detail=[
            "Right everywhere else. At FC1_out == 0 max(0, .) has no derivative; autonet uses 0 "
            "(mask FC1_out > 0), the mask FC1_out >= 0 uses 1. Either passes; this is neither."
        ],
    )


def _predict(extra) -> Diagnosis | None:
    check = extra.get("predict")
    if check is None or check.ok:
        return None
    case = predict_case(np.random.default_rng(7))
    got = extra.get("predicted")
    without_b2 = FORWARD_FAULTS["b2 is left out of (3)"][2](case.params, case.X).argmax(axis=1)
    if got is not None and np.shape(got) == without_b2.shape and np.array_equal(got, without_b2):
        return Diagnosis(
            "predict drops b2: it takes the argmax of H_out . W2, not of the scores",
            equations=[3],
            wrong=["predict"],
            signature="predict-no-b2",
            detail=[
                "predict(X) = argmax over classes of FC2_out = H_out . W2 + b2 (the solution write-up's predict forgets + b2)."
            ],
        )
    return Diagnosis(
        f"predict disagrees with the argmax of the scores ({check.note})", wrong=["predict"], signature="predict"
    )
