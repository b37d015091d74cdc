"""Peak resident memory of a full-CIFAR float32 training run, and where it is reached.

Usage::

    AUTONET_DATA=/path/to/data python benchmarks/peak_memory.py
    python benchmarks/peak_memory.py --data-dir DIR --num-iters 200 --dtype float32
    AUTONET_DATA=/path/to/data python benchmarks/peak_memory.py --preset best --num-iters 30

Two child processes, one after the other, so that neither sees the other's memory:

1. ``autonet train --dtype float32 --num-iters 200 --out <tmp>`` exactly as a
   user runs it; its peak RSS is ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``
   after it exits (target <= 1.5 GB);
   (``--preset best``: ``autonet train --preset best``, ZCA whitening and the
   2048-1024-512 batch-norm net included; target <= 1.9 GB, and no stages);
2. the same run taken apart into stages (imports, ``load_cifar10``, trainer,
   ``fit``, ``finish``: evaluation, model file and plots), printing the peak RSS
   after each stage and the size of the arrays it holds, so a stage that
   transiently copies the data (e.g. into float64) shows as a jump.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

import common

TARGET_MB = {"seed": 1500, "best": 1900}  # issue 6 (seed run), issue 13 (best recipe: not above 1.9 GB)

# Run in a child: prints "stage<TAB>peak MB<TAB>note" lines.
STAGES = r"""
import resource, sys, time
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def say(stage, note=""): print(f"{stage}\t{peak():.0f}\t{note}", flush=True)
say("python started")
import numpy as np
from autonet.config import Config
from autonet.run import load_data, finish
from autonet.backends import get_backend
from autonet.net import init_params, init_rng
from autonet.train import Trainer
say("autonet imported")
cfg = Config(dtype=sys.argv[1], num_iters=int(sys.argv[2]), data_dir=sys.argv[3] or None)
data = load_data(cfg, quiet=True)
nbytes = sum(a.nbytes for a in (data.X_train, data.X_val, data.X_test) if a is not None)
say("load_cifar10", f"X arrays {nbytes / 2**20:.0f} MB, dtype {data.X_train.dtype}")
params = init_params([data.X_train.shape[1], *cfg.hidden, 10], std=cfg.std, init=cfg.init,
                     rng=init_rng(cfg.seed), dtype=np.dtype(cfg.dtype))
trainer = Trainer(get_backend(cfg.backend), params, data.X_train, data.y_train, data.X_val, data.y_val,
                  cfg, progress=False)
say("Trainer built")
trainer.fit()
say("fit", f"{trainer.iteration} iterations")
finish(cfg, trainer, data, __import__("pathlib").Path(sys.argv[4]))
say("finish", "train/val accuracy, model.npz, plots")
"""


def peak_of_cli(args, out: str) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of ``autonet train`` run as a child process."""
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "autonet"),
        "train",
        "--preset",
        args.preset,
        "--dtype",
        args.dtype,
        "--num-iters",
        str(args.num_iters),
        "--quiet",
        "--out",
        out,
    ]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    print("$ " + " ".join(cmd))
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, seconds


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None, help="CIFAR-10 folder (default: $AUTONET_DATA, else the cache)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--num-iters", type=int, default=200)
    p.add_argument(
        "--preset",
        default="seed",
        choices=sorted(TARGET_MB),
        help="the recipe of `autonet train --preset` (stages only for seed)",
    )
    args = p.parse_args(argv)

    common.print_header("autonet peak memory (benchmarks/peak_memory.py)")
    with tempfile.TemporaryDirectory(prefix="autonet-peak-") as tmp:
        peak, seconds = peak_of_cli(args, os.path.join(tmp, "cli"))
        target = TARGET_MB[args.preset]
        verdict = "ok" if peak <= target else "MISS"
        print(
            f"\npeak RSS of `autonet train --preset {args.preset} --dtype {args.dtype} --num-iters {args.num_iters}`: "
            f"{peak:.0f} MB ({peak / 1024:.2f} GiB; target <= {target} MB: {verdict}); {seconds:.1f} s\n"
        )
        if args.preset != "seed":
            print(f"load average after (1/5/15 min): {common.load_average()}")
            return 0
        stages = subprocess.run(
            [
                sys.executable,
                "-c",
                STAGES,
                args.dtype,
                str(args.num_iters),
                args.data_dir or "",
                os.path.join(tmp, "stages"),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    rows = [line.split("\t") for line in stages.splitlines() if line.count("\t") == 2]
    print("The same run in stages (peak RSS so far, MB, after each stage):\n")
    print(common.markdown_table(["stage", "peak RSS MB", "note"], rows))
    print(f"\nload average after (1/5/15 min): {common.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
