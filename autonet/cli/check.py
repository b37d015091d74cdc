"""``autonet check``: hold a student's two-layer net, backend function or layer functions against autonet."""

from __future__ import annotations

import argparse
import json

from autonet.checking.sandbox import Limits
from autonet.checking.tolerances import Tolerances
from autonet.cli.common import _number_type, positive_float, positive_int

MAX_TIME_LIMIT = 86400.0  # one day; larger values overflow the timers that enforce the limit


_seconds = _number_type(float, lambda v: 0 < v <= MAX_TIME_LIMIT, f"a number of seconds in (0, {MAX_TIME_LIMIT:g}]")


def register(sub) -> None:
    p = sub.add_parser(
        "check",
        help="check your own two-layer net, loss_and_grads function or layers.py against autonet",
        description="Run a battery of small float64 cases (the exercise's toy problem, random shapes with sizes "
        "1 and 2, reg 0 and > 0, inputs on ReLU kinks, scores that overflow exp) through TARGET and "
        "hold its scores, loss and gradients against both autonet backends and finite differences. "
        "Failures are traced to the equation (1)-(10) where they enter, and classic mistakes are "
        "named. TARGET runs in a separate process (its own folder and home, no network where the system "
        "allows, memory, time and output bounded) and only its numbers come back: every comparison and the "
        "verdict are made by autonet. Exit 0: every check passes; 1: a check fails; 2: TARGET cannot be found, imported "
        "or has the wrong API.",
        epilog="TARGET: path/to/file.py:Name or package.module:Name, where Name is a class with the exercise's "
        "API (Name(input_size, hidden_size, output_size, std), .params with W1 b1 W2 b2, "
        ".loss(X, y=None, reg=0.0)) or a function loss_and_grads(params, X, y, reg) -> (loss, grads). "
        "path/to/layers.py alone checks the layer functions it defines (affine_forward/backward, "
        "relu_forward/backward, softmax_loss, batchnorm_forward/backward, dropout_forward/backward); "
        "a file without them but with a TwoLayerNet checks that class. Importing TARGET runs its code.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("target", metavar="TARGET", help="FILE.py[:Name] or package.module:Name")
    p.add_argument(
        "--l2",
        choices=("half", "full"),
        default="half",
        help="L2 term of the loss: half = 0.5*reg*||W||^2 (the original edition's and autonet's), "
        "full = reg*||W||^2 (later editions)",
    )
    limits, tol = Limits(), Tolerances()
    for flag, kind, default, what in (
        (
            "--time-limit",
            _seconds,
            limits.call_seconds,
            "longest a single call of the checked code may run (its import included)",
        ),
        ("--total-time-limit", _seconds, limits.total_seconds, "longest the whole check may run"),
        ("--memory-limit", positive_int, limits.memory_mb, "address space of the process running the checked code"),
    ):
        metavar = "MB" if kind is positive_int else "SECONDS"
        p.add_argument(flag, type=kind, default=default, metavar=metavar, help=what)
    for name, what in (
        ("rtol", "relative error allowed against autonet's backends"),
        ("fd_rtol", "relative error allowed against finite differences"),
        ("atol", "absolute error allowed against finite differences where |g| + |numeric| < 1e-5"),
        ("fd_step", "step h of the centred differences"),
    ):
        p.add_argument(f"--{name.replace('_', '-')}", type=positive_float, default=getattr(tol, name), help=what)
    p.add_argument("--json", action="store_true", help="print the report as JSON (for graders)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from autonet.checking.check import check_target

    tol = Tolerances(args.rtol, args.fd_rtol, args.atol, args.fd_step)  # ConfigError: exit 2 in cli.main
    total = args.total_time_limit
    limits = Limits(min(args.time_limit, total), total, args.memory_limit)
    report = check_target(args.target, l2=args.l2, tol=tol, limits=limits)  # TargetError: exit 2 in cli.main
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.text())
    return 0 if report.passed else 1
