"""``autonet train``: train one network and write a run directory."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path

from autonet.backends import available_backends
from autonet.commands.common import (
    add_data_arguments,
    int_list,
    nonnegative_float,
    positive_float,
    positive_int,
)
from autonet.experiment import DTYPES, RunConfig, run
from autonet.net import INITS
from autonet.optim import UPDATE_RULES
from autonet.train import SAMPLING

_D = RunConfig()


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Flags for every :class:`RunConfig` field (shared with ``autonet sweep``)."""
    p.add_argument("--backend", choices=available_backends(), default=_D.backend,
                   help="where gradients come from (default: %(default)s)")
    p.add_argument("--hidden", type=int_list, default=_D.hidden, metavar="H[,H...]",
                   help="hidden layer sizes, comma-separated (default: 300)")
    p.add_argument("--init", choices=INITS, default=_D.init, help="weight init (default: %(default)s)")
    p.add_argument("--std", type=positive_float, default=_D.std,
                   help="weight std for --init std (default: %(default)s)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=_D.dtype, help="(default: %(default)s)")
    p.add_argument("--num-train", type=positive_int, default=None,
                   help="use only the first NUM_TRAIN training images (default: all 49000)")
    p.add_argument("--learning-rate", "--lr", type=positive_float, default=_D.learning_rate,
                   help="initial learning rate (default: %(default)s)")
    p.add_argument("--learning-rate-decay", type=positive_float, default=_D.learning_rate_decay,
                   help="lr multiplier after each epoch, in (0, 1] (default: %(default)s)")
    p.add_argument("--reg", type=nonnegative_float, default=_D.reg,
                   help="L2 strength, loss += 0.5*reg*sum ||W||^2 (default: %(default)s)")
    p.add_argument("--num-iters", type=positive_int, default=_D.num_iters,
                   help="minibatch iterations (default: %(default)s)")
    p.add_argument("--batch-size", type=positive_int, default=_D.batch_size, help="(default: %(default)s)")
    p.add_argument("--sampling", choices=SAMPLING, default=_D.sampling,
                   help="minibatches drawn with replacement (the seed) or shuffled epochs (default: %(default)s)")
    p.add_argument("--update", choices=sorted(UPDATE_RULES), default=_D.update,
                   help="update rule (default: %(default)s)")
    p.add_argument("--seed", type=int, default=_D.seed, help="seed for init and minibatches (default: %(default)s)")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    names = {f.name for f in fields(RunConfig)}
    return RunConfig.from_dict({k: v for k, v in vars(args).items() if k in names})


def default_run_dir(backend: str, root: str = "runs") -> Path:
    """``runs/YYYYmmdd-HHMMSS-<backend>``, suffixed if that exists already."""
    base = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{backend}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def register(sub) -> None:
    p = sub.add_parser("train", help="train a network on CIFAR-10 and save a run directory",
                       description="Train a fully-connected net on CIFAR-10. Defaults: the seed's best "
                                   "two-layer configuration (3072-300-10, lr 1.6e-3, reg 1e-2, "
                                   "1600 iterations of batch 400, decay 0.90 per epoch).",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_arguments(p)
    add_data_arguments(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (default: runs/<time>-<backend>)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args).validate()
    out = Path(args.out) if args.out else default_run_dir(cfg.backend)
    summary = run(cfg, out, quiet=args.quiet)
    test = "n/a (no test_batch)" if summary["test_acc"] is None else f"{summary['test_acc']:.4f}"
    print(f"backend {cfg.backend}: train acc {summary['train_acc']:.4f}, val acc {summary['val_acc']:.4f}, "
          f"test acc {test}, {summary['train_seconds']:.1f} s")
    print(f"run directory: {out}")
    if not args.quiet:
        print(json.dumps({k: summary[k] for k in ("val_acc", "test_acc", "train_seconds")}))
    return 0
