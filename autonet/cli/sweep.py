"""``autonet sweep``: grid or random hyperparameter search, locally or on a Dask cluster.

Examples::

    autonet sweep --space examples/seed_grid.toml --out runs/seed-grid          # the exercise's 5 x 3 grid
    autonet sweep --grid "lr=1e-3 | 1.2e-3" --grid "reg=1e-4 | 1e-3" --jobs 2 --out runs/small
    autonet sweep --grid "hidden=300 | 1024,512" --out runs/depth   # 1024,512: two layers, as in --hidden
    autonet sweep --space examples/random_two_layer.toml --random 12 --out runs/random
    autonet sweep --space space.toml --random 40 --scheduler tcp://SCHEDULER_HOST:8786 --out runs/big

Flags not searched (``--hidden``, ``--num-iters``, ...) set the base config of
every trial. Re-running the same command with the same ``--out`` resumes.
See docs/sweep.md for the space-file format.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

from autonet.cli.common import (
    add_config_arguments,
    add_quiet_argument,
    config_options,
    nonnegative_int,
    positive_int,
    positive_int_at_most,
)
from autonet.cli.train import default_run_dir
from autonet.config import Config
from autonet.interrupts import Interrupted, InterruptGuard
from autonet.sweep import build_space, format_table, plan, run_sweep

MAX_BLAS_THREADS = 1024  # more than any machine's cores; larger counts overflow the BLAS libraries' C ints


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="grid or random hyperparameter search; one run directory per trial",
        description="Hyperparameter search. Every trial is an ordinary run directory under "
        "OUT/trials; OUT/results.csv is rewritten after each trial; a finished "
        "trial is skipped when the command is run again. The flags below set the "
        "base config of every trial.",
    )
    add_config_arguments(p)
    g = p.add_argument_group("search")
    g.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1|V2|...",
        help="values of one config key separated by |, each spelled as its flag's value, e.g. "
        '"lr=1e-3 | 1.2e-3" or "hidden=300 | 1024,512" (1024,512: two layers) or '
        '"augment=none | flip,crop"; repeat for more keys (the grid is their product); '
        "replaces the same key of --space",
    )
    g.add_argument("--space", metavar="FILE", help="search space, .toml or .json (format: docs/sweep.md)")
    g.add_argument(
        "--random",
        type=positive_int,
        metavar="N",
        help="draw N random trials from the space instead of running its grid",
    )
    g.add_argument(
        "--search-seed",
        type=nonnegative_int,
        default=0,
        help="seed of the random search; --seed is each trial's init/minibatch seed (default: 0)",
    )
    g.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="local worker processes; BLAS threads per worker = cores // jobs (default: 1)",
    )
    g.add_argument(
        "--blas-threads",
        type=positive_int_at_most(MAX_BLAS_THREADS),
        help="BLAS threads per trial (default: cores // jobs locally; Dask workers' own setting)",
    )
    g.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run the trials on this Dask distributed scheduler (pip install 'autonet[dask]'); "
        "the data directory must exist on every worker",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="sweep directory; give it to be able to resume (default: runs/<time>-sweep). "
        "A directory holding a sweep of another space is refused, unless --extend",
    )
    p.add_argument(
        "--extend",
        action="store_true",
        help="add this space's trials to the sweep already in --out (results cover both) "
        "instead of refusing a different space; the base settings must be the same",
    )
    add_quiet_argument(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    options = config_options(args)
    data_dir = options.get("data_dir") or (os.environ.get("AUTONET_DATA") if args.scheduler else None)
    if isinstance(data_dir, str) and data_dir:  # absolute, and given: workers may not share this process's environment
        options["data_dir"] = str(Path(data_dir).resolve())
    base = Config(**options)
    space = build_space(args.space, args.grid)
    trials = plan(space, base, random=args.random, seed=args.search_seed)
    out = Path(args.out) if args.out else default_run_dir("sweep")
    mode = "grid" if args.random is None else "random"
    meta = {"mode": mode, "space": space.describe(), "random_trials": args.random, "search_seed": args.search_seed}
    log = None if args.quiet else (lambda line: print(line, flush=True))
    if log:
        where = args.scheduler or f"{args.jobs} local process{'es' if args.jobs > 1 else ''}"
        log(f"sweep: {len(trials)} trials ({mode}) on {where} -> {out}")
    start = time.perf_counter()
    with InterruptGuard() as guard:
        try:
            rows = run_sweep(
                trials,
                out,
                list(space.dims),
                meta={**meta, "base": base.to_dict()},
                log=log,
                interrupts=guard,
                **{k: getattr(args, k) for k in ("jobs", "scheduler", "blas_threads", "extend")},
            )
        except KeyboardInterrupt as e:  # Interrupted, or a KeyboardInterrupt raised inside a worker pool
            signal, code = (e.signame, e.exit_code) if isinstance(e, Interrupted) else ("SIGINT", 130)
            print(
                f"autonet sweep: interrupted by {signal}; finished trials are kept and a stopped trial resumes "
                f"from its checkpoint; resume with: {resume_command(args, out)}",
                file=sys.stderr,
            )
            return code
    print(format_table(rows, list(space.dims)))
    ok = [r for r in rows if r["status"] == "ok"]
    if ok:
        best = max(ok, key=lambda r: r["val_acc"])
        print(f"best: {best['trial']} val acc {best['val_acc']:.4f} (model: {out / 'best_model.npz'})")
    diverged = sum(r["status"] == "diverged" for r in rows)
    print(
        f"{len(ok)} finished, {diverged} diverged, wall time {time.perf_counter() - start:.0f} s; "
        f"table: {out / 'results.csv'}"
    )
    return 0


def resume_command(args: argparse.Namespace, out: Path) -> str:
    """The command line that continues this sweep (the same one, with ``--out`` made explicit)."""
    argv = list(getattr(args, "argv", None) or [])
    if not argv:
        return f"the same autonet sweep command with --out {shlex.quote(str(out))}"
    if args.out is None:
        argv += ["--out", str(out)]
    return "autonet " + shlex.join(argv)
