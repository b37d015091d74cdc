"""What you read is what trains: ``--backend manual`` runs the functions of ``manual/``, and the update
that runs is the rule of ``autonet.optim``.

- Fault injection: each layer function the manual loss uses, and each update rule, is replaced by a
  changed copy (its result halved); a few real training steps must then end on other weights than
  the untouched code gives. A function that did not run would change nothing.
- The trainer asks the backend for factored weight gradients (``h^T delta + reg * W``, so that SGD
  takes its step inside the product). Multiplied out they are the array gradients bit for bit, every
  rule but SGD therefore trains exactly as with array gradients, and SGD's one-``gemm`` step is held
  to the array step within rounding.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from autonet import optim
from autonet.backends import get_backend
from autonet.config import Config
from autonet.errors import DivergenceError
from autonet.manual import layers
from autonet.manual.layers import WeightGradient
from autonet.manual.network import loss_and_grads as manual_loss_and_grads
from autonet.net import init_params
from autonet.train import Trainer


def _halved(value):
    """The result of a layer function with every array in it halved (caches and masks left alone)."""
    if isinstance(value, WeightGradient):
        return dataclasses.replace(value, dout=value.dout * 0.5)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return value * 0.5
    if isinstance(value, float):
        return value * 0.5
    return value


def _faulty(fn, which):
    """``fn`` with the outputs at positions ``which`` of its result halved."""

    def changed(*args, **kwargs):
        result = fn(*args, **kwargs)
        if not isinstance(result, tuple):
            return _halved(result)
        return tuple(_halved(r) if i in which else r for i, r in enumerate(result))

    return changed


# layer function -> (outputs to change, options that make the manual loss call it)
LAYER_FAULTS = {
    "affine_forward": ({0}, {}),
    "affine_backward": ({0, 1, 2}, {}),
    "relu_forward": ({0}, {}),
    "relu_backward": ({0}, {}),
    "leaky_relu_forward": ({0}, {"activation": "leaky_relu"}),
    "leaky_relu_backward": ({0}, {"activation": "leaky_relu"}),
    "tanh_forward": ({0}, {"activation": "tanh"}),
    "tanh_backward": ({0}, {"activation": "tanh"}),
    "dropout_forward": ({0}, {"dropout": 0.3}),
    "dropout_backward": ({0}, {"dropout": 0.3}),
    "batchnorm_forward": ({0}, {"batchnorm": True}),
    "batchnorm_backward": ({0, 1, 2}, {"batchnorm": True}),
    "softmax_cross_entropy": ({0, 1}, {}),
}


def _train(options: dict, steps: int = 4, update: str = "sgd") -> dict:
    """Parameters after ``steps`` real trainer steps of the manual backend on a small fixed problem."""
    options = dict(options)
    batchnorm = options.pop("batchnorm", False)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 20))
    y = rng.integers(0, 4, 60)
    params = init_params([20, 12, 9, 4], init="he", rng=rng, batchnorm=batchnorm)
    config = Config(
        update=update, learning_rate=0.05, reg=1e-3, num_iters=steps, batch_size=20, seed=1, progress=False, **options
    )
    trainer = Trainer(get_backend("manual"), params, X, y, config=config)
    trainer.fit()
    return trainer.params


def _differs(a: dict, b: dict) -> bool:
    return any(not np.array_equal(a[k], b[k]) for k in a)


def test_every_layer_function_of_the_manual_loss_is_what_trains(monkeypatch):
    # the dispatch tables hold the activations: patch the module function and the table entry alike
    tables = {"ACTIVATIONS": layers.ACTIVATIONS, "DERIVATIVES": layers.DERIVATIVES}
    for name, (which, options) in LAYER_FAULTS.items():
        clean = _train(options)
        with monkeypatch.context() as m:
            changed = _faulty(getattr(layers, name), which)
            m.setattr(layers, name, changed)
            for table in tables.values():
                for key, fn in list(table.items()):
                    if fn.__name__ == name:
                        m.setitem(table, key, changed)
            faulty = _train(options)
        assert _differs(clean, faulty), f"a fault in autonet.manual.layers.{name} did not change what trains"


@pytest.mark.parametrize("rule", optim.UPDATE_RULES)
def test_every_update_rule_is_what_trains(monkeypatch, rule):
    clean = _train({}, update=rule)
    original = getattr(optim, rule)

    def changed(w, dw, config):  # the rule applied to half the gradient
        return original(w, np.asarray(dw) * 0.5, config)

    monkeypatch.setattr(optim, rule, changed)
    assert _differs(clean, _train({}, update=rule)), f"a fault in autonet.optim.{rule} did not change what trains"


# ----- factored weight gradients -----

OPTIONS = [
    {},
    {"reg": 0.1},
    {"dropout": 0.3, "seed": 5},
    {"label_smoothing": 0.1, "reg": 1e-3},
    {"activation": "tanh", "dropout": 0.2, "seed": 1},
    {"activation": "leaky_relu"},
    {"mix": (np.array([3, 0, 1, 2, 2, 0, 1, 3, 0, 1]), 0.3)},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_factored_gradients_multiply_out_to_the_arrays_bit_for_bit(dtype, batchnorm, options):
    rng = np.random.default_rng(0)
    params = init_params([12, 9, 7, 4], init="he", rng=rng, dtype=dtype, batchnorm=batchnorm)
    for k in params:  # non-trivial gammas, betas and biases
        if not k.startswith("W"):
            params[k] += rng.standard_normal(params[k].shape).astype(dtype)
    X = rng.standard_normal((10, 12)).astype(dtype)
    y = rng.integers(0, 4, 10)
    loss, grads = manual_loss_and_grads(params, X, y, **options)
    loss_f, grads_f = manual_loss_and_grads(params, X, y, factored=True, **options)
    assert loss_f == loss
    for k, g in grads.items():
        assert isinstance(grads_f[k], WeightGradient) == k.startswith("W")
        np.testing.assert_array_equal(np.asarray(grads_f[k]), g, strict=True)


def _arrays_only(params, X, y, reg=0.0, factored=False, **options):
    """The manual backend answering with array gradients only (as any plain backend may)."""
    return manual_loss_and_grads(params, X, y, reg, **options)


CONFIGS = [
    dict(update="momentum", reg=1e-3, sampling="epoch"),
    dict(update="nesterov", reg=1e-2, activation="tanh", dropout=0.1),
    dict(update="adamw", weight_decay=0.05, dropout=0.2, label_smoothing=0.1, schedule="cosine", warmup=1.0),
    dict(update="adam", reg=1e-2, augment=("flip", "crop"), crop_padding=2, mixup=0.2, ema_decay=0.9),
]


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c["update"])
def test_rules_train_the_same_on_factored_and_array_gradients(cfg, batchnorm):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 3072)).astype(np.float32)
    y = rng.integers(0, 10, 120)
    params = init_params([3072, 16, 8, 10], init="he", rng=rng, dtype=np.float32, batchnorm=batchnorm)
    config = Config(learning_rate=1e-2, num_iters=25, batch_size=20, seed=11, progress=False, **cfg)
    runs = []
    for backend in (get_backend("manual"), _arrays_only):
        t = Trainer(backend, params, X[:100], y[:100], X[100:], y[100:], config)
        t.fit()
        runs.append(t)
    assert runs[0].history == runs[1].history
    for k in params:
        np.testing.assert_array_equal(runs[0].params[k], runs[1].params[k], strict=True)


SGD_CONFIGS = [
    dict(reg=0.0),
    dict(reg=1e-2),
    dict(reg=1e-2, dropout=0.3, label_smoothing=0.1),
    dict(reg=1e-3, activation="tanh"),
    dict(reg=1e-2, augment=("flip",), sampling="epoch", mixup=0.2, cutmix=1.0, ema_decay=0.95, tta="flip"),
]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 2e-4)])
@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("cfg", SGD_CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_sgd_inside_the_product_matches_the_array_step(cfg, batchnorm, dtype, rtol):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 3072)).astype(dtype)
    y = rng.integers(0, 10, 120)
    params = init_params([3072, 16, 8, 10], init="he", rng=rng, dtype=dtype, batchnorm=batchnorm)
    config = Config(update="sgd", learning_rate=5e-2, num_iters=30, batch_size=20, seed=2, progress=False, **cfg)
    runs = []
    for backend in (get_backend("manual"), _arrays_only):
        t = Trainer(backend, params, X[:100], y[:100], X[100:], y[100:], config)
        t.fit()
        runs.append(t)
    np.testing.assert_allclose(runs[0].history["loss"], runs[1].history["loss"], rtol=rtol)
    assert runs[0].history["loss"][-1] < runs[0].history["loss"][0]  # it trains
    for k in params:
        scale = np.abs(runs[1].params[k]).max()
        np.testing.assert_allclose(runs[0].params[k], runs[1].params[k], rtol=0, atol=rtol * scale)
        assert runs[0].params[k].dtype == dtype


def test_a_nonfinite_delta_stops_the_step_before_any_weight_changes():
    rng = np.random.default_rng(0)
    params = init_params([12, 9, 4], init="he", rng=rng)
    X, y = rng.standard_normal((10, 12)), rng.integers(0, 4, 10)

    def poisoned(params, X, y, reg=0.0, factored=False, **options):
        loss, grads = manual_loss_and_grads(params, X, y, reg, factored=factored, **options)
        assert factored  # the trainer asks a backend that takes the option
        grads["W1"].dout[0, 0] = np.nan  # a finite loss, a non-finite factor of dW1
        return loss, grads

    t = Trainer(poisoned, params, X, y, config=Config(batch_size=10, progress=False))
    before = {k: v.copy() for k, v in t.params.items()}
    with pytest.raises(DivergenceError, match="non-finite gradient of W1 at iteration 0"):
        t.step()
    for k in before:
        np.testing.assert_array_equal(t.params[k], before[k])
