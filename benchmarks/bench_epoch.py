"""A whole training epoch through ``autonet.train.Trainer`` vs the bare steps.

Usage::

    AUTONET_DATA=/path/to/data python benchmarks/bench_epoch.py          # 49,000 images
    python benchmarks/bench_epoch.py --quick --data-dir DIR               # 10,000 images

Per backend, net and dtype, two things are timed, interleaved and repeated:

- ``end to end``: ``Trainer.fit()`` for exactly one epoch
  (``N_train // batch_size`` iterations): minibatch sampling, the row gather,
  the backend step, the finiteness check, the history, the SGD update. The
  per-epoch evaluation is made negligible (validation off,
  ``train_acc_samples=100``);
- ``step only``: the same number of steps of the trainer's own update
  (:meth:`Trainer.train_on_batch`: backend, finiteness check, SGD update,
  the fast path included) cycling over 8 batches gathered beforehand.

"pipeline share" is 1 - (end-to-end throughput / step-only throughput); the
target (issue 13) is an epoch end to end within 5% of step-only: >= 0.95. A second table times the
input pipeline's parts per batch on their own. One case turns augmentation on
(``flip,crop``): its end-to-end time includes it, its step-only time does not.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings

import common
import numpy as np

from autonet.augment import augment_batch
from autonet.backends import get_backend
from autonet.config import Config
from autonet.data import load_cifar10
from autonet.net import init_params, init_rng
from autonet.train import Trainer

TARGET = 0.95
SEED_INIT, DEEP_INIT = dict(init="std", std=1e-4), dict(init="he")
CASES = [  # (backend, hidden sizes, batch size, init, augment)
    ("manual", (300,), 400, SEED_INIT, ()),
    ("autograd", (300,), 400, SEED_INIT, ()),
    ("manual", (300,), 400, SEED_INIT, ("flip", "crop")),
    ("manual", (1024, 1024), 256, DEEP_INIT, ()),
]
POOL = 8  # pre-gathered batches for the step-only loop


def epoch_runs(backend: str, data, sizes, batch: int, dtype, init: dict, sampling: str, augment=()):
    """Two closures, each running one epoch: through the Trainer, and step-only."""
    params = init_params(sizes, rng=init_rng(0), dtype=dtype, **init)
    cfg = Config(batch_size=batch, sampling=sampling, train_acc_samples=100, progress=False, augment=augment)
    n = len(data.y_train)
    iters = max(n // batch, 1)
    rng = np.random.default_rng(1)
    pool = []
    for _ in range(POOL):
        idx = rng.integers(0, n, size=batch)
        pool.append((np.ascontiguousarray(data.X_train[idx], dtype=dtype), data.y_train[idx]))
    # the step-only loop: the trainer's own update (its fast path) on batches gathered beforehand
    bare = Trainer(get_backend(backend), params, pool[0][0], pool[0][1], config=cfg.replace(augment=()))
    steps = [(lambda X=X, y=y: bare.train_on_batch(X, y)) for X, y in pool]
    seeds = iter(range(10**6))

    def end_to_end():
        trainer = Trainer(
            get_backend(backend),
            params,
            data.X_train,
            data.y_train,
            config=cfg.replace(num_iters=iters, seed=next(seeds)),
        )
        start = time.perf_counter()
        trainer.fit()
        return time.perf_counter() - start

    def step_only():
        start = time.perf_counter()
        for i in range(iters):
            steps[i % POOL]()
        return time.perf_counter() - start

    return end_to_end, step_only, iters


def pipeline_parts(data, batch: int, dtype, sizes, reps: int = 50) -> list[list[str]]:
    """Per-batch milliseconds of the trainer's input-side work, each timed alone."""
    n = len(data.y_train)
    rng = np.random.default_rng(0)
    # fresh random rows every call, as in training (one fixed idx would be served from cache)
    idxs = itertools.cycle([rng.integers(0, n, size=batch) for _ in range(64)])
    grads = init_params(sizes, init="he", rng=0, dtype=dtype)
    X_batch = data.X_train[next(idxs)]
    parts = {
        "sample indices (rng.integers)": lambda: rng.integers(0, n, size=batch),
        "gather rows X_train[idx]": lambda: data.X_train[next(idxs)],
        f"gather + np.asarray(dtype={np.dtype(dtype).name})": lambda: np.asarray(data.X_train[next(idxs)], dtype=dtype),
        "gather labels y_train[idx]": lambda: data.y_train[next(idxs)],
        "augment_batch(flip, crop 4) of a gathered batch": lambda: augment_batch(
            X_batch, rng, flip=True, crop_padding=4
        ),
        "finiteness check of the grads": lambda: [np.isfinite(g.sum()) for g in grads.values()],
    }
    rows = []
    for name, fn in parts.items():
        fn()
        times = [common.time_block(fn, 5) for _ in range(reps)]
        rows.append([name, f"{common.summarize(times)[0] * 1e3:.3f}"])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None, help="CIFAR-10 folder (default: $AUTONET_DATA, else the cache)")
    p.add_argument("--quick", action="store_true", help="10,000 training images, 2 repetitions")
    p.add_argument("--num-train", type=int, default=None, help="training images (default: 49000)")
    p.add_argument("--reps", type=int, default=None, help="interleaved repetitions (default: 3)")
    p.add_argument("--dtypes", default="float32", help="comma-separated (default: %(default)s)")
    p.add_argument("--sampling", default="replacement", choices=("replacement", "epoch"))
    p.add_argument("--threads", type=int, default=None, help="numpy BLAS threads (default: current)")
    args = p.parse_args(argv)
    num_train = args.num_train or (10_000 if args.quick else None)
    reps = args.reps or (2 if args.quick else 3)
    threads = args.threads or common.blas_threads()
    dtypes = [np.dtype(d) for d in args.dtypes.split(",") if d]

    start = time.perf_counter()
    with common.blas_threads_limited(threads):
        common.print_header("autonet epoch benchmark (benchmarks/bench_epoch.py)")
        print(f"threads: {threads}; repetitions: {reps}; sampling: {args.sampling}")
        rows, part_rows = [], []
        for dtype in dtypes:
            with warnings.catch_warnings():  # "no test_batch": irrelevant here
                warnings.simplefilter("ignore", UserWarning)
                data = load_cifar10(args.data_dir, num_train=num_train, dtype=dtype, download=False, quiet=True)
            n = len(data.y_train)
            for backend, hidden, batch, init, augment in CASES:
                sizes = (data.X_train.shape[1], *hidden, 10)
                e2e, step, iters = epoch_runs(backend, data, sizes, batch, dtype, init, args.sampling, augment)
                times = common.interleaved(
                    {"e2e": e2e, "step": step}, reps=reps, block_seconds=0, warmup=1, rewarm=False
                )
                e2e_t, step_t = np.asarray(times["e2e"]), np.asarray(times["step"])
                rows.append(
                    [
                        backend,
                        "-".join(map(str, sizes)),
                        batch,
                        dtype.name,
                        ",".join(augment) or "none",
                        iters,
                        f"{common.summarize(e2e_t)[0]:.2f}",
                        f"{common.summarize(step_t)[0]:.2f}",
                        f"{iters * batch / common.summarize(e2e_t)[0]:,.0f}",
                        f"{iters * batch / common.summarize(step_t)[0]:,.0f}",
                        common.fmt_ratio(step_t / e2e_t, TARGET, True),
                    ]
                )
            part_rows += [[dtype.name, 400, *r] for r in pipeline_parts(data, 400, dtype, (3072, 300, 10))]
            del data
        print(f"\nOne epoch ({n:,} training images), median of {reps} interleaved repetitions (seconds; images/s):\n")
        print(
            common.markdown_table(
                [
                    "backend",
                    "net",
                    "batch",
                    "dtype",
                    "augment",
                    "steps",
                    "end-to-end s",
                    "step-only s",
                    "end-to-end img/s",
                    "step-only img/s",
                    f"end-to-end / step-only (>= {TARGET})",
                ],
                rows,
            )
        )
        print("\nInput-pipeline parts, per batch, each timed alone (median ms; grads of a 3072-300-10 net):\n")
        print(common.markdown_table(["dtype", "batch", "part", "ms"], part_rows))
    print(f"\nload average after (1/5/15 min): {common.load_average()}; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
