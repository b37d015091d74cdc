"""The manual backend's preallocated-buffer step equals the reference bit for bit.

:class:`autonet.workspace.ManualWorkspace` promises the float operations of
:func:`autonet.manual.network.loss_and_grads` in the same order, so the loss, every
gradient and the batch statistics must be *identical*, for every option the
backend takes, and the trainer's exact fast path (workspace + fused update,
``fast="exact"``) must give the same history and parameters as its reference
path (``fast=False``). The SGD step done by the gradient's own product
(``fast=True``, :meth:`ManualWorkspace.sgd_step`) rounds differently, so it is
held to the exact path within float tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from autonet.backends import get_backend
from autonet.config import Config
from autonet.manual.network import loss_and_grads as reference
from autonet.net import init_params
from autonet.train import Trainer
from autonet.workspace import ManualWorkspace

OPTIONS = [
    {},
    {"reg": 0.1},
    {"dropout": 0.3, "seed": 5},
    {"label_smoothing": 0.1, "reg": 1e-3},
    {"activation": "tanh", "dropout": 0.2, "seed": 1},
    {"activation": "leaky_relu"},
]


def _case(dtype, batchnorm, sizes=(12, 9, 7, 4), n=10, seed=0):
    rng = np.random.default_rng(seed)
    params = init_params(list(sizes), init="he", rng=rng, dtype=dtype, batchnorm=batchnorm)
    for k in params:  # non-trivial gammas, betas and biases
        if not k.startswith("W"):
            params[k] += rng.standard_normal(params[k].shape).astype(dtype)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], n)
    return params, X, y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_workspace_equals_the_manual_backend_bit_for_bit(dtype, batchnorm, options):
    params, X, y = _case(dtype, batchnorm)
    ws = ManualWorkspace(params)
    for n in (10, 10, 6):  # the buffers are reused, then reshaped for a smaller batch
        stats_ref, stats_ws = {}, {}
        loss_ref, g_ref = reference(params, X[:n], y[:n], bn_stats=stats_ref if batchnorm else None, **options)
        loss_ws, g_ws = ws(params, X[:n], y[:n], bn_stats=stats_ws if batchnorm else None, **options)
        assert loss_ws == loss_ref
        assert list(g_ws) == list(g_ref)
        for k in g_ref:
            np.testing.assert_array_equal(g_ws[k], g_ref[k], strict=True)
        assert stats_ws.keys() == stats_ref.keys()
        for k in stats_ref:
            np.testing.assert_array_equal(stats_ws[k], stats_ref[k], strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lam", [0.3, "rows"])
def test_workspace_mixed_targets_bit_for_bit(dtype, lam):
    params, X, y = _case(dtype, True)
    rng = np.random.default_rng(1)
    mix = (rng.permutation(y), rng.random(len(y)) if lam == "rows" else lam)
    options = {"mix": mix, "label_smoothing": 0.1, "dropout": 0.2, "seed": 4, "reg": 1e-2}
    loss_ref, g_ref = reference(params, X, y, **options)
    loss_ws, g_ws = ManualWorkspace(params)(params, X, y, **options)
    assert loss_ws == loss_ref
    for k in g_ref:
        np.testing.assert_array_equal(g_ws[k], g_ref[k], strict=True)


def test_two_layer_net_too():
    params, X, y = _case(np.float64, False, sizes=(12, 5, 3))
    loss_ws, g_ws = ManualWorkspace(params)(params, X, y, reg=0.5)
    loss_ref, g_ref = reference(params, X, y, reg=0.5)
    assert loss_ws == loss_ref
    for k in g_ref:
        np.testing.assert_array_equal(g_ws[k], g_ref[k], strict=True)


CONFIGS = [
    dict(update="sgd", reg=1e-2),
    dict(update="momentum", reg=1e-3, sampling="epoch"),
    dict(update="nesterov", reg=1e-2, activation="tanh", dropout=0.1),
    dict(
        update="adamw",
        weight_decay=0.05,
        reg=0.0,
        dropout=0.2,
        label_smoothing=0.1,
        schedule="cosine",
        warmup=1.0,
        augment=("flip", "crop"),
        crop_padding=2,
    ),
]


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize(
    "cfg", CONFIGS, ids=lambda c: c["update"] + ("-" + c["activation"] if "activation" in c else "")
)
def test_trainer_fast_path_equals_reference_path(cfg, batchnorm):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 3072)).astype(np.float32)
    y = rng.integers(0, 10, 120)
    params = init_params([3072, 16, 8, 10], init="he", rng=rng, dtype=np.float32, batchnorm=batchnorm)
    config = Config(learning_rate=1e-2, num_iters=25, batch_size=20, seed=11, progress=False, **cfg)
    runs = {}
    for fast in ("exact", False):
        t = Trainer(get_backend("manual"), params, X[:100], y[:100], X[100:], y[100:], config, fast=fast)
        assert isinstance(t.loss_and_grads, ManualWorkspace) == bool(fast)
        t.fit()
        runs[fast] = t
    assert runs["exact"].history == runs[False].history
    for k in params:
        np.testing.assert_array_equal(runs["exact"].params[k], runs[False].params[k], strict=True)
    for k in runs[False].bn_state:
        np.testing.assert_array_equal(runs["exact"].bn_state[k], runs[False].bn_state[k], strict=True)


SGD_CONFIGS = [
    dict(reg=0.0),
    dict(reg=1e-2),
    dict(reg=1e-2, dropout=0.3, label_smoothing=0.1),
    dict(reg=1e-3, activation="tanh"),  # not in place: the reference step, then the W's stepped here
    dict(reg=1e-2, augment=("flip",), sampling="epoch", mixup=0.2, cutmix=1.0, ema_decay=0.95, tta="flip"),
]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 2e-4)])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_inside_the_product_matches_the_exact_path(cfg, batchnorm, dtype, rtol):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 3072)).astype(dtype)
    y = rng.integers(0, 10, 120)
    params = init_params([3072, 16, 8, 10], init="he", rng=rng, dtype=dtype, batchnorm=batchnorm)
    config = Config(update="sgd", learning_rate=5e-2, num_iters=30, batch_size=20, seed=2, progress=False, **cfg)
    runs = {}
    for fast in (True, "exact"):
        t = Trainer(get_backend("manual"), params, X[:100], y[:100], X[100:], y[100:], config, fast=fast)
        assert t._gemm_sgd == (fast is True)
        t.fit()
        runs[fast] = t
    np.testing.assert_allclose(runs[True].history["loss"], runs["exact"].history["loss"], rtol=rtol)
    assert runs[True].history["loss"][-1] < runs[True].history["loss"][0]  # it trains
    for k in params:
        scale = np.abs(runs["exact"].params[k]).max()
        np.testing.assert_allclose(runs[True].params[k], runs["exact"].params[k], rtol=0, atol=rtol * scale)
        assert runs[True].params[k].dtype == dtype


def test_sgd_step_stops_before_a_nonfinite_delta_reaches_its_weights():
    params, X, y = _case(np.float64, False)
    ws = ManualWorkspace(params)
    before = {k: v.copy() for k, v in params.items()}
    seen = []

    def check(loss, grads):
        seen.append(sorted(grads))
        if grads:
            raise FloatingPointError("stop")

    with pytest.raises(FloatingPointError):
        ws.sgd_step(params, X, y, 0.1, 0.5, check)
    assert seen == [[], ["W3"]]  # the loss first, then the top layer's delta, before W3 changed
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_fast_takes_true_false_or_exact_only():
    from autonet.errors import ConfigError

    params, X, y = _case(np.float32, False)
    with pytest.raises(ConfigError, match="fast must be True, False or 'exact', got 'yes'"):
        Trainer(get_backend("manual"), params, X, y, config=Config(progress=False), fast="yes")
