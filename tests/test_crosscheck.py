"""manual vs autograd vs centred finite differences, float64.

Tolerances: manual vs autograd <= 1e-10 (the two compute the same sums in a
different order, so they agree to rounding); each vs finite differences
(h = 1e-5) <= 1e-6 with weights of order 0.1, the exercise's threshold.
A centred difference carries rounding noise of about eps*|L|/h, 1e-11 to
5e-11 for losses of order 1, so an entry with |g| + |num| below ~1e-4 cannot
be checked to 1e-6 *relative* (1e-6 of 1e-5 is 1e-11, the noise itself):
such entries are held to an absolute 1e-10 instead (see
:func:`assert_close_to_numeric`). Finite differences are not used *on* ReLU kinks: there the centred
difference is the average of the one-sided slopes (0.5), while every autonet
backend uses the subgradient 0, so on kinks only the backends are compared.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from autonet.backends import available_backends, get_backend
from autonet.gradcheck import max_rel_error, numerical_param_grads, rel_error, sampled_numerical_gradient
from autonet.net import init_params
from netcases import random_case

ROOT = Path(__file__).resolve().parents[1]
manual_lg = get_backend("manual")
autograd_lg = get_backend("autograd")

dims = st.sampled_from([1, 2, 3, 5, 8])
sizes_strategy = st.lists(dims, min_size=2, max_size=5).filter(lambda s: s[-1] >= 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=sizes_strategy,
    n=dims,
    reg=st.sampled_from([0.0, 0.1, 3.0]),
    seed=st.integers(0, 2**32 - 1),
    kinks=st.booleans(),
)
def test_manual_matches_autograd(sizes, n, reg, seed, kinks):
    params, X, y = random_case(np.random.default_rng(seed), sizes, n, kinks=kinks)
    loss_m, g_m = manual_lg(params, X, y, reg=reg)
    loss_a, g_a = autograd_lg(params, X, y, reg=reg)
    # forward went well
    assert loss_m == pytest.approx(loss_a, rel=1e-12, abs=1e-15)
    # backward went well
    assert g_m.keys() == g_a.keys() == params.keys()
    for k in params:
        assert g_m[k].shape == g_a[k].shape == params[k].shape
        assert g_m[k].dtype == g_a[k].dtype == params[k].dtype
    assert max_rel_error(g_m, g_a) <= 1e-10


def assert_close_to_numeric(grads: dict, num: dict, rel: float = 1e-6, small: float = 1e-4) -> None:
    """Relative error <= rel where |g|+|num| >= small; absolute error <= 1e-10 below."""
    for k in grads:
        g, n = grads[k], num[k]
        big = np.abs(g) + np.abs(n) >= small
        if big.any():
            assert rel_error(g[big], n[big]) <= rel, k
        assert np.all(np.abs(g[~big] - n[~big]) <= 1e-10), k


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.sampled_from([1, 2, 3, 4]), min_size=2, max_size=4),
    n=st.sampled_from([1, 2, 3, 5]),
    reg=st.sampled_from([0.0, 0.5]),
    seed=st.integers(0, 2**32 - 1),
)
@example(sizes=[2, 4, 3, 4], n=5, reg=0.0, seed=5103)  # W1 entry 6.7e-6 with 1.4e-11 of noise
@pytest.mark.parametrize("backend", ["manual", "autograd"])
def test_backend_matches_finite_differences(backend, sizes, n, reg, seed):
    params, X, y = random_case(np.random.default_rng(seed), sizes, n)
    lg = get_backend(backend)
    _, grads = lg(params, X, y, reg=reg)
    num = numerical_param_grads(lambda p: lg(p, X, y, reg=reg)[0], params)
    # a pre-activation within h of 0 would put the finite difference across a kink
    h = X
    for i in range(1, len(sizes) - 1):
        z = h @ params[f"W{i}"] + params[f"b{i}"]
        assume(np.abs(z).min() >= 1e-4)  # a skipped case must not count as a pass
        h = np.maximum(z, 0)
    assert_close_to_numeric(grads, num)


def test_seed_scale_weights_finite_differences(rng):
    """At the seed's init scale (std 1e-4) with CIFAR-scale inputs (|x| ~ 50).

    Two things change at this scale. Gradients are small (~1e-4 to 1e-6), so
    the centred difference's rounding error (~eps*|L|/h ~ 1e-10) is relatively
    larger: the tolerance is 1e-5. And a step of h on W1[d, j] moves the
    pre-activation z[n, j] by h*X[n, d] ~ 5e-4, comparable to z itself, so the
    difference can straddle a ReLU kink: such entries are skipped (counted).
    """
    params = init_params([40, 20, 10], std=1e-4, rng=rng)
    X = rng.standard_normal((16, 40)) * 50
    y = rng.integers(0, 10, 16)
    z = X @ params["W1"] + params["b1"]
    h = 1e-5
    for lg in (manual_lg, autograd_lg):
        _, g = lg(params, X, y, reg=0.1)
        checked = 0
        for k in ("W1", "W2"):
            idx = [tuple(rng.integers(0, s) for s in params[k].shape) for _ in range(30)]
            for i in idx:
                if k == "W1" and (np.abs(z[:, i[1]]) <= h * np.abs(X[:, i[0]])).any():
                    continue  # the step would cross a kink
                checked += 1
                flat = np.ravel_multi_index(i, params[k].shape)
                (num,) = sampled_numerical_gradient(lambda lg=lg: lg(params, X, y, reg=0.1)[0], params[k], [flat], h)
                assert abs(num - g[k][i]) / max(1e-8, abs(num) + abs(g[k][i])) < 1e-5
        assert checked >= 20


def test_kinks_are_hit_and_agree(rng):
    params, X, y = random_case(rng, [6, 8, 4], 5, kinks=True)
    z = X @ params["W1"] + params["b1"]
    assert (z == 0).sum() >= 3  # the case really sits on kinks
    _, g_m = manual_lg(params, X, y)
    _, g_a = autograd_lg(params, X, y)
    assert max_rel_error(g_m, g_a) <= 1e-10


def test_autograd_relu_derivative_at_zero_is_zero():
    import autograd.numpy as anp
    from autograd import grad

    from autonet.autograd_loss import relu

    assert grad(lambda z: anp.sum(relu(z)))(np.array([0.0, 1.0, -1.0])).tolist() == [0.0, 1.0, 0.0]
    # why relu is not anp.maximum: autograd splits the tie 0.5 / 0.5
    assert grad(lambda z: anp.sum(anp.maximum(z, 0.0)))(np.array([0.0])).tolist() == [0.5]


def test_two_layer_module_matches_network(rng):
    from autonet.manual import two_layer

    params, X, y = random_case(rng, [7, 6, 4], 9)
    loss_a, g_a = two_layer.loss_and_grads(params, X, y, reg=0.3)
    loss_b, g_b = manual_lg(params, X, y, reg=0.3)
    assert loss_a == pytest.approx(loss_b, rel=1e-13)
    assert max_rel_error(g_a, g_b) <= 1e-10


@pytest.mark.parametrize("backend", ["manual", "autograd"])
@pytest.mark.parametrize("C", [2, 10])
def test_initial_loss_is_log_C(backend, C, rng):
    params = init_params([3072, 50, C], std=1e-4, rng=rng)
    X = rng.standard_normal((100, 3072)) * 60
    y = rng.integers(0, C, 100)
    loss, _ = get_backend(backend)(params, X, y, reg=0.0)
    assert loss == pytest.approx(np.log(C), rel=1e-2)


@pytest.mark.parametrize("backend", ["manual", "autograd"])
def test_float32_stays_float32(backend, rng):
    params = init_params([20, 10, 5], std=0.1, rng=rng, dtype=np.float32)
    X = rng.standard_normal((8, 20)).astype(np.float32)
    loss, grads = get_backend(backend)(params, X, rng.integers(0, 5, 8), reg=np.float64(0.1))
    assert all(g.dtype == np.float32 for g in grads.values())
    assert np.isfinite(loss)


def test_unknown_backend_lists_names():
    with pytest.raises(ValueError, match="manual.*autograd|autograd.*manual"):
        get_backend("tensorflow")
    assert set(available_backends()) >= {"manual", "autograd"}


def test_manual_never_imports_autograd():
    code = (
        "import sys, autonet.manual, autonet.manual.layers, autonet.manual.network, autonet.manual.two_layer; "
        "assert not any(m == 'autograd' or m.startswith('autograd.') for m in sys.modules), "
        "'manual imported autograd'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    for path in (ROOT / "manual").rglob("*.py"):
        text = path.read_text()
        assert "import autograd" not in text and "from autograd" not in text, path


def test_autograd_path_has_no_handwritten_derivatives():
    text = (ROOT / "autonet" / "autograd_loss.py").read_text()
    for forbidden in ("defvjp", "defjvp", "primitive", "import autonet.manual", "from autonet.manual", "dscores"):
        assert forbidden not in text, forbidden


@pytest.mark.parametrize("backend", ["manual", "autograd"])
def test_backend_passes_the_check_battery(backend):
    """The battery ``autonet check`` runs on students' code (exercise toy, sizes 1 and 2, reg 0 and > 0,
    ReLU kinks, scores of 1000) passes on autonet's own backends, so a third backend is held to the same cases."""
    from autonet.testing import assert_backend_passes

    report = assert_backend_passes(backend)
    assert len(report.checks) >= 60 and not report.diagnoses
