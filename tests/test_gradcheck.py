"""``autonet gradcheck`` and :func:`autonet.gradcheck.check_gradients`: a check that can fail.

NaN or inf anywhere fails; a saturated softmax does not give false failures;
a wide net is checked by sampling; a gradient that is wrong anywhere it is
sampled fails; differences that straddle a ReLU kink are re-differenced.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from autonet import backends
from autonet.backends import get_backend
from autonet.cli import main
from autonet.gradcheck import check_gradients, numerical_gradient, rel_error
from autonet.net import init_params

BACKENDS = {"manual": get_backend("manual"), "autograd": get_backend("autograd")}


def _problem(sizes=(5, 7, 3), n=4, seed=0, std=None):
    rng = np.random.default_rng(seed)
    params = init_params(list(sizes), init="he", rng=rng) if std is None else init_params(list(sizes), std=std, rng=rng)
    for k in params:
        if k.startswith("b"):
            params[k] = 0.1 * rng.standard_normal(params[k].shape)
    return params, rng.standard_normal((n, sizes[0])), rng.integers(0, sizes[-1], n)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["W1", "b2"])
def test_non_finite_parameters_fail(bad, where):
    params, X, y = _problem()
    params[where].reshape(-1)[3 % params[where].size] = bad
    report = check_gradients(BACKENDS, params, X, y, reg=0.05)
    assert not report.passed
    assert any(f"parameter {where} holds" in p for p in report.problems)


def test_non_finite_input_fails():
    params, X, y = _problem()
    X[0, 0] = np.nan
    report = check_gradients(BACKENDS, params, X, y)
    assert not report.passed and report.problems == ["X holds NaN"]


def test_overflowing_net_fails_with_exit_1(capsys):
    """--std 1e300 makes every loss NaN; once this printed "ok" and exited 0 (max(0.0, nan) == 0.0)."""
    assert main(["gradcheck", "--std", "1e300"]) == 1
    out = capsys.readouterr().out
    assert "FAIL manual: loss is nan" in out and "FAIL autograd: loss is nan" in out
    assert "ok:" not in out


def test_overflowing_reg_fails_with_exit_1(capsys):
    assert main(["gradcheck", "--reg", "1e308", "--std", "1e10"]) == 1
    assert "loss is inf" in capsys.readouterr().out


@pytest.mark.parametrize("std", ["nan", "inf", "0", "-1"])
def test_non_finite_std_is_refused_as_bad_input(std, capsys):
    with pytest.raises(SystemExit) as e:
        main(["gradcheck", "--std", std])
    assert e.value.code == 2
    assert "--std" in capsys.readouterr().err


def test_non_finite_gradient_fails():
    params, X, y = _problem()

    def nan_gradient(params, X, y, reg=0.0):
        loss, grads = BACKENDS["manual"](params, X, y, reg=reg)
        grads["b1"][0] = np.nan
        return loss, grads

    report = check_gradients({"nan_gradient": nan_gradient}, params, X, y)
    assert not report.passed and report.problems == ["nan_gradient: gradient of b1 holds NaN"]


def test_saturated_net_passes_on_the_noise_floor(capsys):
    """Std 0.5 at 3072 inputs saturates the softmax: tiny gradients, relative errors > 1e-6, yet correct."""
    params, X, y = _problem((3072, 10), std=0.5)
    report = check_gradients(BACKENDS, params, X, y, reg=0.05, rng=0)
    assert report.passed, report.problems
    assert max(c.rel_error for c in report.checks) > 1e-6  # the exercise's rule alone would FAIL here
    assert main(["gradcheck", "--sizes", "3072,10", "--std", "0.5"]) == 0
    assert main(["gradcheck", "--sizes", "20,10,5", "--std", "10"]) == 0


def test_default_scale_does_not_saturate():
    """He init keeps the scores of order 1 at any width: the softmax has room to move."""
    from autonet.net import scores

    for sizes in ((5, 7, 3), (3072, 10), (3072, 300, 10)):
        params, X, _ = _problem(sizes)
        s = scores(params, X)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        assert np.abs(s).max() < 20 and p.max() < 0.999, sizes


def test_wide_net_is_sampled_and_fast(capsys):
    start = time.perf_counter()
    assert main(["gradcheck", "--sizes", "3072,300,10"]) == 0
    assert time.perf_counter() - start < 30
    out = capsys.readouterr().out
    assert "(3072, 300)       10" in out  # 10 sampled entries of W1, not 921,600


def test_sampling_bounds_the_number_of_loss_evaluations(monkeypatch):
    import autonet.gradcheck as gc

    calls = []
    real = gc.forward_loss
    monkeypatch.setattr(gc, "forward_loss", lambda *a, **k: calls.append(1) or real(*a, **k))
    params, X, y = _problem((300, 100, 10))
    gc.check_gradients(BACKENDS, params, X, y, num_checks=7)
    # the reference loss, then 2 per sampled entry of W1, b1, W2, b2, and 2 along one random direction
    assert len(calls) == 1 + 2 * 7 * 4 + 2


@pytest.mark.parametrize(
    "fault, param",
    [
        (lambda g, N: {**g, "W2": g["W2"] * 1.01}, "W2"),  # 1% off
        (lambda g, N: {**g, "b2": g["b2"] * N}, "b2"),  # the 1/N of (5) missing for b2
        (lambda g, N: {**g, "W1": g["W1"] * (1 + 1e-4)}, "W1"),  # 1e-4 relative: still caught
        (lambda g, N: {**g, "b1": np.sign(g["b1"]) * np.abs(g["b1"]).mean()}, "b1"),
    ],
    ids=["W2-1pct", "b2-missing-1/N", "W1-1e-4", "b1-scrambled"],
)
def test_a_wrong_gradient_is_caught(monkeypatch, capsys, fault, param):
    def wrong(params, X, y, reg=0.0, **options):
        loss, grads = get_backend("manual")(params, X, y, reg=reg, **options)
        return loss, fault(grads, len(y))

    monkeypatch.setitem(backends._REGISTRY, "wrong", wrong)
    assert main(["gradcheck", "--backend", "wrong", "--sizes", "6,5,4", "--batch", "5"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL wrong {param}[" in out
    assert main(["gradcheck", "--backend", "manual", "--sizes", "6,5,4", "--batch", "5"]) == 0  # control


def test_wrong_gradient_in_a_saturated_net_is_caught():
    params, X, y = _problem((3072, 10), std=0.5)

    def wrong(params, X, y, reg=0.0):
        loss, grads = BACKENDS["manual"](params, X, y, reg=reg)
        return loss, {**grads, "W1": grads["W1"] * 1.001}

    report = check_gradients({"wrong": wrong}, params, X, y, reg=0.05, rng=0)
    assert not report.passed and [c.name for c in report.checks if not c.passed] == ["W1"]


def test_a_difference_straddling_a_relu_kink_is_re_differenced():
    params, X, y = _problem((3, 4, 3), n=2)
    # put hidden unit 0 of row 0 at pre-activation 1e-6: a step of h = 1e-5 on b1[0] crosses the kink
    params["b1"][0] = 1e-6 - X[0] @ params["W1"][:, 0]
    _, grads = BACKENDS["manual"](params, X, y, reg=0.0)
    naive = numerical_gradient(lambda: BACKENDS["manual"](params, X, y, reg=0.0)[0], params["b1"])
    assert rel_error(naive[:1], grads["b1"][:1]) > 1e-3  # the control: a plain centred difference is wrong
    report = check_gradients(BACKENDS, params, X, y, num_checks=100)
    assert report.passed, report.problems
    assert report.restepped.get("b1", 0) >= 1


def test_too_many_parameters_is_refused(capsys):
    assert main(["gradcheck", "--sizes", "100000,1000,10"]) == 2
    assert "parameters" in capsys.readouterr().err


def test_a_check_that_would_take_too_long_is_refused(capsys):
    assert main(["gradcheck", "--sizes", "2000,2000,10", "--num-checks", "100000000"]) == 2
    assert "would take about" in capsys.readouterr().err


def test_help_states_the_rule(capsys):
    with pytest.raises(SystemExit):
        main(["gradcheck", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "eps * max(1, |loss|) / h" in out and "NaN or inf" in out and "--num-checks" in out


def test_a_wrong_entry_that_sampling_misses_fails_along_a_random_direction():
    params, X, y = _problem(sizes=(300, 200, 10), n=20)

    def one_wrong_entry(params, X, y, reg=0.0):
        loss, grads = BACKENDS["manual"](params, X, y, reg=reg)
        grads["W1"][123, 45] += 0.05
        return loss, grads

    report = check_gradients({"one_wrong_entry": one_wrong_entry}, params, X, y, reg=0.05, num_checks=10, rng=0)
    assert all(c.passed for c in report.checks)  # the 10 sampled entries of 60,000 miss it
    assert not report.passed
    assert [p for p in report.problems if "along a random direction" in p]
    assert check_gradients(BACKENDS, params, X, y, reg=0.05, num_checks=10, rng=0).passed


def test_gradcheck_prints_the_directional_derivative(capsys):
    assert main(["gradcheck"]) == 0
    assert "along a random direction through every parameter" in capsys.readouterr().out
