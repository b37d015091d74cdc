"""Update rules against steps worked out by hand on a two-entry problem.

Every case starts from ``w = [1, -2]`` with ``lr = 0.1``; the gradients are
given per step. The arithmetic is in the comments, so a wrong rule fails with
numbers one can check on paper.
"""

from __future__ import annotations

import numpy as np
import pytest

from autonet.errors import ConfigError
from autonet.optim import UPDATE_RULES, get_update_rule

W0 = [1.0, -2.0]
G1 = [0.5, -1.0]


def run_steps(name: str, grads: list, dtype=np.float64, **hyper):
    rule = get_update_rule(name)
    w = np.array(W0, dtype=dtype)
    config = {"learning_rate": 0.1, **hyper}
    for g in grads:
        w, config = rule(w, np.array(g, dtype=dtype), config)
    return w, config


def test_sgd_step():
    # w - lr*dw = [1 - 0.05, -2 + 0.1]
    w, _ = run_steps("sgd", [G1])
    assert w == pytest.approx([0.95, -1.9], abs=1e-15)


def test_momentum_two_steps():
    # v1 = -0.1*[0.5, -1] = [-0.05, 0.1];                 w1 = [0.95, -1.9]
    # v2 = 0.9*v1 - 0.1*[0.5, -1] = [-0.095, 0.19];       w2 = [0.855, -1.71]
    w, cfg = run_steps("momentum", [G1, G1])
    assert w == pytest.approx([0.855, -1.71], abs=1e-15)
    assert cfg["velocity"] == pytest.approx([-0.095, 0.19], abs=1e-15)


def test_nesterov_two_steps():
    # w += mu*v_new - lr*dw
    # step 1: v1 = [-0.05, 0.1];   w1 = w0 + [-0.045, 0.09] + [-0.05, 0.1] = [0.905, -1.81]
    # step 2: v2 = [-0.095, 0.19]; w2 = w1 + [-0.0855, 0.171] + [-0.05, 0.1] = [0.7695, -1.539]
    w, cfg = run_steps("nesterov", [G1, G1])
    assert w == pytest.approx([0.7695, -1.539], abs=1e-15)
    # the cs231n form w += -mu*v_prev + (1+mu)*v_new gives the same point
    v1, v2 = np.array([-0.05, 0.1]), cfg["velocity"]
    w1 = np.array(W0) + 1.9 * v1  # v_prev = 0 on the first step
    assert w == pytest.approx(w1 - 0.9 * v1 + 1.9 * v2, abs=1e-15)


def test_rmsprop_step():
    # s = 0.01*dw^2 = [0.0025, 0.01], sqrt(s) = [0.05, 0.1]
    # w - 0.1*dw/sqrt(s) = [1 - 0.1*10, -2 - 0.1*(-10)] = [0, -1]  (eps=1e-8 shifts the 9th digit)
    w, cfg = run_steps("rmsprop", [G1])
    assert w == pytest.approx([0.0, -1.0], abs=1e-6)
    assert cfg["cache"] == pytest.approx([0.0025, 0.01], abs=1e-15)


G2 = [-0.5, -1.0]


def test_adam_two_steps():
    # step 1: m = [0.05, -0.1], v = [0.00025, 0.001]; m_hat = dw, v_hat = dw^2
    #         w1 = w0 - 0.1*sign(dw) = [0.9, -1.9]
    # step 2 (dw = [-0.5, -1]): m = 0.9*m + 0.1*dw = [-0.005, -0.19]
    #         v = 0.999*v + 0.001*dw^2 = [0.00049975, 0.001999]
    #         m_hat = m/0.19 = [-0.0263157894..., -1];  v_hat = v/0.001999 = [0.25, 1]
    #         w2 = w1 - 0.1*m_hat/sqrt(v_hat) = [0.9 + 0.00526315789..., -1.9 + 0.1]
    w, cfg = run_steps("adam", [G1, G2])
    assert w == pytest.approx([0.9 + 0.1 * (0.005 / 0.19) / 0.5, -1.8], rel=1e-7)
    assert cfg["t"] == 2
    assert cfg["m"] == pytest.approx([-0.005, -0.19], abs=1e-15)
    assert cfg["v"] == pytest.approx([0.00049975, 0.001999], abs=1e-15)


def test_adamw_decay_is_decoupled():
    # w0 * (1 - lr*wd) = w0 * 0.95 = [0.95, -1.9], then Adam's first step -0.1*sign(dw): [0.85, -1.8]
    w, _ = run_steps("adamw", [G1], weight_decay=0.5)
    assert w == pytest.approx([0.85, -1.8], rel=1e-7)
    # Adam with the same decay added to the gradient (L2) lands elsewhere: step 1 is -lr*sign(g) regardless
    w_l2, _ = run_steps("adam", [np.add(G1, 0.5 * np.array(W0))])
    assert not np.allclose(w, w_l2)
    w_plain, _ = run_steps("adamw", [G1, G2])
    assert w_plain == pytest.approx(run_steps("adam", [G1, G2])[0], abs=0)


@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_float32_stays_float32_and_updates_in_place(name):
    w = np.array(W0, dtype=np.float32)
    out, cfg = get_update_rule(name)(w, np.array(G1, dtype=np.float32), {"learning_rate": 0.1})
    assert out is w and out.dtype == np.float32
    assert all(v.dtype == np.float32 for v in cfg.values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_every_rule_minimises_a_quadratic(name, rng):
    # f(w) = 0.5*||A w - b||^2 with a well-conditioned A; 300 steps get close to the minimiser
    A = np.eye(4) + 0.1 * rng.standard_normal((4, 4))
    b = rng.standard_normal(4)
    w_star = np.linalg.solve(A, b)
    lr = {"sgd": 0.3, "momentum": 0.05, "nesterov": 0.05, "rmsprop": 0.01, "adam": 0.05, "adamw": 0.05}[name]
    rule, w, cfg = get_update_rule(name), np.zeros(4), {"learning_rate": lr}
    for _ in range(300):
        w, cfg = rule(w, A.T @ (A @ w - b), cfg)
    assert np.linalg.norm(w - w_star) < 0.05 * np.linalg.norm(w_star)


def test_unknown_rule_lists_names():
    with pytest.raises(ConfigError, match="adamw"):
        get_update_rule("lbfgs")


@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_rules_over_blocks_equal_the_whole_array_rule_bit_for_bit(name, monkeypatch):
    from autonet import optim

    rng = np.random.default_rng(0)
    w0, dws = rng.standard_normal((13, 11)).astype(np.float32), rng.standard_normal((3, 13, 11)).astype(np.float32)
    results = []
    for block in (7, 10**9):  # ragged blocks of 7 elements; one block
        monkeypatch.setattr(optim, "BLOCK", block)
        w, config = w0.copy(), {"learning_rate": 1e-2, "weight_decay": 0.1}
        for dw in dws:
            get_update_rule(name)(w, dw, config)
        results.append(w)
    np.testing.assert_array_equal(results[0], results[1], strict=True)
