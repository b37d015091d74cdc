"""Numerical gradients, the relative error used to compare gradients, and the
sampled, noise-aware gradient check behind ``autonet gradcheck``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from autonet.manual.layers import softmax_cross_entropy
from autonet.net import scores


def rel_error(x: ArrayLike, y: ArrayLike) -> float:
    """The exercise's ``max |x - y| / max(1e-8, |x| + |y|)``, elementwise max."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_gradient(f: Callable[[], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Centred differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` for every entry of ``x``.

    ``f`` takes no arguments and reads ``x``, which is perturbed in place
    and restored. Cost: 2 evaluations of ``f`` per entry; use tiny shapes.
    """
    return sampled_numerical_gradient(f, x, np.arange(x.size), h).reshape(x.shape)


def random_direction(params: dict, rng: np.random.Generator) -> dict:
    """A random unit vector through every array of ``params`` (same keys and shapes)."""
    v = {k: rng.standard_normal(np.shape(p)) for k, p in params.items()}
    norm = np.sqrt(sum(float(np.sum(d * d)) for d in v.values()))
    return {k: d / norm for k, d in v.items()}


def along_direction(grads: dict, v: dict) -> float:
    """``sum_k <grads[k], v[k]>``: the directional derivative the gradient claims."""
    return float(sum(np.sum(np.asarray(grads[k], dtype=np.float64) * v[k]) for k in v))


def directional_derivatives(
    f: Callable[[], float], params: dict, grads: dict, h: float, direction: dict | np.random.Generator
) -> tuple[float, float]:
    """``(sum_k <grads[k], v_k>, (f(p + h v) - f(p - h v)) / 2h)`` along ``direction`` (or a
    :func:`random_direction` drawn from it); ``params`` are perturbed in place and restored, ``f`` reads them.

    A fault anywhere in any gradient shows here, however wide the layer, where
    sampled entries can miss it.
    """
    v = direction if isinstance(direction, dict) else random_direction(params, direction)
    along = along_direction(grads, v)
    saved = {k: p.copy() for k, p in params.items()}
    try:
        for k in params:
            params[k][...] = saved[k] + h * v[k]
        plus = f()
        for k in params:
            params[k][...] = saved[k] - h * v[k]
        minus = f()
    finally:
        for k in params:
            params[k][...] = saved[k]
    return along, (plus - minus) / (2 * h)


def numerical_param_grads(loss_fn: Callable[[dict], float], params: dict, h: float = 1e-5) -> dict:
    """Centred-difference gradient of ``loss_fn(params)`` for every array in ``params``."""
    return {k: numerical_gradient(lambda: loss_fn(params), params[k], h) for k in params}


def max_rel_error(a: dict, b: dict) -> float:
    """Largest :func:`rel_error` over the keys of two gradient dicts (same keys)."""
    if a.keys() != b.keys():
        raise ValueError(f"gradient keys differ: {sorted(a)} vs {sorted(b)}")
    return max(rel_error(a[k], b[k]) for k in a)


# ----- the sampled, noise-aware check behind `autonet gradcheck` -----

H = 1e-5
"""Step of the centred differences (the exercise's)."""
MIN_H = 1e-9
"""Smallest step tried for an entry whose difference straddles a ReLU kink."""
RTOL = 1e-6
"""Relative part of the verdict: centred differences are exact to O(h^2) ~ 1e-10 away from kinks."""
FLOOR_ULPS = 10
"""Absolute part, in units of ``eps * max(1, |loss|) / h``: the rounding error of a centred difference."""
EPS = float(np.finfo(np.float64).eps)


def noise_floor(loss: float, h: float | np.ndarray = H) -> float | np.ndarray:
    """Absolute tolerance of a centred-difference derivative of a loss of size ``|loss|``.

    Each loss is computed with a rounding error of a few ``eps * max(1, |loss|)``;
    dividing the difference of two of them by ``2h`` turns that into
    ``~eps * max(1, |loss|) / h`` of noise in the derivative, which no correct
    gradient can be held to. ``FLOOR_ULPS`` of it: 2.2e-10 for a loss of 1 at
    h=1e-5. The noise measured on nets from 5-7-3 to 3072-1000-10 and
    500-500-500-10, batches of 4 to 500, saturated softmax included, stayed
    under 0.5 of ``eps * max(1, |loss|) / h``.
    """
    return FLOOR_ULPS * EPS * max(1.0, abs(loss)) / h


def within_tolerance(
    analytic: np.ndarray | float, reference: np.ndarray | float, floor: float | np.ndarray, rtol: float = RTOL
) -> np.ndarray:
    """Elementwise ``|a - r| <= rtol * max(|a|, |r|) + floor``; NaN or inf anywhere is False."""
    a, r = np.asarray(analytic, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = np.abs(a - r) <= rtol * np.maximum(np.abs(a), np.abs(r)) + floor
    return ok & np.isfinite(a) & np.isfinite(r)


def sampled_numerical_gradient(
    f: Callable[[], float],
    x: np.ndarray,
    flat_indices: np.ndarray,
    h: float = H,
    on_evaluation: Callable[[], None] | None = None,
) -> np.ndarray:
    """Centred differences ``(f(x + h e_i) - f(x - h e_i)) / 2h`` at ``flat_indices`` of ``x`` only.

    The exercise's sparse check: 2 evaluations of ``f`` per index, whatever
    the size of ``x``. ``x`` is perturbed in place and restored.
    """
    out = np.empty(len(flat_indices), dtype=np.float64)
    for j, flat_index in enumerate(flat_indices):
        i = np.unravel_index(flat_index, x.shape)
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        out[j] = (fp - fm) / (2 * h)
        if on_evaluation is not None:
            on_evaluation()
    return out


def relu_pattern(params: dict, X: np.ndarray) -> np.ndarray:
    """Which hidden units are active (pre-activation > 0) on each row, flattened.

    The net is linear in every parameter while this pattern stays put; a
    centred difference whose two ends see different patterns straddles a kink.
    """
    L = sum(1 for k in params if k.startswith("W"))
    h, masks = X, []
    for i in range(1, L):
        a = h @ params[f"W{i}"] + params[f"b{i}"]
        masks.append((a > 0).ravel())
        h = a * masks[-1].reshape(a.shape)
    return np.concatenate(masks) if masks else np.zeros(0, dtype=bool)


def kink_free_step(params: dict, X: np.ndarray, direction: dict, h: float = H) -> float | None:
    """The largest of ``h, h/10, ..., MIN_H`` at which ``params +- step * direction`` keep the ReLU pattern
    (None: none). ``direction`` maps some of the keys of ``params`` to arrays of their shapes (a one-hot array:
    one entry moves)."""
    base, step = relu_pattern(params, X), h
    while step >= MIN_H:
        ends = [{k: w + s * direction[k] if k in direction else w for k, w in params.items()} for s in (step, -step)]
        if all(np.array_equal(relu_pattern(end, X), base) for end in ends):
            return step
        step /= 10
    return None


@dataclass
class EntryCheck:
    """One parameter of one backend: sampled analytic vs numeric entries.

    ``floor`` is per entry (an entry re-differenced with a smaller step has a
    larger floor); ``skipped`` entries sit on a kink even at ``MIN_H`` and
    are left out of the verdict.
    """

    backend: str
    name: str
    shape: tuple
    indices: np.ndarray
    analytic: np.ndarray
    numeric: np.ndarray
    floor: np.ndarray
    skipped: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Per entry: within tolerance (skipped entries count as ok)."""
        return within_tolerance(self.analytic, self.numeric, self.floor) | self.skipped

    @property
    def passed(self) -> bool:
        return bool(self.ok.all())

    @property
    def rel_error(self) -> float:
        """The exercise's relative error over the checked entries (NaN if any is NaN)."""
        a, n = self.analytic[~self.skipped], self.numeric[~self.skipped]
        if not (np.isfinite(a).all() and np.isfinite(n).all()):
            return float("nan")
        return rel_error(a, n)

    @property
    def worst(self) -> int:
        """Position (in ``indices``) of the entry furthest outside its tolerance."""
        a, n = self.analytic, self.numeric
        with np.errstate(invalid="ignore", over="ignore"):
            excess = (np.abs(a - n) - RTOL * np.maximum(np.abs(a), np.abs(n)) - self.floor) / self.floor
        excess = np.where(np.isfinite(excess), excess, np.inf)
        return int(np.argmax(np.where(self.skipped, -np.inf, excess)))


@dataclass
class GradcheckReport:
    """Everything ``autonet gradcheck`` prints; :attr:`passed` is the verdict."""

    losses: dict[str, float]
    reference_loss: float = float("nan")
    checks: list[EntryCheck] = field(default_factory=list)
    cross: dict[str, float] = field(default_factory=dict)  # parameter -> max |difference| between backends
    cross_floor: float = 0.0
    restepped: dict[str, int] = field(default_factory=dict)  # parameter -> entries re-differenced off a kink
    directional: dict[str, tuple[float, float]] = field(default_factory=dict)  # backend -> (analytic, numeric)
    directional_step: float | None = None  # None: every step down to MIN_H crossed a ReLU kink, not checked
    problems: list[str] = field(default_factory=list)  # non-finite values, disagreements, in words

    @property
    def passed(self) -> bool:
        return not self.problems and all(c.passed for c in self.checks)


def _non_finite(arrays: dict[str, np.ndarray]) -> list[str]:
    """Names of the arrays holding NaN or inf, with what they hold."""
    kinds = {
        name: [k for k, bad in (("NaN", np.isnan), ("inf", np.isinf)) if bad(a).any()] for name, a in arrays.items()
    }
    return [f"{name} holds {' and '.join(k)}" for name, k in kinds.items() if k]


def forward_loss(params: dict, X: np.ndarray, y: np.ndarray, reg: float = 0.0) -> float:
    """The loss of the backend contract, forward only: ``softmax CE(scores) + 0.5 * reg * sum_l ||W_l||^2``.

    Mean softmax cross-entropy (eq. (4) of the exercise) of :func:`autonet.net.scores`
    (plain ReLU nets) plus the L2 term on the weights -- what every backend's
    ``loss`` must equal, without the cost of a backward pass.
    """
    data_loss, _ = softmax_cross_entropy(scores(params, X), y)
    return data_loss + 0.5 * reg * sum(float(np.sum(np.square(w))) for k, w in params.items() if k.startswith("W"))


def check_gradients(
    backends: dict[str, Callable],
    params: dict,
    X: np.ndarray,
    y: np.ndarray,
    reg: float = 0.0,
    num_checks: int = 10,
    h: float = H,
    rng: np.random.Generator | int | None = None,
    on_evaluation: Callable[[], None] | None = None,
) -> GradcheckReport:
    """Hold every backend's loss and gradient of a plain ReLU net against :func:`forward_loss`.

    ``num_checks`` entries of each parameter (all of a smaller parameter) are
    differentiated numerically (two forward evaluations per entry) and every
    backend's analytic gradient there is held to them under
    :func:`within_tolerance` with floor :func:`noise_floor` of the loss. An
    entry outside tolerance whose difference straddles a ReLU kink
    (:func:`relu_pattern` changes) is re-differenced with the largest step
    down to ``MIN_H`` that does not; a wrong gradient stays wrong at any step.
    Each backend's loss must equal the forward loss, and the backends' full
    gradients must agree with each other (rtol 1e-9, floor ``noise_floor * h``).
    Any NaN or inf -- in ``params``, ``X``, a loss, a gradient, a numeric
    derivative -- is a problem, so the report fails.

    Parameters
    ----------
    backends : name -> ``loss_and_grads`` (the backend contract)
    params : float64 dict ``W1, b1, ..., WL, bL``; perturbed in place during the check and restored
    X, y : (N, D) float64 inputs and (N,) int labels
    reg : L2 strength
    num_checks : entries sampled per parameter
    h : finite-difference step
    rng : generator (or seed) for the sampled entries
    on_evaluation : called after every numeric derivative (progress)
    """
    rng = np.random.default_rng(rng)
    report = GradcheckReport(losses={})
    report.problems += [f"parameter {p}" for p in _non_finite(params)] + _non_finite({"X": X})
    if report.problems:
        return report
    with np.errstate(all="ignore"):  # overflow is reported below, in words
        reference = report.reference_loss = forward_loss(params, X, y, reg)
        analytic = {}
        for b, loss_and_grads in backends.items():
            value, grads = loss_and_grads(params, X, y, reg=reg)
            report.losses[b], analytic[b] = float(value), grads
            if not np.isfinite(value):
                report.problems.append(f"{b}: loss is {value} (the net overflows float64; try a smaller --std)")
            report.problems += [f"{b}: gradient of {p}" for p in _non_finite(grads)]
    if report.problems:
        return report
    report.cross_floor = float(noise_floor(reference, h)) * h
    for b, value in report.losses.items():
        if not within_tolerance(value, reference, report.cross_floor, rtol=1e-9):
            report.problems.append(f"{b}: loss {value!r} differs from the forward loss {reference!r}")

    f = functools.partial(forward_loss, params, X, y, reg)
    for p, w in params.items():
        # every entry when they fit, else num_checks distinct ones, sorted
        indices = np.arange(w.size) if num_checks >= w.size else np.sort(rng.choice(w.size, num_checks, replace=False))
        with np.errstate(all="ignore"):
            numeric = sampled_numerical_gradient(f, w, indices, h, on_evaluation)
        if not np.isfinite(numeric).all():
            report.problems.append(
                f"numeric derivative of {p} is not finite (the loss overflows near these parameters)"
            )
        steps = np.full(len(indices), h)
        skipped = np.zeros(len(indices), dtype=bool)
        picked = {b: analytic[b][p].reshape(-1)[indices] for b in backends}
        suspect = ~np.all([within_tolerance(a, numeric, noise_floor(reference, h)) for a in picked.values()], axis=0)
        for j in np.flatnonzero(suspect & np.isfinite(numeric)):
            entry = np.zeros(w.shape)
            entry.flat[indices[j]] = 1.0
            step = kink_free_step(params, X, {p: entry}, h)
            if step is None:
                skipped[j] = True
            elif step < h:
                steps[j] = step
                numeric[j] = sampled_numerical_gradient(f, w, indices[j : j + 1], step)[0]
        if restepped := int((steps < h).sum() + skipped.sum()):
            report.restepped[p] = restepped
        floor = np.asarray(noise_floor(reference, steps))
        report.checks += [EntryCheck(b, p, w.shape, indices, picked[b], numeric, floor, skipped) for b in backends]
    _directional_check(report, analytic, f, params, X, h, rng)
    names = list(backends)
    for other in names[1:]:
        for p in params:
            a, r = analytic[other][p], analytic[names[0]][p]
            report.cross[p] = max(report.cross.get(p, 0.0), float(np.max(np.abs(a - r), initial=0.0)))
            if not within_tolerance(a, r, report.cross_floor, rtol=1e-9).all():
                report.problems.append(f"{other} and {names[0]} disagree on the gradient of {p}")
    return report


def _directional_check(report: GradcheckReport, analytic: dict, f, params: dict, X, h: float, rng) -> None:
    """Every backend's gradient along one random unit direction through all parameters at once, against a
    centred difference of the forward loss, at the largest step (h, h/10, ...) that crosses no ReLU kink."""
    v = random_direction(params, rng)
    if (step := kink_free_step(params, X, v, h)) is None:
        return
    report.directional_step = step
    first = next(iter(analytic))
    with np.errstate(all="ignore"):
        _, numeric = directional_derivatives(f, params, analytic[first], step, v)
    for b, grads in analytic.items():
        along = along_direction(grads, v)
        report.directional[b] = (along, numeric)
        if not within_tolerance(along, numeric, noise_floor(report.reference_loss, step)):
            report.problems.append(
                f"{b}: gradient along a random direction through every parameter {along:.10g}, "
                f"centred difference {numeric:.10g}"
            )
