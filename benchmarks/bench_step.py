"""One training step (forward + backward + SGD update): manual vs autograd vs PyTorch CPU.

Usage::

    python benchmarks/bench_step.py            # full run, < 3 minutes on 2 cores
    python benchmarks/bench_step.py --quick    # fewer repetitions (~1 minute)
    python benchmarks/bench_step.py --threads 1

PyTorch is optional: ``pip install torch==2.13.0`` (CPU build); without it the
torch column says "skipped". The backends are looked up through
:func:`autonet.backends.get_backend`, so the table measures the code as it is.

What is timed, per net, batch size and dtype, on the same random batch:

- ``manual`` / ``autograd``: ``loss, grads = loss_and_grads(params, X, y, reg)``
  then :func:`autonet.optim.sgd` on every parameter (what the trainer does);
- ``torch``: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``,
  ``F.cross_entropy + 0.5*reg*sum ||W||^2``, ``backward()``, then
  ``p.add_(p.grad, alpha=-lr)`` under ``torch.no_grad()``;
  ``torch.set_num_threads`` equals numpy's BLAS threads.

The three run interleaved (see :func:`common.interleaved`) and repeated; each
cell is the median step time with its interquartile range in brackets. FLOPs
are counted analytically: the forward pass is ``2 N sum_l fan_in_l fan_out_l``,
the backward twice that minus the first layer's skipped ``dX`` product
(``2 N D H1``); GFLOP/s is that count over the median time, and "% peak" is
against numpy's achieved rate on a large square GEMM of the same dtype.
Ratios are paired per repetition: "manual vs torch" is torch time / manual
time (throughput ratio, target >= 1.2), "autograd/manual" is autograd time /
manual time (target <= 1.5).
"""

from __future__ import annotations

import argparse
import sys
import time

import common
import numpy as np

from autonet.net import init_params

LR, REG = 1e-3, 1e-2
CASES = [  # (net name, batch size, layer sizes)
    ("seed", 200, (3072, 300, 10)),
    ("seed", 400, (3072, 300, 10)),
    ("deep", 256, (3072, 1024, 1024, 10)),
]
TINY_CASES = [("tiny", 16, (48, 20, 10)), ("tiny-deep", 16, (48, 20, 20, 10))]
DTYPES = ("float32", "float64")
TARGET_VS_TORCH, TARGET_AUTOGRAD = 1.2, 1.5


def step_flops(n: int, sizes) -> float:
    """Analytic FLOPs of one forward + backward: ``3 F - 2 N D H1``, ``F = 2 N sum fan_in fan_out``."""
    forward = 2.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    return 3.0 * forward - 2.0 * n * sizes[0] * sizes[1]


# ----- the GEMM ceiling -----


def gemm_rate(dtype: str, n: int, reps: int, torch=None) -> tuple[float, float]:
    """Best and median GFLOP/s of an (n, n) @ (n, n) product (numpy, or torch when given)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    if torch is not None:
        a, b = torch.from_numpy(a), torch.from_numpy(b)
        out = torch.empty((n, n), dtype=a.dtype)
        fn = lambda: torch.matmul(a, b, out=out)  # noqa: E731
    else:
        out = np.empty((n, n), dtype=dtype)
        fn = lambda: np.matmul(a, b, out=out)  # noqa: E731
    fn()
    rates = [2.0 * n**3 / common.time_block(fn, 1) / 1e9 for _ in range(reps)]
    return max(rates), float(np.median(rates))


# ----- the three steps -----


def torch_step(torch, params: dict, X, y):
    """A closure doing one idiomatic PyTorch step on a net initialised from ``params``."""
    import torch.nn.functional as F

    L = sum(1 for k in params if k.startswith("W"))
    layers = []
    for i in range(1, L + 1):
        w, b = params[f"W{i}"], params[f"b{i}"]
        lin = torch.nn.Linear(*w.shape, dtype=torch.from_numpy(w).dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()] if i < L else [lin]
    model = torch.nn.Sequential(*layers)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step():
        loss = F.cross_entropy(model(Xt), yt) + 0.5 * REG * sum(w.pow(2).sum() for w in weights)
        model.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-LR)
        return loss.item()

    return step


# ----- one case -----


def bench_case(
    sizes, n: int, dtype: str, torch, reps: int, block: float, gap: float, backends=("manual", "autograd")
) -> dict:
    """Interleaved step times (seconds per step, one per repetition) of every implementation."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=n)
    init = dict(init="std", std=1e-4) if len(sizes) == 3 else dict(init="he")  # as trained
    params = init_params(sizes, rng=1, dtype=dtype, **init)
    fns = {name: common.numpy_step(name, {k: v.copy() for k, v in params.items()}, X, y, LR, REG) for name in backends}
    if torch is not None:
        fns["torch"] = torch_step(torch, params, X, y)
    times = common.interleaved(fns, reps=reps, block_seconds=block, gap_seconds=gap)
    for name, fn in fns.items():
        if not np.isfinite(fn()):
            raise SystemExit(f"{name} diverged on {sizes} {dtype}: the timing would be meaningless")
    return times


def table(results: list, ceiling: dict) -> str:
    """The one table: times, GFLOP/s (% of the GEMM ceiling) and the paired ratios."""
    impls = ["manual", "autograd", "torch"]
    header = ["net", "batch", "dtype"]
    header += [f"{i} ms [IQR]" for i in impls]
    header += [f"{i} GFLOP/s (% peak)" for i in impls]
    header += [f"manual vs torch (>= {TARGET_VS_TORCH})", f"autograd/manual (<= {TARGET_AUTOGRAD})"]
    rows = []
    for net, n, sizes, dtype, times in results:
        flops = step_flops(n, sizes)
        row = [f"{net} {'-'.join(map(str, sizes))}", n, dtype]
        for impl in impls:
            row.append(common.fmt_ms(times[impl]) if impl in times else "skipped")
        for impl in impls:
            if impl in times:
                rate = flops / common.summarize(times[impl])[0] / 1e9
                row.append(f"{rate:.1f} ({100 * rate / ceiling[dtype]:.0f}%)")
            else:
                row.append("skipped")
        paired = lambda a, b, times=times: np.asarray(times[a]) / np.asarray(times[b])  # noqa: E731
        row.append(
            common.fmt_ratio(paired("torch", "manual"), TARGET_VS_TORCH, True)
            if {"torch", "manual"} <= set(times)
            else "skipped"
        )
        row.append(
            common.fmt_ratio(paired("autograd", "manual"), TARGET_AUTOGRAD, False)
            if {"autograd", "manual"} <= set(times)
            else "skipped"
        )
        rows.append(row)
    return common.markdown_table(header, rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    p.add_argument("--tiny", action="store_true", help="tiny shapes, a few repetitions (smoke test)")
    p.add_argument(
        "--threads", type=int, default=None, help="BLAS threads for numpy and torch (default: numpy's current count)"
    )
    p.add_argument("--reps", type=int, default=None, help="interleaved repetitions per case")
    p.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated (default: %(default)s)")
    p.add_argument(
        "--nets",
        default=None,
        metavar="NET@BATCH,...",
        help="subset of cases, e.g. deep@256 (default: seed@200,seed@400,deep@256)",
    )
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even when installed")
    p.add_argument(
        "--backends", default="manual,autograd", help="autonet backends to time, comma-separated (default: %(default)s)"
    )
    p.add_argument(
        "--gap", type=float, default=None, help="seconds of sleep before each timed block (default: 0.1; 0 with --tiny)"
    )
    args = p.parse_args(argv)
    reps = args.reps or (3 if args.tiny else 7 if args.quick else 15)
    block = 0.01 if args.tiny else 0.05 if args.quick else 0.1
    gap = args.gap if args.gap is not None else (0.0 if args.tiny else 0.1)
    gemm_n = 256 if args.tiny else 2048
    gemm_reps = 5 if args.tiny or args.quick else 10
    cases = TINY_CASES if args.tiny else CASES
    if args.nets:
        cases = [c for c in cases if f"{c[0]}@{c[1]}" in args.nets.split(",")]
    dtypes = [d for d in args.dtypes.split(",") if d]

    torch = None if args.no_torch else common.torch_or_none()
    threads = args.threads or common.blas_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    with common.blas_threads_limited(threads):
        common.print_header("autonet training-step benchmark (benchmarks/bench_step.py)", torch)
        print(
            f"threads: {threads} (numpy BLAS and torch); repetitions: {reps}, "
            f"~{block * 1e3:.0f} ms timed blocks, {gap * 1e3:.0f} ms gap"
        )
        if torch is None:
            print(
                f"torch: skipped (not installed: {common.TORCH_HINT})"
                if not args.no_torch
                else "torch: skipped (--no-torch)"
            )
        ceiling, gemm_rows = {}, []
        for dtype in dtypes:
            best, med = gemm_rate(dtype, gemm_n, reps=gemm_reps)
            ceiling[dtype] = best
            row = [dtype, f"{gemm_n}^3", f"{best:.1f} (median {med:.1f})"]
            if torch is not None:
                t_best, t_med = gemm_rate(dtype, gemm_n, reps=gemm_reps, torch=torch)
                row.append(f"{t_best:.1f} (median {t_med:.1f})")
            gemm_rows.append(row)
        print(f"\nGEMM ceiling (best of {gemm_reps} square products; 'peak' below = numpy's best):\n")
        print(
            common.markdown_table(
                ["dtype", "GEMM", "numpy GFLOP/s"] + (["torch GFLOP/s"] if torch is not None else []), gemm_rows
            )
        )
        results = []
        for net, n, sizes in cases:
            for dtype in dtypes:
                times = bench_case(
                    sizes, n, dtype, torch, reps, block, gap, backends=[b for b in args.backends.split(",") if b]
                )
                results.append((net, n, sizes, dtype, times))
        print(
            "\nOne training step (forward + backward + SGD update); median [IQR] over "
            f"{reps} interleaved repetitions:\n"
        )
        print(table(results, ceiling))
    print(f"\nload average after (1/5/15 min): {common.load_average()}; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
