"""Write a small synthetic stand-in for MNIST / Fashion-MNIST in the official gzip IDX format.

For trying ``autonet train --dataset mnist`` (or ``fashion-mnist``) where the
real files cannot be downloaded: ten classes of 28x28 grey shapes (bars,
diagonals, crosses, boxes, rings, dots), each randomly shifted, scaled in
brightness and noised, written under the official file names to
``DIR/<name>/``. Point ``--data-dir`` (or ``$AUTONET_DATA``) at ``DIR``; files
already in place are used as they are (checksums are verified on download only).

    python examples/make_idx_stand_in.py DIR [--name fashion-mnist] [--train 6000] [--test 1000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from autonet.data.idx import IDX_SOURCES, write_idx

SIZE = 28


def templates() -> np.ndarray:
    """(10, 28, 28) float shapes in [0, 1], centred."""
    r, c = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    radius = np.hypot(r, c)
    shapes = [
        np.abs(r) < 2,  # horizontal bar
        np.abs(c) < 2,  # vertical bar
        np.abs(r - c) < 2,  # diagonal \
        np.abs(r + c) < 2,  # diagonal /
        (np.abs(r) < 2) | (np.abs(c) < 2),  # cross +
        (np.abs(r - c) < 2) | (np.abs(r + c) < 2),  # cross x
        (np.maximum(np.abs(r), np.abs(c)) < 8) & (np.maximum(np.abs(r), np.abs(c)) > 5),  # hollow box
        np.maximum(np.abs(r), np.abs(c)) < 5,  # filled box
        (radius < 9) & (radius > 6),  # ring
        (np.hypot(r - 5, c - 5) < 3) | (np.hypot(r + 5, c + 5) < 3),  # two dots
    ]
    return np.stack(shapes).astype(np.float64) * (np.abs(r) < 12) * (np.abs(c) < 12)


def images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 images (n, 28, 28) and their labels (n,), classes balanced."""
    y = np.arange(n) % 10
    rng.shuffle(y)
    base = templates()[y]
    shifts = rng.integers(-6, 7, (n, 2))
    X = np.stack([np.roll(img, tuple(s), axis=(0, 1)) for img, s in zip(base, shifts, strict=True)])
    X = X * rng.uniform(60, 255, (n, 1, 1)) + rng.normal(0, 80, X.shape)
    return np.clip(X, 0, 255).astype(np.uint8), y.astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("dir", type=Path)
    p.add_argument("--name", choices=sorted(IDX_SOURCES), default="fashion-mnist")
    p.add_argument("--train", type=int, default=6000)
    p.add_argument("--test", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    folder = args.dir / args.name
    folder.mkdir(parents=True, exist_ok=True)
    files = {role: name for role, (name, _) in IDX_SOURCES[args.name].files.items()}
    for part, n in (("train", args.train), ("test", args.test)):
        X, y = images(n, rng)
        write_idx(folder / files[f"{part}_images"], X)
        write_idx(folder / files[f"{part}_labels"], y)
    print(f"wrote {args.train} training and {args.test} test images to {folder}")


if __name__ == "__main__":
    main()
