"""Where the autograd backend's step goes: its ``loss_and_grads`` alone, with and without the L2 term.

Usage::

    python benchmarks/autograd_parts.py            # about 30 s
    python benchmarks/autograd_parts.py --l2-form dot

Times ``autonet.autograd_loss.loss_and_grads`` (forward + autograd's backward,
no update) with ``reg = 1e-2`` and ``reg = 0`` (the L2 term left out), next to
the manual backend's whole fast step (``Trainer.train_on_batch``: forward,
backward and SGD update) on the same batch, for the nets of
``bench_peers.py``. ``--l2-form dot`` swaps the L2 term for the dot product of
the flattened weights, to compare the two ways of writing it; run each form in
its own process (a fresh heap), as the numbers in docs/benchmarks.md were.
"""

from __future__ import annotations

import argparse
import sys
import time

import common
import numpy as np

CASES = {"3072-300-10@200": ((3072, 300, 10), 200), "3072-1024-1024-10@256": ((3072, 1024, 1024, 10), 256)}


def median_ms(fn, steps: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def time_case(sizes, n: int, steps: int) -> list[str]:
    """Median ms of autograd's loss_and_grads (reg 1e-2, reg 0, their difference) and the manual step."""
    import autonet.autograd_loss as al
    from autonet.backends import get_backend
    from autonet.config import Config
    from autonet.net import init_params
    from autonet.train import Trainer

    rng = np.random.default_rng(0)
    params = init_params(list(sizes), init="he", rng=1, dtype=np.float32)
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], n)
    with_reg = median_ms(lambda: al.loss_and_grads(params, X, y, 1e-2), steps)
    without = median_ms(lambda: al.loss_and_grads(params, X, y, 0.0), steps)
    cfg = Config(learning_rate=1e-3, reg=1e-2, batch_size=n, num_iters=10**9, progress=False)
    trainer = Trainer(get_backend("manual"), params, X, y, config=cfg)
    manual = median_ms(lambda: trainer.train_on_batch(X, y), steps)
    return [f"{with_reg:.2f}", f"{without:.2f}", f"{with_reg - without:.2f}", f"{manual:.2f}"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--l2-form", choices=("square", "dot"), default="square")
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args(argv)

    import autograd.numpy as anp

    import autonet.autograd_loss as al

    if args.l2_form == "dot":

        def loss(params, X, Y, reg=0.0, **options):
            s = al.scores(params, X, **options)
            data = -anp.sum((s - al.logsumexp(s)) * Y) / X.shape[0]
            flat = [anp.reshape(w, (-1,)) for k, w in params.items() if k.startswith("W")]
            return data + 0.5 * reg * sum(anp.dot(f, f) for f in flat) if reg else data

        from autograd import value_and_grad

        al._loss_and_grads = value_and_grad(loss)

    common.print_header("autograd's loss_and_grads alone vs the manual step (benchmarks/autograd_parts.py)")
    print(f"L2 written as: {'sum(square(W))' if args.l2_form == 'square' else 'dot(w, w) of the flattened W'}\n")
    rows = [[name, *time_case(sizes, n, args.steps)] for name, (sizes, n) in CASES.items()]
    header = ["net@batch", "autograd reg 1e-2 ms", "autograd reg 0 ms", "L2 term ms", "manual whole step ms"]
    print(common.markdown_table(header, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
