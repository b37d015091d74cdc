"""The autograd backend's own log-sum-exp: stable, exact derivative, dtype kept."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from autonet.autograd_loss import logsumexp
from autonet.backends import get_backend
from autonet.gradcheck import max_rel_error
from netcases import random_case

manual_lg = get_backend("manual")
autograd_lg = get_backend("autograd")


def reference_logsumexp(s: np.ndarray) -> np.ndarray:
    """``log sum exp`` per row in float64 via the shift by the row max (numpy only)."""
    s = np.asarray(s, dtype=np.float64)
    m = s.max(axis=1, keepdims=True)
    return m + np.log(np.exp(s - m).sum(axis=1, keepdims=True))


def test_value_matches_the_direct_formula_where_it_cannot_overflow(rng):
    s = rng.standard_normal((7, 5)) * 3
    np.testing.assert_allclose(logsumexp(s), np.log(np.exp(s).sum(axis=1, keepdims=True)), rtol=1e-14)


def test_large_and_very_negative_scores_stay_finite():
    s = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0], [5.0, 5.0, 5.0]])
    out = logsumexp(s)
    assert out.shape == (3, 1) and np.isfinite(out).all()
    tail = np.log(1 + np.exp(-1.0) + np.exp(-2.0))
    np.testing.assert_allclose(out[:, 0], [1002 + tail, -1000 + tail, 5 + np.log(3)], rtol=1e-15)


def test_derivative_is_softmax_exactly_including_ties():
    """d/ds sum_n w_n lse(s)_n = w_n * softmax(s)_n; ties at the max split nothing."""
    s = np.array([[2.0, 2.0, -1.0], [1000.0, 999.0, 1000.0], [0.5, -3.0, 0.25]])
    w = np.array([[1.0], [2.0], [-0.5]])
    g = grad(lambda s: anp.sum(w * logsumexp(s)))(s)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    np.testing.assert_allclose(g, w * e / e.sum(axis=1, keepdims=True), rtol=1e-15, atol=1e-300)


@pytest.mark.parametrize("scale", [0.1, 30.0], ids=["moderate", "scores-in-the-hundreds"])
def test_autograd_loss_matches_manual_in_float64(rng, scale):
    """The whole autograd backend against the hand-derived one, also where exp(scores) would overflow."""
    for sizes in ([6, 5, 4], [4, 8, 8, 3], [3, 10]):
        params, X, y = random_case(rng, sizes, n=7, scale=scale)
        X = X * scale
        loss_m, g_m = manual_lg(params, X, y, reg=0.1)
        loss_a, g_a = autograd_lg(params, X, y, reg=0.1)
        assert np.isfinite(loss_a) and loss_a == pytest.approx(loss_m, rel=1e-12)
        assert max_rel_error(g_m, g_a) <= 1e-10


def test_float32_stays_float32(rng):
    s = rng.standard_normal((4, 6)).astype(np.float32) * 50
    assert logsumexp(s).dtype == np.float32
    g = grad(lambda s: anp.sum(logsumexp(s)))(s)
    assert g.dtype == np.float32
    params, X, y = random_case(rng, [5, 7, 3], n=6)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    loss, grads = autograd_lg(params, X.astype(np.float32), y, reg=0.1)
    assert np.isfinite(loss)
    assert {k: g.dtype for k, g in grads.items()} == {k: np.dtype(np.float32) for k in params}
