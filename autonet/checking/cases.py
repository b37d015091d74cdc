"""The battery of inputs every two-layer check runs: small, float64, deterministic.

Each :class:`Case` is one ``(params, X, y, reg)`` chosen to expose a class of
fault: the exercise's own toy problem, random shapes where no two of N, D, H,
C coincide (so a transposed or mis-summed array cannot pass by having the
right shape), sizes 1 and 2, ``reg = 0`` and ``reg > 0`` (to tell the data
gradient from the L2 term), pre-activations exactly on the ReLU kink, and
scores so large that a softmax without the max shift overflows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOY_SIZES = (4, 10, 3)  # the exercise's input_size, hidden_size, num_classes
TOY_STD = 1e-1
TOY_LABELS = (0, 1, 2, 2, 1)
TOY_REG = 0.05
RANDOM_SHAPES = ((7, 5, 3, 4), (1, 3, 4, 2), (2, 6, 1, 3), (3, 1, 5, 2))  # (N, D, H, C)
RANDOM_REG = 0.3
OVERFLOW_SCORE = 1000.0  # exp(1000) overflows float64 (the limit is ~709)


@dataclass
class Case:
    """One input to the battery.

    Attributes
    ----------
    name : short label shown in the table
    params : ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,), float64
    X : (N, D) float64; y : (N,) int labels in [0, C)
    reg : L2 strength
    kinks : some pre-activations ``FC1_out`` are exactly 0
    overflow : some scores are ~1000, beyond exp's float64 range
    """

    name: str
    params: dict
    X: np.ndarray
    y: np.ndarray
    reg: float
    kinks: bool = False
    overflow: bool = False

    @property
    def sizes(self) -> tuple[int, int, int, int]:
        """``(N, D, H, C)``."""
        D, H = self.params["W1"].shape
        return self.X.shape[0], D, H, self.params["W2"].shape[1]


def toy_params() -> dict:
    """The exercise's toy model: ``np.random.seed(0)`` then ``TwoLayerNet(4, 10, 3, std=1e-1)``.

    Drawn from a private ``RandomState(0)``, the same stream as the global
    seed, so NumPy's global state is left alone.
    """
    D, H, C = TOY_SIZES
    rs = np.random.RandomState(0)
    return {"W1": TOY_STD * rs.randn(D, H), "b1": np.zeros(H), "W2": TOY_STD * rs.randn(H, C), "b2": np.zeros(C)}


def toy_data() -> tuple[np.ndarray, np.ndarray]:
    """The exercise's toy data: ``np.random.seed(1)``; ``X = 10 * randn(5, 4)``, ``y = [0, 1, 2, 2, 1]``."""
    X = 10 * np.random.RandomState(1).randn(len(TOY_LABELS), TOY_SIZES[0])
    return X, np.array(TOY_LABELS)


def random_params(rng: np.random.Generator, D: int, H: int, C: int, scale: float = 0.5) -> dict:
    """Weights *and biases* ~ N(0, scale^2), so a fault in a bias gradient shows."""
    shapes = {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
    return {k: scale * rng.standard_normal(shape) for k, shape in shapes.items()}


def kink_case(rng: np.random.Generator, N: int = 4, D: int = 6, H: int = 8, C: int = 3) -> Case:
    """Every odd hidden unit of example 0 has ``FC1_out`` exactly 0.

    Example 0 gets small integer inputs and the odd columns of ``W1`` dyadic
    entries (k/8), so ``x0 . W1[:, j]`` is exact and the bias
    ``b1[j] = -x0 . W1[:, j]`` cancels it to exactly 0.
    """
    params = random_params(rng, D, H, C)
    X = rng.standard_normal((N, D))
    X[0] = rng.integers(-3, 4, D)
    odd = params["W1"][:, 1::2]
    odd[...] = rng.integers(-8, 9, odd.shape) / 8
    params["b1"][1::2] = -(X[0] @ odd)
    return Case("ReLU kinks", params, X, rng.integers(0, C, N), 0.1, kinks=True)


def overflow_case(rng: np.random.Generator, N: int = 5, D: int = 4, H: int = 6, C: int = 3) -> Case:
    """Every score shifted up by ``OVERFLOW_SCORE`` (through ``b2``): ``exp`` overflows unless the row max is
    subtracted, while the softmax itself, which ignores a per-row constant, is an ordinary one."""
    params = random_params(rng, D, H, C)
    params["b2"] += OVERFLOW_SCORE
    return Case("large scores", params, rng.standard_normal((N, D)), rng.integers(0, C, N), 0.0, overflow=True)


def predict_case(rng: np.random.Generator, N: int = 6, D: int = 3, H: int = 5, C: int = 4) -> Case:
    """``b2`` alone decides every prediction: ``argmax(scores)`` differs from ``argmax(H_out . W2)``."""
    params = random_params(rng, D, H, C)
    X = rng.standard_normal((N, D))
    params["b2"] = 10.0 * np.arange(C)  # class C-1 wins every row
    hidden = np.maximum(X @ params["W1"] + params["b1"], 0)
    if ((hidden @ params["W2"]).argmax(axis=1) == C - 1).all():
        params["W2"][:, C - 1] -= 1.0  # make class C-1 lose without b2
    return Case("predict (b2 decides)", params, X, rng.integers(0, C, N), 0.0)


def battery(seed: int = 231) -> list[Case]:
    """The cases, in the order they are run and shown: toy, random shapes (reg 0 and > 0), kinks, overflow."""
    rng = np.random.default_rng(seed)
    cases = [Case("exercise toy", toy_params(), *toy_data(), reg) for reg in (0.0, TOY_REG)]
    for N, D, H, C in RANDOM_SHAPES:
        params = random_params(rng, D, H, C)
        X, y = rng.standard_normal((N, D)), rng.integers(0, C, N)
        for reg in (0.0, RANDOM_REG):
            cases.append(Case("random", {k: v.copy() for k, v in params.items()}, X.copy(), y.copy(), reg))
    return [*cases, kink_case(rng), overflow_case(rng)]
