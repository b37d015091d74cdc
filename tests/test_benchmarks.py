"""Smoke test of the step benchmark: it runs on tiny shapes and prints its table.

No timing is asserted; this only keeps ``benchmarks/bench_step.py`` runnable
as the backends change underneath it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_step.py"


def test_bench_step_tiny_prints_the_table():
    out = subprocess.run(
        [sys.executable, str(BENCH), "--tiny", "--no-torch", "--reps", "2"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for needed in (
        "machine:",
        "load average before",
        "GEMM ceiling",
        "manual ms [IQR]",
        "autograd/manual (<= 1.5)",
        "torch: skipped (--no-torch)",
        "load average after",
    ):
        assert needed in text, f"{needed!r} missing from:\n{text}"
    rows = [line for line in text.splitlines() if line.startswith("| tiny")]
    assert len(rows) == 4, text  # 2 tiny nets x 2 dtypes
    assert all(row.count("skipped") == 3 for row in rows), rows  # torch time, rate, ratio


PEERS = BENCH.parent / "bench_peers.py"


def test_bench_peers_tiny_prints_the_goal_and_best_recipe_tables():
    out = subprocess.run(
        [sys.executable, str(PEERS), "--tiny", "--peers", "floor,manual,autograd"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for needed in (
        "machine:",
        "load average before",
        "every peer in its own process",
        "floor worker: numpy",
        "GEMM floor ms",
        "floor/manual (>= 0.90)",
        "autograd/manual (<= 1.2)",
        "step/floor (<= 1.15)",
        "load average after",
    ):
        assert needed in text, f"{needed!r} missing from:\n{text}"
    rows = [line for line in text.splitlines() if line.startswith("| 48-")]
    assert len(rows) == 2, text
    assert all(row.count("skipped") == 4 for row in rows), rows  # torch and jax: time and ratio
    assert "| --preset best 3072-20-20-20-10 | 256" in text, text
