"""The fused, in-place updates equal the rules of autonet.optim bit for bit.

:class:`autonet.fused_update.FusedUpdate` promises the same float operations
in the same order as each rule, only block by block; so after several steps
on parameters larger than one block (with a ragged last block) every
parameter and every state array must be *identical*, not merely close.
"""

from __future__ import annotations

import numpy as np
import pytest

from autonet import fused_update
from autonet.fused_update import FusedUpdate
from autonet.optim import UPDATE_RULES

SHAPES = {"W1": (67, 45), "b1": (45,), "W2": (45, 3), "b2": (3,)}


def _problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()} for _ in range(4)]
    return params, grads


def _configs(name):
    return {k: ({"weight_decay": 0.05} if name == "adamw" and k.startswith("W") else {}) for k in SHAPES}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(UPDATE_RULES))
def test_fused_update_equals_the_rule_bit_for_bit(name, dtype, monkeypatch):
    monkeypatch.setattr(fused_update, "BLOCK_BYTES", 1000)  # many blocks, a ragged last one
    params, grads = _problem(dtype)
    ref_params = {k: v.copy() for k, v in params.items()}
    ref_cfg, fused_cfg = _configs(name), _configs(name)
    rule, fused = UPDATE_RULES[name], FusedUpdate(name)
    for step, g in enumerate(grads):
        lr = 0.1 / (step + 1)  # a schedule: the rate changes every step
        for k in SHAPES:
            ref_cfg[k]["learning_rate"] = fused_cfg[k]["learning_rate"] = lr
            ref_params[k], ref_cfg[k] = rule(ref_params[k], g[k].copy(), ref_cfg[k])
        fused(params, {k: v.copy() for k, v in g.items()}, fused_cfg)
    for k in SHAPES:
        assert params[k].dtype == dtype
        np.testing.assert_array_equal(params[k], ref_params[k], strict=True)
        assert ref_cfg[k].keys() == fused_cfg[k].keys()
        for key, value in ref_cfg[k].items():
            np.testing.assert_array_equal(fused_cfg[k][key], value, strict=True)


def test_fused_update_takes_over_a_rules_state_midway():
    params, grads = _problem(np.float32)
    ref = {k: v.copy() for k, v in params.items()}
    ref_cfg, cfg = _configs("adam"), _configs("adam")
    for i, g in enumerate(grads):
        for k in SHAPES:
            ref_cfg[k]["learning_rate"] = cfg[k]["learning_rate"] = 1e-2
            UPDATE_RULES["adam"](ref[k], g[k], ref_cfg[k])
            if i < 2:  # the first two steps by the rule, the rest fused
                UPDATE_RULES["adam"](params[k], g[k], cfg[k])
        if i >= 2:
            FusedUpdate("adam")(params, g, cfg)
    for k in SHAPES:
        np.testing.assert_array_equal(params[k], ref[k])
        assert cfg[k]["t"] == 4


def test_unknown_rule_has_no_fused_form():
    assert not FusedUpdate.supports("lbfgs")
    with pytest.raises(ValueError, match="lbfgs"):
        FusedUpdate("lbfgs")


@pytest.mark.parametrize("threads", [1, 3])
def test_any_number_of_threads_gives_the_same_bits(threads, monkeypatch):
    monkeypatch.setattr(fused_update, "BLOCK_BYTES", 800)
    params, grads = _problem(np.float32, seed=2)
    ref = {k: v.copy() for k, v in params.items()}
    ref_cfg, cfg = _configs("adamw"), _configs("adamw")
    for g in grads:
        for k in SHAPES:
            ref_cfg[k]["learning_rate"] = cfg[k]["learning_rate"] = 1e-2
            UPDATE_RULES["adamw"](ref[k], g[k].copy(), ref_cfg[k])
        FusedUpdate("adamw", threads=threads)(params, {k: v.copy() for k, v in g.items()}, cfg)
    for k in SHAPES:
        np.testing.assert_array_equal(params[k], ref[k], strict=True)


@pytest.mark.parametrize("name", ["sgd", "momentum"])
def test_l2_term_folded_into_the_update_equals_adding_it_to_the_gradient(name, monkeypatch):
    # autonet.manual.network adds reg * W to dW; the fused update may add it block by block instead
    monkeypatch.setattr(fused_update, "BLOCK_BYTES", 1000)
    params, grads = _problem(np.float32, seed=4)
    ref = {k: v.copy() for k, v in params.items()}
    reg = {k: 0.3 for k in SHAPES if k.startswith("W")}
    ref_cfg, cfg = _configs(name), _configs(name)
    for g in grads:
        for k in SHAPES:
            ref_cfg[k]["learning_rate"] = cfg[k]["learning_rate"] = 0.05
            dw = g[k].copy()
            if k in reg:
                dw += reg[k] * ref[k]
            UPDATE_RULES[name](ref[k], dw, ref_cfg[k])
        FusedUpdate(name)(params, {k: v.copy() for k, v in g.items()}, cfg, l2=reg)
    for k in SHAPES:
        np.testing.assert_array_equal(params[k], ref[k], strict=True)


def test_pickles_without_its_threads():
    import pickle

    fused = FusedUpdate("adam", threads=2)
    params, grads = _problem(np.float32)
    cfg = _configs("adam")
    for k in SHAPES:
        cfg[k]["learning_rate"] = 1e-2
    fused(params, grads[0], cfg)
    clone = pickle.loads(pickle.dumps(fused))
    clone(params, grads[1], cfg)
    assert all(c["t"] == 2 for c in cfg.values())
