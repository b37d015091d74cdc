"""Per-layer numerical checks of manual/layers.py (float64, tiny shapes)."""

from __future__ import annotations

import numpy as np
import pytest

from autonet.gradcheck import numerical_gradient, rel_error
from autonet.manual.layers import (
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    relu_backward,
    relu_forward,
    softmax_cross_entropy,
)
from fdcheck import upstream_check


def test_affine(rng):
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    out, cache = affine_forward(x, w, b)
    np.testing.assert_allclose(out, x @ w + b)
    dout = rng.standard_normal(out.shape)
    upstream_check(affine_forward, (x, w, b), dout, affine_backward(dout, cache))


def test_affine_first_layer_skips_dx(rng):
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    out, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(np.ones_like(out), cache, compute_dx=False)
    assert dx is None and dw.shape == w.shape and db.shape == b.shape


def test_relu_masks_by_forward_input(rng):
    x = rng.standard_normal((6, 7))
    out, cache = relu_forward(x)
    dout = rng.standard_normal(out.shape)
    dx = relu_backward(dout, cache)
    upstream_check(lambda x: relu_forward(x), (x,), dout, (dx,))
    # the seed's eq. (8), max(dout, 0), is a different (wrong) function
    assert rel_error(np.maximum(dout, 0), dx) > 0.1


def test_relu_subgradient_at_zero_is_zero():
    x = np.array([[-1.0, 0.0, 2.0]])
    _, cache = relu_forward(x)
    np.testing.assert_array_equal(relu_backward(np.ones_like(x), cache), [[0.0, 0.0, 1.0]])


def test_affine_relu(rng):
    x, w, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    out, cache = affine_relu_forward(x, w, b)
    dout = rng.standard_normal(out.shape)
    upstream_check(affine_relu_forward, (x, w, b), dout, affine_relu_backward(dout, cache))


@pytest.mark.parametrize("n,c", [(1, 2), (3, 5), (8, 10)])
def test_softmax_cross_entropy(rng, n, c):
    scores = rng.standard_normal((n, c))
    y = rng.integers(0, c, size=n)
    loss, dscores = softmax_cross_entropy(scores, y)
    p = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    assert loss == pytest.approx(-np.log(p[np.arange(n), y]).mean(), rel=1e-12)
    num = numerical_gradient(lambda: softmax_cross_entropy(scores, y)[0], scores)
    assert rel_error(dscores, num) < 1e-7


def test_softmax_is_stable_for_huge_scores():
    scores = np.array([[1000.0, 0.0, -1000.0], [5000.0, 5000.0, 0.0]])
    loss, dscores = softmax_cross_entropy(scores, np.array([0, 1]))
    assert np.isfinite(loss) and np.isfinite(dscores).all()
    assert loss == pytest.approx(np.log(2) / 2)


def test_hand_worked_example():
    # Two examples, D=2, H=2, C=2, reg=0, worked by hand:
    #   X = [[1, 2], [-1, 1]], W1 = [[1, -1], [0, 1]], b1 = [0, 0]
    #   FC1 = [[1, 1], [-1, 2]] -> H = [[1, 1], [0, 2]]
    #   W2 = [[1, 0], [0, 1]], b2 = [0, 0] -> scores = H
    #   row 0 scores (1, 1): p = (1/2, 1/2); label 0 -> loss 0.6931
    #   row 1 scores (0, 2): p = (0.1192, 0.8808); label 1 -> loss 0.1269
    #   L = (0.6931 + 0.1269) / 2 = 0.4100
    #   dscores = [[-0.5, 0.5], [0.1192, -0.1192]] / 2
    #   dW2 = H^T dscores = [[-0.25, 0.25], [-0.25 + 0.1192, 0.25 - 0.1192]]
    from autonet.manual.network import loss_and_grads

    params = {"W1": np.array([[1.0, -1.0], [0.0, 1.0]]), "b1": np.zeros(2), "W2": np.eye(2), "b2": np.zeros(2)}
    X = np.array([[1.0, 2.0], [-1.0, 1.0]])
    loss, g = loss_and_grads(params, X, np.array([0, 1]))
    s = 1 / (1 + np.exp(2.0))  # 0.1192
    assert loss == pytest.approx((np.log(2) + np.log(1 + np.exp(-2.0))) / 2, rel=1e-12)
    np.testing.assert_allclose(g["W2"], [[-0.25, 0.25], [-0.25 + s, 0.25 - s]], rtol=1e-12)
