"""``autonet gradcheck``: manual vs autograd vs finite differences on a small net."""

from __future__ import annotations

import argparse

import numpy as np

from autonet.backends import available_backends, get_backend
from autonet.cli.common import int_list, nonnegative_float, positive_int
from autonet.gradcheck import numerical_param_grads, rel_error
from autonet.net import init_params


def register(sub) -> None:
    p = sub.add_parser("gradcheck", help="compare gradients of every backend on a small random net",
                       description="Relative error, per parameter, between each backend's gradient and "
                                   "centred finite differences (h=1e-5), in float64.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--sizes", type=int_list, default=(5, 7, 3), metavar="D,H,...,C",
                   help="layer sizes, input first, classes last")
    p.add_argument("--batch", type=positive_int, default=4, help="examples N")
    p.add_argument("--reg", type=nonnegative_float, default=0.05, help="L2 strength")
    p.add_argument("--std", type=float, default=0.5, help="weight std")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    rng = np.random.default_rng(args.seed)
    params = init_params(args.sizes, std=args.std, rng=rng)
    for k in params:
        if k.startswith("b"):
            params[k] = rng.standard_normal(params[k].shape) * args.std
    X = rng.standard_normal((args.batch, args.sizes[0]))
    y = rng.integers(0, args.sizes[-1], size=args.batch)
    names = available_backends()
    results = {n: get_backend(n)(params, X, y, reg=args.reg) for n in names}
    ref = names[0]
    num = numerical_param_grads(lambda p: get_backend(ref)(p, X, y, reg=args.reg)[0], params)
    print(f"sizes {list(args.sizes)}, N={args.batch}, reg={args.reg}; loss: "
          + ", ".join(f"{n} {results[n][0]:.12f}" for n in names))
    header = f"{'param':>6} {'shape':>10} " + " ".join(f"{n + ' vs numeric':>20}" for n in names)
    if len(names) > 1:
        header += f" {names[0] + ' vs ' + names[1]:>20}"
    print(header)
    worst = 0.0
    for k in params:
        errs = [rel_error(results[n][1][k], num[k]) for n in names]
        row = f"{k:>6} {str(params[k].shape):>10} " + " ".join(f"{e:20.2e}" for e in errs)
        if len(names) > 1:
            e = rel_error(results[names[0]][1][k], results[names[1]][1][k])
            row += f" {e:20.2e}"
        worst = max(worst, *errs)
        print(row)
    ok = worst < 1e-6
    print(f"max relative error vs numeric: {worst:.2e} ({'ok' if ok else 'FAIL'}: threshold 1e-6)")
    return 0 if ok else 1
