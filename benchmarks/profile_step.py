"""Where one manual training step spends its time, line by line, beside PyTorch's ops.

Usage::

    pip install line_profiler            # and, for the torch table, torch==2.13.0 (CPU)
    python benchmarks/profile_step.py --net deep --dtype float32 [--threads N] [--steps 30]

The manual step (``autonet.manual.network.loss_and_grads``, the layer functions it
calls, and the SGD update) runs under ``line_profiler``; every line that
takes >= 1% of the step is printed with its milliseconds per step. The same
step in PyTorch (as in ``bench_step.py``) runs under ``torch.profiler`` and
its aten ops are listed by self CPU time per step. The numbers name what to
make faster; they are not the benchmark (profiling adds a little per line).
"""

from __future__ import annotations

import argparse
import sys

import bench_step
import common
import numpy as np

from autonet.net import init_params

NETS = {"seed200": (200, (3072, 300, 10)), "seed400": (400, (3072, 300, 10)), "deep": (256, (3072, 1024, 1024, 10))}


def manual_lines(step, steps: int, min_share: float = 0.01) -> list[list[str]]:
    """Rows (function:line, ms per step, % of step, source) of the lines above ``min_share``."""
    try:
        from line_profiler import LineProfiler
    except ImportError:
        raise SystemExit("profile_step.py needs line_profiler: pip install line_profiler") from None

    import autonet.manual.layers
    import autonet.manual.network
    from autonet import optim

    prof = LineProfiler()
    for module in (autonet.manual.layers, autonet.manual.network):
        for name in dir(module):
            fn = getattr(module, name)
            if callable(fn) and getattr(fn, "__module__", None) == module.__name__:
                prof.add_function(fn)
    prof.add_function(optim.sgd)
    prof.add_function(step)
    prof.runcall(lambda: [step() for _ in range(steps)])
    stats = prof.get_stats()
    entries, total = [], 0.0
    for (filename, _, func), lines in stats.timings.items():
        for lineno, _, t in lines:
            sec = t * stats.unit / steps
            if func.endswith("numpy_step.<locals>.step"):
                total += sec  # the step closure's own lines cover the whole step
            entries.append((sec, f"{func}:{lineno}", filename, lineno))
    rows = []
    for sec, where, filename, lineno in sorted(entries, reverse=True):
        if sec < min_share * total or "<locals>.step" in where:
            continue
        with open(filename, encoding="utf-8") as f:
            source = f.readlines()[lineno - 1].strip()
        rows.append([where, f"{sec * 1e3:.2f}", f"{100 * sec / total:.0f}%", f"`{source}`"])
    rows.append(["whole step", f"{total * 1e3:.2f}", "100%", "(nested lines counted in their callers too)"])
    return rows


def torch_ops(torch, step, steps: int, top: int = 12) -> list[list[str]]:
    """Rows (aten op, self CPU ms per step, calls per step) of the ``top`` costliest ops."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) / steps
    rows = [[e.key, f"{e.self_cpu_time_total / steps / 1e3:.2f}", f"{e.count // steps}"] for e in events[:top]]
    rows.append(["all ops", f"{total / 1e3:.2f}", ""])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--net", choices=sorted(NETS), default="deep")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args(argv)
    n, sizes = NETS[args.net]
    threads = args.threads or common.blas_threads()
    torch = common.torch_or_none()
    if torch is not None:
        torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0])).astype(args.dtype)
    y = rng.integers(0, sizes[-1], size=n)
    init = dict(init="std", std=1e-4) if len(sizes) == 3 else dict(init="he")
    params = init_params(sizes, rng=1, dtype=args.dtype, **init)
    with common.blas_threads_limited(threads):
        common.print_header("autonet step profile (benchmarks/profile_step.py)", torch)
        print(
            f"net {args.net} {'-'.join(map(str, sizes))}, batch {n}, {args.dtype}, {threads} threads, "
            f"{args.steps} steps\n"
        )
        step = common.numpy_step(
            "manual", {k: v.copy() for k, v in params.items()}, X, y, bench_step.LR, bench_step.REG
        )
        for _ in range(3):
            step()
        print("manual step, lines >= 1% (ms per step, line_profiler):\n")
        print(common.markdown_table(["where", "ms", "share", "line"], manual_lines(step, args.steps)))
        if torch is None:
            print(f"\ntorch: skipped (not installed: {common.TORCH_HINT})")
        else:
            tstep = bench_step.torch_step(torch, params, X, y)
            for _ in range(3):
                tstep()
            print("\ntorch step, top aten ops by self CPU time (ms per step, torch.profiler):\n")
            print(common.markdown_table(["op", "self ms", "calls"], torch_ops(torch, tstep, args.steps)))
    print(f"\nload average after (1/5/15 min): {common.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
