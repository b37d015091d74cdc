"""Shared pieces of the benchmark scripts: machine line, thread control, timing, tables.

The scripts in this folder are run as ``python benchmarks/<script>.py``, which
puts this folder on ``sys.path``, so they import this module as ``common``.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

TORCH_HINT = "pip install torch==2.13.0 (a CPU build; optional, not a dependency of autonet)"

# ----- the machine -----


def cpu_model() -> str:
    """``model name`` from /proc/cpuinfo, else :func:`platform.processor`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def mem_gib() -> float | None:
    """Total memory in GiB from /proc/meminfo (None where it is absent)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def blas_info() -> dict:
    """numpy's BLAS as threadpoolctl sees it (first ``user_api == "blas"`` entry)."""
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("user_api") == "blas":
            return info
    return {}


def blas_threads() -> int:
    """Threads numpy's BLAS uses now (1 when threadpoolctl finds no BLAS)."""
    return int(blas_info().get("num_threads") or 1)


def load_average() -> str:
    """``"1.02 0.87 0.55"``: the 1-, 5- and 15-minute load averages."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def torch_or_none():
    """The ``torch`` module, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def machine_lines(torch=None) -> list[str]:
    """Lines naming the machine, Python, numpy + BLAS and torch (when given)."""
    info = blas_info()
    mem = mem_gib()
    lines = [
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs"
        + (f", {mem:.0f} GiB" if mem else "")
        + f", {platform.system()} {platform.release()}",
        f"python {platform.python_version()}, numpy {np.__version__} + {info.get('internal_api', '?')} "
        f"{info.get('version', '?')} ({info.get('architecture', '?')} kernels, "
        f"{info.get('num_threads', '?')} threads)",
        "OPENBLAS_CORETYPE="
        + os.environ.get("OPENBLAS_CORETYPE", "(unset)")
        + ", OPENBLAS_L2_SIZE="
        + os.environ.get("OPENBLAS_L2_SIZE", "(unset)"),
    ]
    if torch is not None:
        cfg = torch.__config__.show()
        blas = next(
            (part.split("=", 1)[1] for part in cfg.replace(",", " ").split() if part.startswith("BLAS_INFO=")), "?"
        )
        lines.append(f"torch {torch.__version__} (BLAS {blas}, {torch.get_num_threads()} threads)")
    return lines


def print_header(title: str, torch=None) -> None:
    """The title, the exact command, the machine and the load average."""
    print(f"# {title}")
    print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    for line in machine_lines(torch):
        print(line)
    print(f"load average before (1/5/15 min): {load_average()}")
    if os.environ.get("OPENBLAS_CORETYPE"):
        print(
            f"NOTE: OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} overrides OpenBLAS's own kernel choice; "
            "every numpy GEMM (the floor too) depends on it (on an AVX-512 CPU, Haswell kernels run a "
            "2048^3 product at about half the rate). Unset it to measure the machine's own kernels."
        )
    try:
        busy = os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
    except OSError:
        busy = False
    if busy:
        print(
            "WARNING: the machine is busy. Other processes make multi-threaded BLAS/OpenMP timings "
            "erratic (a thread descheduled mid-GEMM stalls its partner); re-run on a quiet machine, "
            "or compare with --threads 1."
        )


@contextmanager
def blas_threads_limited(n: int) -> Iterator[None]:
    """numpy's BLAS limited to ``n`` threads inside the block."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


# ----- one step of an autonet backend -----


def numpy_step(backend_name: str, params: dict, X, y, lr: float, reg: float) -> Callable[[], float]:
    """A closure doing one training step of an autonet backend on ``params`` (updated in place).

    ``loss, grads = get_backend(backend_name)(params, X, y, reg=reg)``, then
    :func:`autonet.optim.sgd` on every parameter, as the trainer does.
    """
    from autonet.backends import get_backend
    from autonet.optim import sgd

    loss_and_grads = get_backend(backend_name)
    config = {"learning_rate": lr}

    def step():
        loss, grads = loss_and_grads(params, X, y, reg=reg)
        for name, w in params.items():
            params[name], _ = sgd(w, grads[name], config)
        return loss

    return step


# ----- timing -----


def summarize(samples: Sequence[float]) -> tuple[float, float, float]:
    """``(median, q1, q3)`` of ``samples``."""
    q1, med, q3 = np.percentile(np.asarray(samples, dtype=float), [25, 50, 75])
    return float(med), float(q1), float(q3)


def time_block(fn: Callable[[], object], inner: int) -> float:
    """Seconds per call of ``fn``, averaged over ``inner`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def interleaved(
    fns: dict[str, Callable[[], object]],
    reps: int,
    block_seconds: float,
    gap_seconds: float = 0.0,
    warmup: int = 2,
    rewarm: bool = True,
) -> dict[str, list[float]]:
    """Per-call seconds of each function, measured in interleaved, repeated blocks.

    Every repetition runs one block per function, rotating which goes first
    so that no function always follows the same other one. A block is one
    untimed call (it wakes that library's threads and warms its caches), then
    ``inner`` timed calls, ``inner`` chosen once so that a block lasts about
    ``block_seconds`` (1 when ``block_seconds <= 0``; no untimed call when
    ``rewarm`` is False). ``gap_seconds`` of sleep before a block lets the
    other library's idle BLAS/OpenMP threads stop spinning.

    Returns
    -------
    dict name -> list of ``reps`` per-call times (seconds), one per repetition,
    so that ``times[a][r] / times[b][r]`` is a paired ratio.
    """
    names = list(fns)
    inner = {}
    for name in names:
        for _ in range(warmup):
            fns[name]()
        inner[name] = max(1, round(block_seconds / max(time_block(fns[name], 1), 1e-9))) if block_seconds > 0 else 1
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if gap_seconds:
                time.sleep(gap_seconds)
            if rewarm:
                fns[name]()
            times[name].append(time_block(fns[name], inner[name]))
    return times


# ----- tables -----


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table with columns padded to equal width."""
    cols = [list(map(str, col)) for col in zip(header, *rows, strict=True)]
    widths = [max(len(c) for c in col) for col in cols]
    fmt = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    lines = [fmt(list(map(str, header))), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt(list(map(str, row))) for row in rows]
    return "\n".join(lines)


def fmt_ms(samples: Sequence[float]) -> str:
    """``"12.3 [12.1-12.6]"``: median and interquartile range, in milliseconds."""
    med, q1, q3 = summarize(samples)
    return f"{med * 1e3:.3g} [{q1 * 1e3:.3g}-{q3 * 1e3:.3g}]"


def fmt_ratio(samples: Sequence[float], target: float, at_least: bool) -> str:
    """``"1.31 [1.28-1.35] ok"``: a paired ratio's median, IQR and the target's verdict."""
    med, q1, q3 = summarize(samples)
    ok = med >= target if at_least else med <= target
    return f"{med:.2f} [{q1:.2f}-{q3:.2f}] {'ok' if ok else 'MISS'}"
