"""One training step against its GEMM floor: autonet vs PyTorch eager vs JAX jit, each peer in its own process.

Usage::

    python benchmarks/bench_peers.py             # the goal table + the best recipe (about 3 minutes)
    python benchmarks/bench_peers.py --quick     # fewer passes
    python benchmarks/bench_peers.py --threads 1
    python benchmarks/bench_peers.py --tiny --peers floor,manual,autograd   # smoke test, seconds

PyTorch and JAX are optional peers, not dependencies of autonet:
``pip install torch==2.13.0`` (CPU build) and ``pip install jax jaxlib`` (CPU).
A peer that is not installed is reported as "skipped".

What is timed
-------------
- ``floor``: the **GEMM floor** -- exactly the matrix products a step needs,
  with preallocated outputs, in numpy's BLAS: ``h @ W`` for every layer,
  ``dW = h^T delta`` for every layer, ``dX = delta W^T`` for every layer but
  the first. Nothing else (no bias, activation, loss or update), so no step
  in that BLAS can be faster.
- ``manual`` / ``autograd``: :meth:`autonet.train.Trainer.train_on_batch`
  -- forward, backward and the SGD update exactly as ``Trainer.step`` does
  them after drawing the batch (for ``manual`` the trainer's fast path).
- ``torch``: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``,
  ``F.cross_entropy + 0.5*reg*sum ||W||^2``, ``backward()``,
  ``p.add_(p.grad, alpha=-lr)`` (see ``bench_step.torch_step``).
- ``jax``: the same loss written in ``jax.numpy``, ``value_and_grad`` and the
  SGD update in one ``jax.jit`` function, parameters donated (updated in place).
- **best recipe**: ``Trainer.step()`` of ``--preset best`` (3072-2048-1024-512-10,
  batch norm, dropout 0.2, label smoothing, AdamW, flips + crops, batch 256)
  on 49,000 random training rows: everything a step of that run does, the
  batch gather and augmentation included; against its own GEMM floor.

With ``--threads N`` every worker is pinned to N CPUs (``sched_setaffinity``,
which XLA's thread pool obeys too) and numpy's BLAS and torch use N threads.
Every peer runs in its own worker process (thread pools of OpenBLAS, OpenMP
and XLA interfere when they share one), and the workers take turns: in each
pass every worker in turn runs one untimed step and then ``--steps`` timed
steps of a case while the others wait idle, 0.1 s apart; the order rotates
from pass to pass. A cell is the median step time over all passes; the ratios
are computed per pass (paired) and their median is shown.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import common
import numpy as np

LR, REG = 1e-3, 1e-2
CASES = {  # name -> (layer sizes, batch)
    "seed@400": ((3072, 300, 10), 400),
    "seed@200": ((3072, 300, 10), 200),
    "deep@256": ((3072, 1024, 1024, 10), 256),
}
TINY_CASES = {"tiny@16": ((48, 20, 10), 16), "tiny-deep@16": ((48, 20, 20, 10), 16)}
BEST_SIZES, BEST_BATCH, BEST_ROWS = (3072, 2048, 1024, 512, 10), 256, 49000
TINY_BEST_SIZES = (3072, 20, 20, 20, 10)  # rows of 32x32x3 images, which the augmentation needs
PEERS = ("floor", "manual", "autograd", "torch", "jax")
GOAL_FLOOR, GOAL_AUTOGRAD, GOAL_BEST = 0.90, 1.2, 1.15
JAX_HINT = "pip install jax jaxlib (CPU; optional, not a dependency of autonet)"


# ----- the steps (built inside a worker) -----


def random_case(sizes, n: int, dtype: str):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], size=n)
    return X, y


def initial_params(sizes, dtype: str, batchnorm: bool = False) -> dict:
    from autonet.net import init_params

    init = dict(init="std", std=1e-4) if len(sizes) == 3 else dict(init="he")  # as trained
    return init_params(sizes, rng=1, dtype=dtype, batchnorm=batchnorm, **init)


def floor_step(sizes, n: int, dtype: str):
    """The GEMMs of one step, preallocated: forward ``h@W``, ``dW = h^T d`` and ``dX = d W^T`` (not layer 1)."""
    rng = np.random.default_rng(0)
    weights = [(0.01 * rng.standard_normal((a, b))).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    h = [rng.standard_normal((n, sizes[0])).astype(dtype)] + [np.empty((n, b), dtype) for b in sizes[1:]]
    d = [np.empty((n, a), dtype) for a in sizes[:-1]] + [rng.standard_normal((n, sizes[-1])).astype(dtype)]
    dw = [np.empty_like(w) for w in weights]

    def step():
        for i, w in enumerate(weights):
            np.matmul(h[i], w, out=h[i + 1])
        for i in range(len(weights) - 1, -1, -1):
            np.matmul(h[i].T, d[i + 1], out=dw[i])
            if i > 0:
                np.matmul(d[i + 1], weights[i].T, out=d[i])
        return 0.0

    return step


def trainer_step(backend: str, sizes, n: int, dtype: str):
    """``Trainer.train_on_batch`` on one fixed batch: forward, backward, SGD update."""
    from autonet.backends import get_backend
    from autonet.config import Config
    from autonet.train import Trainer

    X, y = random_case(sizes, n, dtype)
    cfg = Config(learning_rate=LR, reg=REG, batch_size=n, num_iters=10**9, progress=False)
    trainer = Trainer(get_backend(backend), initial_params(sizes, dtype), X, y, config=cfg)
    return lambda: trainer.train_on_batch(X, y)


def best_recipe_step(backend: str, rows: int, dtype: str, sizes=None):
    """``Trainer.step()`` of ``--preset best`` on ``rows`` random training rows (gather + augment included).

    ``sizes`` replaces the preset's layer sizes (the smoke test's small net).
    """
    from autonet.backends import get_backend
    from autonet.config import preset
    from autonet.train import Trainer

    cfg = preset("best", progress=False, num_iters=10**9)
    sizes = sizes or (3072, *cfg.hidden, 10)
    X, y = random_case(sizes, rows, dtype)
    params = initial_params(sizes, dtype, batchnorm=cfg.batchnorm)
    trainer = Trainer(get_backend(backend), params, X, y, config=cfg)
    return trainer.step


def torch_peer_step(sizes, n: int, dtype: str):
    import torch
    from bench_step import torch_step

    X, y = random_case(sizes, n, dtype)
    return torch_step(torch, initial_params(sizes, dtype), X, y)


def jax_peer_step(sizes, n: int, dtype: str):
    """Loss, gradients and the SGD update in one ``jax.jit`` function; parameters donated."""
    import jax
    import jax.numpy as jnp

    X, y = random_case(sizes, n, dtype)
    params = {k: jnp.asarray(v) for k, v in initial_params(sizes, dtype).items()}
    L = len(sizes) - 1
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def loss_fn(p, X, y):
        h = X
        for i in range(1, L):
            h = jax.nn.relu(h @ p[f"W{i}"] + p[f"b{i}"])
        scores = h @ p[f"W{L}"] + p[f"b{L}"]
        logp = jax.nn.log_softmax(scores, axis=1)
        data = -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
        return data + 0.5 * REG * sum(jnp.sum(p[f"W{i}"] ** 2) for i in range(1, L + 1))

    def update(p, X, y):
        loss, g = jax.value_and_grad(loss_fn)(p, X, y)
        return {k: p[k] - LR * g[k] for k in p}, loss

    update = jax.jit(update, donate_argnums=0)
    state = {"p": params}

    def step():
        state["p"], loss = update(state["p"], Xj, yj)
        jax.block_until_ready(state["p"])  # dispatch is asynchronous: wait for the new parameters
        return float(loss)

    return step


def build(peer: str, case: str, sizes, n: int, dtype: str, tiny: bool):
    if case == "best":
        rows = 2 * n if tiny else BEST_ROWS
        return (
            floor_step(sizes, n, dtype)
            if peer == "floor"
            else best_recipe_step(peer, rows, dtype, sizes=sizes if tiny else None)
        )
    if peer == "floor":
        return floor_step(sizes, n, dtype)
    if peer in ("manual", "autograd"):
        return trainer_step(peer, sizes, n, dtype)
    if peer == "torch":
        return torch_peer_step(sizes, n, dtype)
    return jax_peer_step(sizes, n, dtype)


# ----- worker process -----


def peer_version(peer: str, threads: int) -> str:
    if peer == "torch":
        import torch

        torch.set_num_threads(threads)
        return f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if peer == "jax":
        import jax

        return f"jax {jax.__version__} ({jax.devices()[0].platform}, {len(os.sched_getaffinity(0))} CPUs)"
    info = common.blas_info()
    return (
        f"numpy {np.__version__} + {info.get('internal_api', '?')} {info.get('version', '?')} "
        f"({info.get('num_threads', '?')} threads)"
    )


def worker(peer: str, threads: int) -> int:
    """Serve timing requests (JSON lines on stdin): build a case, or time ``steps`` steps of one."""
    from threadpoolctl import threadpool_limits

    if hasattr(os, "sched_setaffinity") and threads < len(os.sched_getaffinity(0)):
        # every thread of the worker on `threads` CPUs: the one limit XLA's and OpenMP's pools also obey
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])
    threadpool_limits(limits=threads, user_api="blas")
    try:
        version = peer_version(peer, threads)
    except ImportError as e:
        print(json.dumps({"skipped": str(e)}), flush=True)
        return 0
    print(json.dumps({"version": version}), flush=True)
    steps = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "build":
            steps[req["case"]] = build(peer, req["case"], tuple(req["sizes"]), req["batch"], req["dtype"], req["tiny"])
            print(json.dumps({"ok": True}), flush=True)
        elif req["op"] == "time":
            fn = steps[req["case"]]
            loss = fn()  # untimed: wakes the thread pool, warms the caches
            times = []
            for _ in range(req["steps"]):
                t = time.perf_counter()
                loss = fn()
                times.append(time.perf_counter() - t)
            print(json.dumps({"times": times, "finite": bool(np.isfinite(loss))}), flush=True)
    return 0


class Worker:
    """A worker process for one peer, driven over its stdin/stdout."""

    def __init__(self, peer: str, threads: int) -> None:
        self.peer = peer
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", peer, "--threads", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        hello = self._read()
        self.version, self.skipped = hello.get("version"), hello.get("skipped")

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {self.peer} worker died (exit code {self.proc.wait()})")
        return json.loads(line)

    def ask(self, **req) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


# ----- the parent: passes, tables -----


def run_passes(workers: dict, cases: dict, passes: int, steps: int, gap: float) -> dict:
    """``times[case][peer]`` = one list of per-step seconds per pass."""
    times: dict = {case: {p: [] for p in peers} for case, (_, _, peers) in cases.items()}
    for r in range(passes):
        for case, (_, _, peers) in cases.items():
            order = peers[r % len(peers) :] + peers[: r % len(peers)]
            for peer in order:
                time.sleep(gap)
                reply = workers[peer].ask(op="time", case=case, steps=steps)
                if not reply["finite"]:
                    raise SystemExit(f"{peer} diverged on {case}: its timing would be meaningless")
                times[case][peer].append(reply["times"])
    return times


def median_ms(per_pass) -> float:
    return 1e3 * float(np.median(np.concatenate(per_pass)))


def paired(per_pass_a, per_pass_b) -> float:
    """Median over passes of (median step time of a) / (median step time of b)."""
    return float(np.median([np.median(a) / np.median(b) for a, b in zip(per_pass_a, per_pass_b, strict=True)]))


def cell(times: dict, peer: str) -> str:
    return f"{median_ms(times[peer]):.3g}" if peer in times else "skipped"


def verdict(value: float, goal: float, at_least: bool) -> str:
    return f"{value:.2f} {'ok' if (value >= goal if at_least else value <= goal) else 'MISS'}"


def goal_table(times: dict, cases: dict) -> str:
    header = [
        "net",
        "batch",
        "manual ms",
        "autograd ms",
        "PyTorch ms",
        "JAX jit ms",
        "GEMM floor ms",
        f"floor/manual (>= {GOAL_FLOOR:.2f})",
        f"autograd/manual (<= {GOAL_AUTOGRAD})",
        "PyTorch/manual (> 1)",
        "JAX/manual (> 1)",
    ]
    rows = []
    for case, (sizes, n, _) in cases.items():
        if case == "best":
            continue
        t = times[case]

        def ratio(a, b, goal, at_least, t=t):
            return verdict(paired(t[a], t[b]), goal, at_least) if a in t and b in t else "skipped"

        rows.append(
            ["-".join(map(str, sizes)), n]
            + [cell(t, p) for p in ("manual", "autograd", "torch", "jax", "floor")]
            + [
                ratio("floor", "manual", GOAL_FLOOR, True),
                ratio("autograd", "manual", GOAL_AUTOGRAD, False),
                ratio("torch", "manual", 1.0, True),
                ratio("jax", "manual", 1.0, True),
            ]
        )
    return common.markdown_table(header, rows)


def best_table(times: dict, sizes) -> str:
    t = times["best"]
    header = ["recipe", "batch", "Trainer.step ms", "GEMM floor ms", f"step/floor (<= {GOAL_BEST})"]
    ratio = verdict(paired(t["manual"], t["floor"]), GOAL_BEST, False) if "manual" in t and "floor" in t else "skipped"
    return common.markdown_table(
        header, [["--preset best " + "-".join(map(str, sizes)), BEST_BATCH, cell(t, "manual"), cell(t, "floor"), ratio]]
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="3 passes of 10 steps (default: 5 of 20)")
    p.add_argument("--tiny", action="store_true", help="tiny shapes, 2 passes of 3 steps (smoke test)")
    p.add_argument("--threads", type=int, default=2, help="threads of every peer (default: %(default)s)")
    p.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of %(default)s")
    p.add_argument("--passes", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="timed steps per pass")
    p.add_argument("--no-best", action="store_true", help="skip the --preset best step")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.threads)
    passes = args.passes or (2 if args.tiny else 3 if args.quick else 5)
    steps = args.steps or (3 if args.tiny else 10 if args.quick else 20)
    gap = 0.0 if args.tiny else 0.1
    wanted = [x for x in args.peers.split(",") if x]
    bad = [x for x in wanted if x not in PEERS]
    if bad:
        p.error(f"unknown peer {bad[0]!r}; choose from {', '.join(PEERS)}")

    start = time.perf_counter()
    common.print_header("autonet step vs GEMM floor vs PyTorch and JAX (benchmarks/bench_peers.py)")
    print(
        f"threads: {args.threads} per peer; dtype {args.dtype}; {passes} passes x {steps} timed steps; "
        f"every peer in its own process"
    )
    workers = {}
    for peer in wanted:
        w = Worker(peer, args.threads)
        if w.skipped:
            hint = {"torch": common.TORCH_HINT, "jax": JAX_HINT}.get(peer, "")
            print(f"{peer}: skipped (not installed: {hint or w.skipped})")
            w.close()
        else:
            print(f"{peer} worker: {w.version}")
            workers[peer] = w
    base = TINY_CASES if args.tiny else CASES
    cases = {name: (sizes, n, [p for p in PEERS if p in workers]) for name, (sizes, n) in base.items()}
    if not args.no_best:
        cases["best"] = (
            TINY_BEST_SIZES if args.tiny else BEST_SIZES,
            BEST_BATCH,
            [p for p in ("floor", "manual") if p in workers],
        )
    try:
        for case, (sizes, n, peers) in cases.items():
            for peer in peers:
                workers[peer].ask(op="build", case=case, sizes=list(sizes), batch=n, dtype=args.dtype, tiny=args.tiny)
        times = run_passes(workers, cases, passes, steps, gap)
    finally:
        for w in workers.values():
            w.close()
    print(
        f"\nOne training step (forward + backward + SGD update, reg {REG}), {args.dtype}, "
        f"{args.threads} threads; median ms; ratios paired per pass:\n"
    )
    print(goal_table(times, cases))
    if "best" in cases:
        print(
            "\nA full step of the best recipe (Trainer.step: gather, flips + crops, batch norm, dropout, "
            "label smoothing, AdamW):\n"
        )
        print(best_table(times, cases["best"][0]))
    print(f"\nload average after (1/5/15 min): {common.load_average()}; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
