"""The step check of the derivation notebooks: right steps pass, wrong ones fail loudly."""

from __future__ import annotations

import numpy as np
import pytest

from autonet.errors import ConfigError
from autonet.manual.layers import affine_backward, affine_forward, relu_backward, relu_forward, softmax_cross_entropy
from autonet.manual.two_layer import forward, mask_mat
from autonet.net import scores
from autonet.stepcheck import autograd_grad_wrt, check_step, head_value
from netcases import random_case


@pytest.fixture
def two_layer(rng):
    """A tiny float64 net (N=6 != H=7) with some ReLU inputs exactly 0, and eqs. (5), (8a)."""
    params, X, y = random_case(rng, [5, 7, 3], n=6, scale=0.5, kinks=True)
    f = forward(params, X)
    assert (f["FC1_out"] == 0).any()  # the kink is really hit
    dFC2 = (f["final_output"] - mask_mat(y, 3)) / len(y)  # eq. (5)
    dH = dFC2 @ params["W2"].T  # eq. (8), first half
    return params, X, y, f, dFC2, dH


def test_correct_two_layer_steps_pass(two_layer):
    params, X, y, f, dFC2, dH = two_layer
    dFC1 = dH * (f["FC1_out"] > 0)
    for name, mine, seed_name in (
        ("A2", dFC2, "FC2_out"),
        ("H1", dH, "H_out"),
        ("A1", dFC1, "FC1_out"),
        ("H0", dFC1 @ params["W1"].T, "X"),
    ):
        value, ref = autograd_grad_wrt(params, X, y, name)
        if seed_name != "X":
            check_step(f"forward {seed_name}", f[seed_name], value, verbose=False)
        assert check_step(f"dL/d{seed_name}", mine, ref, verbose=False) < 1e-12


def test_seeds_relu_backward_is_caught(two_layer):
    """The seed's eq. (8), max(dL/dH_out, 0), in place of the ReLU mask."""
    params, X, y, f, dFC2, dH = two_layer
    _, ref = autograd_grad_wrt(params, X, y, "A1")
    with pytest.raises(AssertionError, match=r"\(8\) dL/dFC1_out: relative error \d\.\d+e[+-]\d+ vs autograd"):
        check_step("(8) dL/dFC1_out", np.maximum(dH, 0), ref, verbose=False)


@pytest.mark.parametrize("wrong", ["no 1/N", "mask by upstream sign", "tiny slip"])
def test_other_wrong_steps_are_caught(two_layer, wrong):
    params, X, y, f, dFC2, dH = two_layer
    if wrong == "no 1/N":  # eq. (5) as the seed prints it: the gradient of the *summed* loss
        name, mine = "A2", f["final_output"] - mask_mat(y, 3)
    elif wrong == "mask by upstream sign":
        name, mine = "A1", dH * (dH > 0)
    else:  # a 1e-6 relative perturbation of one entry: still far above float64 noise
        name, mine = "A2", dFC2.copy()
        mine[0, 0] *= 1 + 1e-6
    _, ref = autograd_grad_wrt(params, X, y, name)
    with pytest.raises(AssertionError, match="relative error"):
        check_step(wrong, mine, ref, verbose=False)


def test_shape_and_finiteness_are_checked(two_layer):
    params, X, y, f, dFC2, dH = two_layer
    _, ref = autograd_grad_wrt(params, X, y, "A2")
    with pytest.raises(AssertionError, match=r"shape \(3, 6\) differs from autograd's \(6, 3\)"):
        check_step("transposed", dFC2.T, ref, verbose=False)
    bad = dFC2.copy()
    bad[1, 1] = np.nan
    with pytest.raises(AssertionError, match="non-finite"):
        check_step("nan", bad, ref, verbose=False)


def test_check_step_prints_the_error(two_layer, capsys):
    params, X, y, f, dFC2, dH = two_layer
    _, ref = autograd_grad_wrt(params, X, y, "A2")
    err = check_step("(5) dL/dFC2_out", dFC2, ref)
    out = capsys.readouterr().out
    assert "(5) dL/dFC2_out" in out and "(6, 3)" in out and f"{err:.1e}" in out and "ok" in out


def test_l_layer_recursion_matches_at_every_cut(rng):
    """Every intermediate of a 4-layer net, computed with the manual layer pairs."""
    params, X, y = random_case(rng, [6, 5, 4, 5, 3], n=7, scale=0.6, kinks=True)
    L = 4
    h, caches = X, {}
    for i in range(1, L + 1):
        a, caches[f"fc{i}"] = affine_forward(h, params[f"W{i}"], params[f"b{i}"])
        check_step(f"forward A{i}", a, head_value(params, X, f"A{i}"), verbose=False)
        if i < L:
            h, caches[f"relu{i}"] = relu_forward(a)
    assert np.array_equal(head_value(params, X, f"A{L}"), scores(params, X))
    _, delta = softmax_cross_entropy(a, y)
    for i in range(L, 0, -1):
        check_step(f"dL/dA{i}", delta, autograd_grad_wrt(params, X, y, f"A{i}")[1], verbose=False)
        dh, _, _ = affine_backward(delta, caches[f"fc{i}"])
        check_step(f"dL/dH{i - 1}", dh, autograd_grad_wrt(params, X, y, f"H{i - 1}")[1], verbose=False)
        if i > 1:
            delta = relu_backward(dh, caches[f"relu{i - 1}"])


@pytest.mark.parametrize("name", ["A0", "A3", "H2", "Z1", "", "H-1"])
def test_bad_names_are_refused(two_layer, name):
    params, X, y, *_ = two_layer
    with pytest.raises(ConfigError, match="name"):
        autograd_grad_wrt(params, X, y, name)


def test_nets_with_other_parameters_are_refused(two_layer):
    params, X, y, *_ = two_layer
    with pytest.raises(ConfigError, match=r"plain affine-ReLU nets .*\['gamma1'\]"):
        autograd_grad_wrt({**params, "gamma1": np.ones(7)}, X, y, "A1")
