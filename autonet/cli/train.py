"""``autonet train``: train one network and write a run directory."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from autonet.cli.common import (
    add_config_arguments,
    add_quiet_argument,
    config_from_args,
    flag_name,
    nonnegative_int,
    read_config_file,
    unset_options,
)
from autonet.config import DEFAULTS_RULE, Config, names
from autonet.errors import ConfigError
from autonet.interrupts import Interrupted, InterruptGuard
from autonet.run import CHECKPOINT_EVERY, SUMMARY_NAME, fit_to_data, run
from autonet.storage.checkpoints import CHECKPOINT_NAME
from autonet.storage.lock import check_no_writer


def default_run_dir(backend: str, root: str = "runs") -> Path:
    """``runs/YYYYmmdd-HHMMSS-<backend>``, suffixed if that exists already."""
    base = Path(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{backend}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    return path


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a network (CIFAR-10, MNIST, Fashion-MNIST, an .npz) and save a run directory",
        description="Train a fully-connected net on CIFAR-10 (or --dataset). Defaults: "
        + DEFAULTS_RULE
        + ". --preset best is the best deep recipe (docs/deep.md); --config RUN_DIR/config.json "
        "re-runs a saved run. Flags override the preset or the file.",
    )
    add_config_arguments(p)
    g = p.add_argument_group("this run")
    g.add_argument(
        "--out",
        metavar="DIR",
        help="run directory (default: runs/<time>-<backend>); refused if it holds anything, unless --overwrite",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="let --out name a directory that holds another run (its run files are replaced) or other files (kept)",
    )
    g.add_argument(
        "--checkpoint-every",
        type=nonnegative_int,
        default=CHECKPOINT_EVERY,
        metavar="N",
        help="write RUN_DIR/checkpoint.npz every N iterations and at the end "
        "(0: only at the end and on Ctrl-C/SIGTERM) (default: %(default)s)",
    )
    g.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its checkpoint, with its config.json "
        "(only --data-dir, --checkpoint-every and --quiet may be given with it)",
    )
    add_quiet_argument(g)
    p.set_defaults(func=main)


def resume_config(args: argparse.Namespace) -> tuple[Config, Path]:
    """The saved config and directory of the run ``--resume`` names."""
    if not args.resume:
        raise ConfigError("--resume needs the run directory to continue (it was given an empty value)")
    out = Path(args.resume)
    check_no_writer(out)  # a live run has no checkpoint yet either: say it is running, not stopped
    path = out / "config.json"
    if not path.is_file():
        raise ConfigError(f"--resume {out}: no config.json there; expected a run directory written by autonet train")
    # config flags given besides --data-dir (absent from args unless given)
    given = [flag_name(k) for k in ["preset", "config", *names(flag=True)] if k != "data_dir" and hasattr(args, k)]
    given += ["--out"] if args.out and Path(args.out) != out else []
    if given:
        raise ConfigError(f"--resume continues with the settings in {path}; drop {', '.join(given)}")
    saved = read_config_file(path)
    if args.overwrite:
        raise ConfigError("--resume continues a run; --overwrite would replace it: give one of them")
    if not (out / CHECKPOINT_NAME).is_file() and not (out / SUMMARY_NAME).is_file():
        raise ConfigError(
            f"--resume {out}: no {CHECKPOINT_NAME} there (the run was stopped before its first "
            f"checkpoint); start it again with: autonet train --config {shlex.quote(str(path))} "
            f"--out {shlex.quote(str(out))} --overwrite"
        )
    data_dir = {"data_dir": args.data_dir} if hasattr(args, "data_dir") else {}
    return Config(**{**saved, **data_dir, "progress": not args.quiet}), out


def interrupted_message(command: str, e: Interrupted, out: Path) -> str:
    """What was saved and how to continue, after SIGINT/SIGTERM."""
    path = out / CHECKPOINT_NAME
    if not path.is_file():
        return f"autonet {command}: interrupted by {e.signame} before the first checkpoint; nothing to resume"
    saved = getattr(e, "checkpoint", None) or str(path)
    return (
        f"autonet {command}: interrupted by {e.signame}; checkpoint: {saved}\n"
        f"resume with: autonet train --resume {shlex.quote(str(out))}"
    )


def main(args: argparse.Namespace) -> int:
    if args.resume is not None:
        cfg, out = resume_config(args)
    else:
        cfg = config_from_args(args, progress=not args.quiet)
        out = Path(args.out) if args.out else default_run_dir(cfg.backend)
    with InterruptGuard() as guard:
        try:
            if not args.resume:
                cfg = fit_to_data(cfg, unset_options(args), quiet=args.quiet)
            summary = run(
                cfg,
                out,
                quiet=args.quiet,
                checkpoint_every=args.checkpoint_every,
                resume=bool(args.resume),
                interrupts=guard,
                overwrite=args.overwrite,
            )
        except Interrupted as e:
            print(interrupted_message(args.command, e, out), file=sys.stderr)
            return e.exit_code
    if summary.get("already_finished"):
        val = summary.get("val_acc")
        done = f" ({summary.get('iterations')} iterations, val acc {val:.4f})" if isinstance(val, float) else ""
        print(f"{out}: this run has already finished{done}; nothing to resume, nothing changed")
        return 0
    missing = "the CIFAR-10 folder has no test_batch" if cfg.dataset == "cifar10" else "no test split in the file"
    test = f"n/a ({missing})" if summary["test_acc"] is None else f"{summary['test_acc']:.4f}"
    print(
        f"{summary['dataset']}, backend {cfg.backend}: train acc {summary['train_acc']:.4f}, val acc {summary['val_acc']:.4f}, "
        f"test acc {test}, {summary['train_seconds']:.1f} s"
    )
    print(f"run directory: {out}")
    if not args.quiet:
        print(json.dumps({k: summary[k] for k in ("val_acc", "test_acc", "train_seconds")}))
    return 0
