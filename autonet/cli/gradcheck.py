"""``autonet gradcheck``: every backend's gradient against sampled centred differences."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from autonet.backends import available_backends, get_backend
from autonet.cli.common import int_list, nonnegative_float, nonnegative_int, positive_float, positive_int
from autonet.errors import ConfigError
from autonet.gradcheck import FLOOR_ULPS, MIN_H, RTOL, GradcheckReport, H, check_gradients, forward_loss
from autonet.net import init_params

MAX_PARAMETERS = 50_000_000  # 400 MB of float64 weights, several copies alive during the check
MAX_SECONDS = 600.0  # refuse a check estimated to run longer than this
BIAS_STD = 0.1  # default biases: small, nonzero, so their gradients are not at a special point

RULE = (
    f"Verdict: a sampled entry passes when |analytic - numeric| <= {RTOL:g} * max(|analytic|, |numeric|) "
    f"+ floor, floor = {FLOOR_ULPS} * eps * max(1, |loss|) / h (eps = float64 machine epsilon, h = {H:g}): "
    "the rounding noise of a centred difference, which no correct gradient can beat. An entry whose "
    f"difference straddles a ReLU kink is re-differenced with h/10, h/100, ... down to {MIN_H:g}. Backends are also "
    "compared with each other on every entry, and their losses with the forward loss (rtol 1e-9, floor * h). "
    "Each backend's gradient along one random direction through every parameter is held to a centred "
    "difference the same way (it sees a wrong entry that sampling misses). NaN or inf anywhere -- parameters, "
    "loss, gradients, numeric derivatives -- is a FAIL. Exit 0: pass; 1: FAIL; 2: bad arguments."
)


def register(sub) -> None:
    p = sub.add_parser(
        "gradcheck",
        help="check every backend's gradients against finite differences on a random net",
        description="For each parameter, sample --num-checks entries, differentiate the loss numerically "
        f"there (centred differences of the forward loss, h={H:g}, float64) and compare with every "
        "backend's gradient, like the exercise's sparse gradient check. " + RULE,
    )
    p.add_argument(
        "--sizes",
        type=int_list,
        default=(5, 7, 3),
        metavar="D,H,...,C",
        help="layer sizes, input first, classes last (default: 5,7,3)",
    )
    p.add_argument("--batch", type=positive_int, default=4, help="examples N, inputs N(0, 1) (default: %(default)s)")
    p.add_argument("--reg", type=nonnegative_float, default=0.05, help="L2 strength (default: %(default)s)")
    p.add_argument(
        "--std",
        type=positive_float,
        help="weight and bias std; default: weights N(0, 2/fan_in) per layer (He: scores of order 1 "
        f"at any width, no saturated softmax), biases N(0, {BIAS_STD}^2)",
    )
    p.add_argument(
        "--num-checks",
        type=positive_int,
        default=10,
        metavar="K",
        help="entries checked per parameter, every entry of smaller ones (default: %(default)s)",
    )
    p.add_argument(
        "--backend",
        action="append",
        choices=available_backends(),
        help="check only this backend (repeatable); default: all",
    )
    p.add_argument(
        "--seed",
        type=nonnegative_int,
        default=0,
        help="seed of the net, the data and the sampled entries (default: %(default)s)",
    )
    p.set_defaults(func=main)


def _random_problem(args: argparse.Namespace) -> tuple[dict, np.ndarray, np.ndarray]:
    sizes = list(args.sizes)
    if len(sizes) < 2:
        raise ConfigError(f"--sizes needs at least an input and a class count, got {','.join(map(str, sizes))}")
    count = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if count > MAX_PARAMETERS:
        raise ConfigError(
            f"--sizes {','.join(map(str, sizes))} has {count:,} parameters; gradcheck takes at most {MAX_PARAMETERS:,}"
        )
    from autonet.memory import check_fits

    N = args.batch  # float64 inputs, and per layer activations, their gradients and the differenced copies
    check_fits(
        {"inputs": N * sizes[0] * 8, "activations": 4 * N * sum(sizes[1:]) * 8, "parameters": 4 * count * 8},
        what=f"gradcheck with --batch {N} and --sizes {','.join(map(str, sizes))}",
        hint="lower --batch or --sizes",
    )
    rng = np.random.default_rng(args.seed)
    params = init_params(sizes, init="he", rng=rng) if args.std is None else init_params(sizes, std=args.std, rng=rng)
    for k in [k for k in params if k.startswith("b")]:
        params[k] = (args.std or BIAS_STD) * rng.standard_normal(params[k].shape)
    X = rng.standard_normal((args.batch, sizes[0]))
    y = rng.integers(0, sizes[-1], size=args.batch)
    return params, X, y


def main(args: argparse.Namespace) -> int:
    backends = {n: get_backend(n) for n in dict.fromkeys(args.backend or available_backends())}
    params, X, y = _random_problem(args)
    total = sum(min(args.num_checks, w.size) for w in params.values())  # numeric derivatives to take
    start = time.perf_counter()  # the estimate: two timed forward evaluations per numeric derivative
    with np.errstate(all="ignore"):  # an overflowing net is reported by the check itself
        forward_loss(params, X, y, args.reg)
    estimate = 2 * total * (time.perf_counter() - start)
    if estimate > MAX_SECONDS:
        raise ConfigError(
            f"this check would take about {estimate / 60:.0f} min; "
            f"lower --num-checks (now {args.num_checks}), --batch or --sizes"
        )
    from tqdm.auto import tqdm

    with tqdm(
        total=total, desc="gradcheck", unit="derivative", delay=1.0, file=sys.stderr, disable=None, leave=False
    ) as bar:
        rng = np.random.default_rng([args.seed, 1])
        report = check_gradients(
            backends, params, X, y, args.reg, args.num_checks, rng=rng, on_evaluation=lambda: bar.update(1)
        )
    scale = "He, N(0, 2/fan_in)" if args.std is None else f"std {args.std:g}"
    print(
        f"sizes {list(args.sizes)}, N={args.batch}, reg={args.reg:g}, weights {scale}; loss: "
        + ", ".join(f"{n} {v:.12f}" for n, v in report.losses.items())
    )
    _print_report(report)
    return 0 if report.passed else 1


def _print_report(report: GradcheckReport) -> None:
    if report.checks:
        print(
            f"{'backend':>9} {'param':>6} {'shape':>12} {'checked':>8} {'rel error':>10} "
            f"{'max |a-n|':>10} {'floor':>9}  ok"
        )
    for c in report.checks:
        diff = np.abs(c.analytic - c.numeric)[~c.skipped].max(initial=0.0)
        print(
            f"{c.backend:>9} {c.name:>6} {str(c.shape):>12} {int((~c.skipped).sum()):>8} {c.rel_error:>10.2e} "
            f"{diff:>10.2e} {c.floor.min():>9.1e}  {'✓' if c.passed else '✗'}"
        )
    for name, count in report.restepped.items():
        print(
            f"{name}: {count} sampled entr{'y' if count == 1 else 'ies'} straddled a ReLU kink at h={H:g}; "
            f"re-differenced with a smaller step (or skipped below h={MIN_H:g})"
        )
    if report.cross:
        worst = max(report.cross.values())
        print(
            f"backends against each other, every entry: max |difference| {worst:.2e} (floor {report.cross_floor:.1e})"
        )
    for c, j in [(c, c.worst) for c in report.checks if not c.passed]:
        where = ", ".join(map(str, np.unravel_index(c.indices[j], c.shape)))
        print(
            f"FAIL {c.backend} {c.name}[{where}]: analytic {c.analytic[j]:.10g}, "
            f"numeric {c.numeric[j]:.10g}, |difference| {abs(c.analytic[j] - c.numeric[j]):.2e} "
            f"> tolerance {RTOL * max(abs(c.analytic[j]), abs(c.numeric[j])) + c.floor[j]:.2e}"
        )
    for problem in report.problems:
        print(f"FAIL {problem}")
    for name, (along, numeric) in report.directional.items():
        print(
            f"{name}: along a random direction through every parameter, analytic {along:.10g}, "
            f"numeric {numeric:.10g} (h={report.directional_step:g})"
        )
    if report.passed:
        print(f"ok: every sampled derivative within {RTOL:g} * max(|a|, |n|) + floor")
    else:
        print("FAIL: see the lines above (autonet gradcheck --help states the rule)")
