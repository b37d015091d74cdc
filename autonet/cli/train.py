"""``autonet train``: train one network and write a run directory."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

from autonet.backends import available_backends
from autonet.cli.common import (
    DATASET_HELP,
    add_data_arguments,
    int_list,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
)
from autonet.storage.checkpoints import CHECKPOINT_NAME
from autonet.errors import ConfigError, DivergenceError
from autonet.augment import parse_augment
from autonet.data import DATASETS
from autonet.run import CHECKPOINT_EVERY, DTYPES, PRESETS, SUMMARY_NAME, RunConfig, preset_config, read_json, run
from autonet.preprocess import PREPROCESS
from autonet.schedules import SCHEDULES
from autonet.interrupts import InterruptGuard, Interrupted
from autonet.net import INITS, TTA_MODES
from autonet.optim import UPDATE_RULES
from autonet.train import SAMPLING

_D = RunConfig()
EXIT_DIVERGED = 3  # exit status of a diverged run (bad input/config: 2; interrupt: 128 + signal)


def _fraction(text: str) -> float:
    """A number in [0, 1) (dropout, label smoothing, momenta)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def _beta_alpha(text: str) -> float:
    """A Beta parameter alpha in [0, 100] (0: off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 100], got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 100], got {text!r}")
    return value


def _augment_list(text: str) -> tuple[str, ...]:
    try:
        return parse_augment(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Flags for every :class:`RunConfig` field (shared with ``autonet sweep``).

    A flag not given is absent from the namespace (``default=SUPPRESS``), so
    :func:`config_from_args` can lay the given flags over a ``--preset``; the
    help shows the seed preset's value of each.
    """
    d, S = _D, argparse.SUPPRESS
    p.add_argument("--preset", choices=sorted(PRESETS), default=S,
                   help="the recipe the other flags modify: 'seed' (the seed's two-layer net, the defaults "
                        "below), 'best' (the best fully-connected recipe, docs/deep.md; about an hour "
                        "on 2 cores) or 'two-layer' (one hidden layer, no augmentation; about 2 minutes) "
                        "(default: seed)")
    p.add_argument("--dataset", default=S, metavar="NAME_OR_FILE", help=f"{DATASET_HELP} (seed: {d.dataset})")
    p.add_argument("--backend", choices=available_backends(), default=S,
                   help=f"where gradients come from (seed: {d.backend})")
    p.add_argument("--hidden", type=int_list, default=S, metavar="H[,H...]",
                   help="hidden layer sizes, comma-separated, e.g. 1024,1024,512 (seed: 300)")
    p.add_argument("--init", choices=INITS, default=S, help=f"weight init (seed: {d.init})")
    p.add_argument("--std", type=positive_float, default=S, help=f"weight std for --init std (seed: {d.std})")
    p.add_argument("--dtype", choices=sorted(DTYPES), default=S, help=f"(seed: {d.dtype})")
    p.add_argument("--num-train", type=positive_int, default=S,
                   help="use only the first NUM_TRAIN training images (seed: all 49000)")
    p.add_argument("--learning-rate", "--lr", type=positive_float, default=S,
                   help=f"initial (peak) learning rate (seed: {d.learning_rate})")
    p.add_argument("--learning-rate-decay", type=positive_float, default=S,
                   help=f"lr multiplier per epoch (--schedule decay) or per step (step), in (0, 1] "
                        f"(seed: {d.learning_rate_decay})")
    p.add_argument("--reg", type=nonnegative_float, default=S,
                   help=f"L2 strength, loss += 0.5*reg*sum ||W||^2 (seed: {d.reg})")
    p.add_argument("--num-iters", type=positive_int, default=S, help=f"minibatch iterations (seed: {d.num_iters})")
    p.add_argument("--batch-size", type=positive_int, default=S, help=f"(seed: {d.batch_size})")
    p.add_argument("--sampling", choices=SAMPLING, default=S,
                   help=f"minibatches drawn with replacement (the seed) or shuffled epochs (seed: {d.sampling})")
    p.add_argument("--update", choices=sorted(UPDATE_RULES), default=S, help=f"update rule (seed: {d.update})")
    p.add_argument("--seed", type=int, default=S, help=f"seed for init and minibatches (seed: {d.seed})")
    g = p.add_argument_group("deep nets (docs/deep.md)")
    g.add_argument("--schedule", choices=SCHEDULES, default=S,
                   help=f"learning-rate schedule: decay (x decay per epoch), step (x decay every --step-epochs), "
                        f"cosine (to 0 at the last iteration), constant (seed: {d.schedule})")
    g.add_argument("--step-epochs", type=positive_int, default=S, help=f"for --schedule step (seed: {d.step_epochs})")
    g.add_argument("--warmup", type=nonnegative_float, default=S,
                   help=f"linear learning-rate warm-up, in epochs (seed: {d.warmup})")
    g.add_argument("--momentum", type=_fraction, default=S, help=f"for --update momentum/nesterov (seed: {d.momentum})")
    g.add_argument("--weight-decay", type=nonnegative_float, default=S,
                   help=f"decoupled weight decay of the W's, for --update adamw (seed: {d.weight_decay})")
    g.add_argument("--batchnorm", action=argparse.BooleanOptionalAction, default=S,
                   help="batch normalisation after every hidden affine layer (seed: off)")
    g.add_argument("--dropout", type=_fraction, default=S,
                   help=f"probability of dropping a hidden unit in training (seed: {d.dropout})")
    g.add_argument("--label-smoothing", type=_fraction, default=S, help=f"(seed: {d.label_smoothing})")
    g.add_argument("--preprocess", choices=PREPROCESS, default=S,
                   help=f"input map fitted on the training split: mean (subtract the mean image), standardize "
                        f"(per channel), pca, zca (whitening) (seed: {d.preprocess})")
    g.add_argument("--whiten-eps", type=positive_float, default=S,
                   help=f"pca/zca regulariser, relative to the mean eigenvalue (seed: {d.whiten_eps})")
    g.add_argument("--pca-components", type=positive_int, default=S, help=f"for --preprocess pca (seed: {d.pca_components})")
    g.add_argument("--augment", type=_augment_list, default=S, metavar="flip,crop",
                   help="random training-image changes: flip (mirror), crop (shift by up to --crop-padding "
                        "pixels), comma-separated, or none (seed: none)")
    g.add_argument("--crop-padding", type=nonnegative_int, default=S, help=f"(seed: {d.crop_padding})")
    g.add_argument("--bn-momentum", type=_fraction, default=S,
                   help=f"running-statistics momentum of batch norm (seed: {d.bn_momentum})")
    a = p.add_argument_group("accuracy options (docs/deep.md; off by default, not yet measured)")
    a.add_argument("--mixup", type=_beta_alpha, default=S,
                   help=f"mixup: blend every training batch with a permutation of itself, weight ~ "
                        f"Beta(alpha, alpha), against the blended targets; alpha, 0: off (seed: {d.mixup})")
    a.add_argument("--cutmix", type=_beta_alpha, default=S,
                   help=f"cutmix: paste a random box of a partner image, targets weighted by area; alpha of "
                        f"Beta(alpha, alpha), 0: off; with --mixup too, each batch picks one (seed: {d.cutmix})")
    a.add_argument("--ema-decay", type=_fraction, default=S,
                   help=f"evaluate and save an exponential moving average of the weights with this decay, "
                        f"e.g. 0.999; 0: off (seed: {d.ema_decay})")
    a.add_argument("--tta", choices=TTA_MODES, default=S,
                   help=f"test-time augmentation: flip scores each image as the mean with its mirror image, "
                        f"in validation, the summary and the saved model (seed: {d.tta})")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The ``--preset`` (default: seed) with every flag given on the command line laid over it."""
    names = {f.name for f in fields(RunConfig)}
    given = {k: v for k, v in vars(args).items() if k in names}
    if "dataset" in given and given["dataset"] not in DATASETS:  # a file: absolute, so a resume finds it too
        given["dataset"] = str(Path(given["dataset"]).expanduser().resolve())
    return preset_config(getattr(args, "preset", "seed"), **given)


def default_run_dir(backend: str, root: str = "runs") -> Path:
    """``runs/YYYYmmdd-HHMMSS-<backend>``, suffixed if that exists already."""
    base = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{backend}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def register(sub) -> None:
    p = sub.add_parser("train", help="train a network (CIFAR-10, MNIST, Fashion-MNIST, an .npz) and save a run "
                                     "directory",
                       description="Train a fully-connected net on CIFAR-10 (or --dataset). Defaults: the seed's best "
                                   "two-layer configuration (3072-300-10, lr 1.6e-3, reg 1e-2, "
                                   "1600 iterations of batch 400, decay 0.90 per epoch); --preset best "
                                   "is the best deep recipe (docs/deep.md). Flags override the preset.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_run_arguments(p)
    add_data_arguments(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="run directory (default: runs/<time>-<backend>); refused if it holds anything, "
                        "unless --overwrite")
    p.add_argument("--overwrite", action="store_true",
                   help="let --out name a directory that holds another run (its run files are replaced) "
                        "or other files (kept)")
    p.add_argument("--checkpoint-every", type=nonnegative_int, default=CHECKPOINT_EVERY, metavar="N",
                   help="write RUN_DIR/checkpoint.npz every N iterations and at the end "
                        "(0: only at the end and on Ctrl-C/SIGTERM)")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR from its checkpoint, with its config.json "
                        "(only --data-dir, --checkpoint-every and --quiet may be given with it)")
    p.set_defaults(func=main)


def resume_config(args: argparse.Namespace) -> tuple[RunConfig, Path]:
    """The saved config and directory of the run ``--resume`` names."""
    out = Path(args.resume)
    path = out / "config.json"
    if not path.is_file():
        raise ConfigError(f"--resume {out}: no config.json there; expected a run directory written by autonet train")
    given = _explicit_run_flags(args)
    if given or (args.out and Path(args.out) != out):
        flags = ", ".join(given + (["--out"] if args.out and Path(args.out) != out else []))
        raise ConfigError(f"--resume continues with the settings in {path}; drop {flags}")
    try:
        saved = read_json(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"--resume {out}: cannot read config.json ({e})") from None
    if not isinstance(saved, dict):
        raise ConfigError(f"--resume {out}: config.json does not hold a config object")
    if args.data_dir is not None:
        saved["data_dir"] = args.data_dir
    if args.overwrite:
        raise ConfigError("--resume continues a run; --overwrite would replace it: give one of them")
    if not (out / CHECKPOINT_NAME).is_file() and not (out / SUMMARY_NAME).is_file():
        raise ConfigError(f"--resume {out}: no {CHECKPOINT_NAME} there (the run was stopped before its first "
                          "checkpoint); start it again without --resume")
    return RunConfig.from_dict(saved).validate(), out


def _explicit_run_flags(args: argparse.Namespace) -> list[str]:
    """Run-config flags given on the command line.

    :func:`add_run_arguments` flags are absent unless given (``default=SUPPRESS``);
    the others (``--num-val``) count when their value differs from the default.
    """
    blank = argparse.ArgumentParser(add_help=False)
    add_run_arguments(blank)
    add_data_arguments(blank)
    defaults = vars(blank.parse_args([]))
    names = ({f.name for f in fields(RunConfig)} | {"preset"}) - {"data_dir"}
    return ["--" + k.replace("_", "-") for k in sorted(names)
            if hasattr(args, k) and (k not in defaults or getattr(args, k) != defaults[k])]


def interrupted_message(command: str, e: Interrupted, out: Path) -> str:
    """What was saved and how to continue, after SIGINT/SIGTERM."""
    path = out / CHECKPOINT_NAME
    if not path.is_file():
        return f"autonet {command}: interrupted by {e.signame} before the first checkpoint; nothing to resume"
    saved = getattr(e, "checkpoint", None) or str(path)
    return (f"autonet {command}: interrupted by {e.signame}; checkpoint: {saved}\n"
            f"resume with: autonet train --resume {shlex.quote(str(out))}")


def main(args: argparse.Namespace) -> int:
    if args.resume:
        cfg, out = resume_config(args)
    else:
        cfg = config_from_args(args).validate()
        out = Path(args.out) if args.out else default_run_dir(cfg.backend)
    # Overflow on the way to divergence is reported once, by the trainer's finite check.
    with InterruptGuard() as guard, np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        try:
            summary = run(cfg, out, quiet=args.quiet, checkpoint_every=args.checkpoint_every,
                          resume=bool(args.resume), interrupts=guard, overwrite=args.overwrite)
        except Interrupted as e:
            print(interrupted_message(args.command, e, out), file=sys.stderr)
            return e.exit_code
        except DivergenceError as e:
            print(f"autonet {args.command}: error: {e}", file=sys.stderr)
            return EXIT_DIVERGED
    if summary.get("already_finished"):
        val = summary.get("val_acc")
        print(f"{out}: this run has already finished ({summary.get('iterations')} iterations, val acc "
              f"{val:.4f}); nothing to resume, nothing changed" if isinstance(val, float) else
              f"{out}: this run has already finished; nothing to resume, nothing changed")
        return 0
    test = "n/a (no test_batch)" if summary["test_acc"] is None else f"{summary['test_acc']:.4f}"
    print(f"{summary['dataset']}, backend {cfg.backend}: train acc {summary['train_acc']:.4f}, val acc {summary['val_acc']:.4f}, "
          f"test acc {test}, {summary['train_seconds']:.1f} s")
    print(f"run directory: {out}")
    if not args.quiet:
        print(json.dumps({k: summary[k] for k in ("val_acc", "test_acc", "train_seconds")}))
    return 0
