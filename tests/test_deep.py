"""Deep nets and the new layers: manual vs autograd vs centred finite differences, float64.

Layered as in the rest of the suite: (a) each new layer's backward against
numerical gradients of ``sum(forward(...) * dout)``; (b) whole nets of 1-4
hidden layers, for every activation and every training option (dropout with
shared masks, batch norm in training mode, label smoothing), manual vs
autograd (to rounding) and each vs finite differences (to 1e-6); (c) one
hand-worked example.
"""

from __future__ import annotations

import numpy as np
import pytest

import fdcheck
from autonet import autograd_loss
from autonet.backends import get_backend
from autonet.conventions import dropout_mask
from autonet.gradcheck import numerical_gradient, numerical_param_grads, rel_error
from autonet.manual import layers
from autonet.manual.layers import (
    batchnorm_backward,
    batchnorm_eval_forward,
    batchnorm_forward,
    dropout_backward,
    dropout_forward,
    softmax_cross_entropy,
)
from autonet.net import init_params

manual_lg = get_backend("manual")
autograd_lg = get_backend("autograd")
ACTIVATIONS = sorted(layers.ACTIVATIONS)


def upstream_check(forward, inputs, dout, grads):
    """Relative 1e-7, absolute 1e-10 for entries so small that the difference's rounding noise (~1e-11) dominates."""
    fdcheck.upstream_check(forward, inputs, dout, grads, rtol=1e-7, atol=1e-10)


# ----- (a) layers -----


@pytest.mark.parametrize("name", ["leaky_relu", "tanh"])
def test_activation_backward(name, rng):
    x = rng.standard_normal((5, 6))
    out, cache = layers.ACTIVATIONS[name](x)
    dout = rng.standard_normal(out.shape)
    upstream_check(layers.ACTIVATIONS[name], (x,), dout, (layers.DERIVATIVES[name](dout, cache),))


def test_dropout_mask_scales_kept_units(rng):
    mask = dropout_mask(np.random.default_rng(3), (400, 50), 0.3, np.float32)
    assert mask.dtype == np.float32
    assert set(np.unique(mask)) == {np.float32(0), np.float32(1 / 0.7)}
    assert abs((mask == 0).mean() - 0.3) < 0.01  # about p of the units dropped
    assert abs(mask.mean() - 1) < 0.02  # inverted: E[mask] = 1
    x = rng.standard_normal((4, 5))
    mask = dropout_mask(np.random.default_rng(0), x.shape, 0.5, x.dtype)
    out, cache = dropout_forward(x, mask)
    dout = rng.standard_normal(out.shape)
    upstream_check(lambda x: dropout_forward(x, mask), (x,), dout, (dropout_backward(dout, cache),))


def test_batchnorm_forward_standardises(rng):
    x = 3 + 2 * rng.standard_normal((50, 4))
    gamma, beta = np.array([1.0, 2.0, 0.5, 1.0]), np.array([0.0, 1.0, -1.0, 3.0])
    out, cache = batchnorm_forward(x, gamma, beta)
    np.testing.assert_allclose(out.mean(axis=0), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), gamma, rtol=1e-5)  # eps=1e-5 against var ~4
    np.testing.assert_allclose(cache[3], x.mean(axis=0))
    np.testing.assert_allclose(cache[4], x.var(axis=0))


def test_batchnorm_backward(rng):
    x = rng.standard_normal((6, 4)) * 2 + 1
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    out, cache = batchnorm_forward(x, gamma, beta)
    dout = rng.standard_normal(out.shape)
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    upstream_check(batchnorm_forward, (x, gamma, beta), dout, (dx, dgamma, dbeta))
    # every x[n] moves the batch statistics: dx sums to 0 over the batch, and is orthogonal
    # to xhat up to the eps in the variance (sum_n xhat^2 = N var / (var + eps), not N)
    np.testing.assert_allclose(dx.sum(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(np.sum(dx * cache[0], axis=0), 0, atol=1e-5)


def test_batchnorm_eval_uses_running_statistics(rng):
    x = rng.standard_normal((3, 4))
    gamma, beta, mean, var = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4), rng.random(4)
    out = batchnorm_eval_forward(x, gamma, beta, mean, var)
    np.testing.assert_allclose(out, gamma * (x - mean) / np.sqrt(var + layers.BN_EPS) + beta)
    # one row at a time gives the same rows: eval mode does not mix examples
    np.testing.assert_allclose(batchnorm_eval_forward(x[:1], gamma, beta, mean, var), out[:1])


def test_backends_share_constants():
    assert layers.BN_EPS == autograd_loss.BN_EPS
    assert layers.LEAKY_SLOPE == autograd_loss.LEAKY_SLOPE
    assert set(layers.ACTIVATIONS) == set(autograd_loss.ACTIVATIONS)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
def test_label_smoothing_gradient(smoothing, rng):
    scores, y = rng.standard_normal((5, 4)), rng.integers(0, 4, 5)
    loss, dscores = softmax_cross_entropy(scores, y, smoothing=smoothing)
    num = numerical_gradient(lambda: softmax_cross_entropy(scores, y, smoothing=smoothing)[0], scores)
    assert rel_error(dscores, num) < 1e-7
    # the definition: -(1/N) sum_n sum_c T[n, c] log p[n, c] with T = (1-eps) one_hot + eps/C
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    T = (1 - smoothing) * np.eye(4)[y] + smoothing / 4
    assert loss == pytest.approx(-(T * log_p).sum() / 5, rel=1e-12)


def test_label_smoothing_hand_worked():
    # two classes, equal scores: p = [0.5, 0.5]; eps = 0.2, label 0 -> T = [0.9, 0.1]
    # L = -(0.9 log 0.5 + 0.1 log 0.5) = log 2;  dL/ds = p - T = [-0.4, 0.4]
    loss, dscores = softmax_cross_entropy(np.zeros((1, 2)), np.array([0]), smoothing=0.2)
    assert loss == pytest.approx(np.log(2), rel=1e-15)
    assert dscores[0].tolist() == pytest.approx([-0.4, 0.4], abs=1e-15)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, "rows"])
def test_mixed_targets_gradient(smoothing, lam, rng):
    scores, y, y2 = rng.standard_normal((6, 4)), rng.integers(0, 4, 6), rng.integers(0, 4, 6)
    y2[:2] = y[:2]  # rows blended with an image of their own class
    lam = rng.random(6) if lam == "rows" else lam
    loss, dscores = softmax_cross_entropy(scores, y, smoothing=smoothing, mix=(y2, lam))
    num = numerical_gradient(lambda: softmax_cross_entropy(scores, y, smoothing=smoothing, mix=(y2, lam))[0], scores)
    assert rel_error(dscores, num) < 1e-7
    # the definition: T = (1 - eps) (lam one_hot(y) + (1 - lam) one_hot(y2)) + eps / C; dL/ds = (p - T) / N
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    lam_col = np.reshape(lam, (-1, 1))
    T = (1 - smoothing) * (lam_col * np.eye(4)[y] + (1 - lam_col) * np.eye(4)[y2]) + smoothing / 4
    assert loss == pytest.approx(-(T * log_p).sum() / 6, rel=1e-12)
    np.testing.assert_allclose(dscores, (np.exp(log_p) - T) / 6, rtol=1e-12, atol=1e-15)
    # lam = 1 (or y2 = y) is the unmixed loss, bit for bit where the sums agree
    if np.isscalar(lam) and lam == 1.0:
        plain = softmax_cross_entropy(scores, y, smoothing=smoothing)
        assert loss == pytest.approx(plain[0], rel=1e-15)
        np.testing.assert_allclose(dscores, plain[1], rtol=1e-15, atol=1e-17)


def test_mixed_targets_hand_worked():
    # two classes, equal scores: p = [0.5, 0.5]; label 0 blended with label 1 at lam = 0.75 -> T = [0.75, 0.25]
    # L = -(0.75 log 0.5 + 0.25 log 0.5) = log 2;  dL/ds = p - T = [-0.25, 0.25]
    loss, dscores = softmax_cross_entropy(np.zeros((1, 2)), np.array([0]), mix=(np.array([1]), 0.75))
    assert loss == pytest.approx(np.log(2), rel=1e-15)
    assert dscores[0].tolist() == pytest.approx([-0.25, 0.25], abs=1e-15)


# ----- (b) whole nets -----


def deep_case(seed: int, hidden: list, n: int = 6, batchnorm: bool = False, d: int = 5, c: int = 3):
    """float64 params (weights ~ 0.5/sqrt(fan_in)), X (n, d), y (n,); random gamma/beta with batch norm."""
    rng = np.random.default_rng(seed)
    params = init_params([d, *hidden, c], init="xavier", rng=rng, batchnorm=batchnorm)
    for k in params:
        if k[0] == "b" or k.startswith("gamma"):
            params[k] = params[k] + 0.3 * rng.standard_normal(params[k].shape)
    return params, rng.standard_normal((n, d)), rng.integers(0, c, n)


def activation_inputs(params: dict, X: np.ndarray) -> list:
    """The arrays each hidden activation is applied to (dropout acts after, so it does not matter)."""
    L = sum(1 for k in params if k[0] == "W")
    out, h = [], X
    for i in range(1, L):
        a = h @ params[f"W{i}"] + params.get(f"b{i}", 0)
        if f"gamma{i}" in params:
            a = batchnorm_forward(a, params[f"gamma{i}"], params[f"beta{i}"])[0]
        out.append(a)
        h = np.tanh(a)  # any activation: only the distance of a from 0 is used
    return out


def assert_grads_close(g: dict, ref: dict, rtol: float, atol: float) -> None:
    assert g.keys() == ref.keys()
    for k in g:
        assert g[k].shape == ref[k].shape and g[k].dtype == ref[k].dtype, k
        np.testing.assert_allclose(g[k], ref[k], rtol=rtol, atol=atol, err_msg=k)


OPTIONS = {
    "plain": {},
    "dropout": {"dropout": 0.4, "seed": 11},
    "batchnorm": {},
    "smoothing": {"label_smoothing": 0.1},
    "everything": {"dropout": 0.25, "seed": 5, "label_smoothing": 0.2},
}


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_deep_net_manual_autograd_numeric(depth, activation, option):
    hidden = [4, 5, 3, 4][:depth]
    batchnorm = option in ("batchnorm", "everything")
    opts = {"activation": activation, **OPTIONS[option]}
    for seed in range(20):  # finite differences must not straddle a kink of (leaky) ReLU
        params, X, y = deep_case(seed, hidden, batchnorm=batchnorm)
        if activation == "tanh" or min(np.abs(a).min() for a in activation_inputs(params, X)) > 1e-4:
            break
    loss_m, g_m = manual_lg(params, X, y, reg=0.3, **opts)
    loss_a, g_a = autograd_lg(params, X, y, reg=0.3, **opts)
    # forward went well
    assert loss_m == pytest.approx(loss_a, rel=1e-12)
    # backward went well
    assert list(g_m) == list(g_a) == list(params)
    assert_grads_close(g_m, g_a, rtol=1e-9, atol=1e-13)
    num = numerical_param_grads(lambda p: manual_lg(p, X, y, reg=0.3, **opts)[0], params)
    assert_grads_close(g_m, num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("lam", [0.35, "rows"])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_mixed_targets_manual_autograd_numeric(depth, lam, batchnorm):
    hidden = [4, 5, 3][:depth]
    for seed in range(20):  # finite differences must not straddle a ReLU kink
        params, X, y = deep_case(seed, hidden, batchnorm=batchnorm)
        if min(np.abs(a).min() for a in activation_inputs(params, X)) > 1e-4:
            break
    rng = np.random.default_rng(seed)
    lam = rng.random(len(y)) if lam == "rows" else lam
    opts = {"mix": (rng.permutation(y), lam), "label_smoothing": 0.1, "dropout": 0.2, "seed": 3}
    loss_m, g_m = manual_lg(params, X, y, reg=0.3, **opts)
    loss_a, g_a = autograd_lg(params, X, y, reg=0.3, **opts)
    assert loss_m == pytest.approx(loss_a, rel=1e-12)
    assert_grads_close(g_m, g_a, rtol=1e-10, atol=1e-13)
    num = numerical_param_grads(lambda p: manual_lg(p, X, y, reg=0.3, **opts)[0], params)
    assert_grads_close(g_m, num, rtol=1e-6, atol=1e-9)
    # the mixed loss is the blend of the two labels' losses (targets are linear in the loss)
    one = manual_lg(params, X, y, reg=0.0, **{**opts, "mix": None})[0]
    other = manual_lg(params, X, opts["mix"][0], reg=0.0, **{**opts, "mix": None})[0]
    if np.isscalar(lam):
        assert manual_lg(params, X, y, reg=0.0, **opts)[0] == pytest.approx(lam * one + (1 - lam) * other, rel=1e-12)


def test_autograd_check_grads_on_batchnorm_dropout_net():
    from autograd.test_util import check_grads

    params, X, y = deep_case(0, [4, 5], batchnorm=True)
    Y = autograd_loss.one_hot(y, 3, X.dtype)
    rng = np.random.default_rng(1)
    masks = [dropout_mask(rng, shape, 0.3, X.dtype) for shape in [(6, 4), (6, 5)]]
    check_grads(lambda p: autograd_loss.loss(p, X, Y, 0.1, activation="tanh", masks=masks), modes=["rev"], order=1)(
        params
    )


@pytest.mark.parametrize("lg", [manual_lg, autograd_lg], ids=["manual", "autograd"])
def test_dropout_masks_follow_the_seed(lg):
    params, X, y = deep_case(1, [8, 8], n=10)
    plain = lg(params, X, y)[0]
    a, b, c = (lg(params, X, y, dropout=0.5, seed=s)[0] for s in (1, 1, 2))
    assert a == b  # same seed, same masks
    assert a != c and a != plain  # another seed drops other units
    assert lg(params, X, y, dropout=0.0, seed=1)[0] == plain


@pytest.mark.parametrize("lg", [manual_lg, autograd_lg], ids=["manual", "autograd"])
def test_bn_stats_are_the_batch_statistics(lg):
    params, X, y = deep_case(2, [4, 3], batchnorm=True)
    stats = {}
    lg(params, X, y, bn_stats=stats)
    assert sorted(stats) == ["mean1", "mean2", "var1", "var2"]
    a1 = X @ params["W1"]
    np.testing.assert_allclose(stats["mean1"], a1.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["var1"], a1.var(axis=0), rtol=1e-12)
    assert all(type(v) is np.ndarray for v in stats.values())


@pytest.mark.parametrize("lg", [manual_lg, autograd_lg], ids=["manual", "autograd"])
def test_float32_options_stay_float32(lg):
    params, X, y = deep_case(3, [6, 5], batchnorm=True)
    params = {k: v.astype(np.float32) for k, v in params.items()}
    stats = {}
    loss, grads = lg(
        params,
        X.astype(np.float32),
        y,
        reg=0.1,
        dropout=0.3,
        seed=0,
        label_smoothing=0.1,
        bn_stats=stats,
        activation="leaky_relu",
    )
    assert np.isfinite(loss)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(s.dtype == np.float32 for s in stats.values())


def test_manual_rejects_bad_options():
    params, X, y = deep_case(0, [3])
    with pytest.raises(ValueError, match="activation"):
        manual_lg(params, X, y, activation="swish")
    with pytest.raises(ValueError, match="dropout"):
        manual_lg(params, X, y, dropout=1.0)


# ----- evaluation mode -----


def test_scores_in_eval_mode_fold_batchnorm(rng):
    from autonet.net import fold_batchnorm, init_bn_state, scores

    params, X, _ = deep_case(4, [5, 4], batchnorm=True)
    state = init_bn_state(params)
    for k in state:
        state[k] = state[k] + rng.random(state[k].shape)  # var stays > 0
    # by hand: affine, eval-mode batch norm with the running statistics, relu; last affine
    h = X
    for i in (1, 2):
        a = batchnorm_eval_forward(
            h @ params[f"W{i}"], params[f"gamma{i}"], params[f"beta{i}"], state[f"mean{i}"], state[f"var{i}"]
        )
        h = np.maximum(a, 0)
    expected = h @ params["W3"] + params["b3"]
    np.testing.assert_allclose(scores(params, X, state=state), expected, rtol=1e-12)
    folded = fold_batchnorm(params, state)
    assert sorted(folded) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    np.testing.assert_allclose(scores(folded, X), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="running statistics"):
        scores(params, X)


# ----- schedules and the trainer -----


def test_schedules_by_hand():
    from autonet.schedules import learning_rate_at

    lr = lambda t, **kw: learning_rate_at(t, 1.0, iterations_per_epoch=10, num_iters=100, **kw)  # noqa: E731
    # the seed's: x0.5 after every 10 iterations
    assert [lr(t, decay=0.5) for t in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    # step: x0.1 every 2 epochs
    assert [lr(t, schedule="step", decay=0.1, step_epochs=2) for t in (19, 20, 45)] == pytest.approx([1, 0.1, 0.01])
    # cosine over 100 iterations: half-way 0.5, the end 0
    assert [lr(t, schedule="cosine") for t in (0, 50, 100)] == pytest.approx([1.0, 0.5, 0.0], abs=1e-15)
    # warm-up of 20 iterations: (t+1)/20, then cosine over the remaining 80
    assert lr(4, schedule="cosine", warmup_iters=20) == pytest.approx(5 / 20)
    assert lr(20, schedule="cosine", warmup_iters=20) == 1.0
    assert lr(60, schedule="cosine", warmup_iters=20) == pytest.approx(0.5)
    assert lr(3, schedule="constant", warmup_iters=4) == 1.0 and lr(99, schedule="constant") == 1.0


def blobs(rng, n=240, d=3072, c=4):
    centers = rng.standard_normal((c, d))
    y = rng.integers(0, c, n)
    return centers[y] + rng.standard_normal((n, d)), y


DEEP_TRAIN = dict(
    learning_rate=0.01,
    num_iters=30,
    batch_size=16,
    sampling="epoch",
    update="adamw",
    weight_decay=0.01,
    schedule="cosine",
    warmup=0.5,
    dropout=0.3,
    label_smoothing=0.1,
    augment=("flip", "crop"),
    crop_padding=2,
    progress=False,
)


def test_trainer_backends_agree_with_every_option(rng):
    from autonet.config import Config
    from autonet.train import Trainer

    X, y = blobs(rng)
    params = init_params([3072, 12, 8, 4], init="he", rng=rng, batchnorm=True)
    runs = {}
    for name in ("manual", "autograd"):
        t = Trainer(get_backend(name), params, X[:200], y[:200], X[200:], y[200:], Config(**DEEP_TRAIN))
        t.fit()
        runs[name] = t
    m, a = runs["manual"], runs["autograd"]
    np.testing.assert_allclose(m.history["loss"], a.history["loss"], rtol=1e-10)
    for k in params:
        np.testing.assert_allclose(m.params[k], a.params[k], rtol=1e-8, atol=1e-12)
    assert sorted(m.bn_state) == ["mean1", "mean2", "var1", "var2"]
    for k in m.bn_state:
        np.testing.assert_allclose(m.bn_state[k], a.bn_state[k], rtol=1e-8, atol=1e-12)
    assert m.history["val_acc"] == a.history["val_acc"]
    assert not np.allclose(m.bn_state["var1"], 1.0)  # the running statistics moved


def test_trainer_resumes_exactly_with_every_option(rng):
    from autonet.config import Config
    from autonet.train import Trainer

    X, y = blobs(rng)
    params = init_params([3072, 10, 4], init="he", rng=rng, batchnorm=True, dtype=np.float32)
    X = X.astype(np.float32)
    full = Trainer(manual_lg, params, X, y, X[:50], y[:50], Config(**DEEP_TRAIN))
    full.fit()
    half = Trainer(manual_lg, params, X, y, X[:50], y[:50], Config(**DEEP_TRAIN))
    for _ in range(13):  # stopped part-way (the cosine schedule depends on the planned num_iters)
        half.step()
    state = half.state_dict()
    resumed = Trainer(manual_lg, params, X, y, X[:50], y[:50], Config(**DEEP_TRAIN))
    resumed.load_state_dict(state)
    assert resumed.learning_rate == full._learning_rate_at(13) != half.config.learning_rate
    resumed.fit()
    assert resumed.history == full.history
    for k in params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])
    for k in full.bn_state:
        np.testing.assert_array_equal(resumed.bn_state[k], full.bn_state[k])
    assert all(
        v.dtype == np.float32 for s in resumed.opt_state.values() for v in s.values() if isinstance(v, np.ndarray)
    )


def test_adamw_decays_weights_only(rng):
    from autonet.config import Config
    from autonet.train import Trainer

    X, y = blobs(rng, n=40)
    params = init_params([3072, 6, 4], rng=rng, batchnorm=True)
    t = Trainer(
        manual_lg,
        params,
        X,
        y,
        config=Config(update="adamw", weight_decay=0.1, num_iters=1, batch_size=8, progress=False),
    )
    assert {k: s["weight_decay"] for k, s in t.opt_state.items()} == {
        "W1": 0.1,
        "gamma1": 0.0,
        "beta1": 0.0,
        "W2": 0.1,
        "b2": 0.0,
    }


@pytest.mark.parametrize(
    "bad",
    [
        dict(schedule="linear"),
        dict(dropout=1.0),
        dict(label_smoothing=-0.1),
        dict(warmup=-1),
        dict(activation="swish"),
        dict(augment="flip,rotate"),
        dict(momentum=1.5),
        dict(step_epochs=0),
    ],
)
def test_bad_deep_options_are_refused_by_name(bad):
    from autonet.config import Config
    from autonet.errors import ConfigError

    name = next(iter(bad))
    with pytest.raises(ConfigError, match=name):
        Config(**bad)


# ----- run directories, presets, the command line -----

DEEP_FLAGS = [
    "--hidden",
    "8,6",
    "--batchnorm",
    "--dropout",
    "0.2",
    "--preprocess",
    "standardize",
    "--augment",
    "flip,crop",
    "--update",
    "adamw",
    "--weight-decay",
    "0.01",
    "--schedule",
    "cosine",
    "--warmup",
    "1",
    "--label-smoothing",
    "0.1",
    "--num-iters",
    "20",
    "--batch-size",
    "10",
    "--lr",
    "1e-3",
    "--init",
    "he",
    "--num-val",
    "10",
    "--quiet",
]


def test_deep_run_saves_a_plain_model_that_evaluate_reads(tmp_path, capsys):
    import json

    from autonet.cli import main
    from autonet.config import Config
    from autonet.net import predict
    from autonet.run import export_params, load_data, preprocess_data
    from autonet.train import Trainer
    from fakedata import make_fake_cifar

    make_fake_cifar(tmp_path / "d", n_per_batch=20, with_test=True)
    out = tmp_path / "run"
    assert main(["train", "--data-dir", str(tmp_path / "d"), "--out", str(out), *DEEP_FLAGS]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["batchnorm"] is True and config["augment"] == ["flip", "crop"] and config["hidden"] == [8, 6]
    summary = json.loads((out / "summary.json").read_text())
    with np.load(out / "model.npz") as z:
        assert sorted(k for k in z.files if k[0] in "Wb") == ["W1", "W2", "W3", "b1", "b2", "b3"]
    capsys.readouterr()
    assert (
        main(["evaluate", str(out / "model.npz"), "--data-dir", str(tmp_path / "d"), "--num-val", "10", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["accuracy"] == summary["val_acc"]

    # the folded plain net predicts what the trained one does in eval mode on preprocessed rows
    cfg = Config.from_dict(config)
    data = load_data(cfg, quiet=True)
    pre, train = preprocess_data(cfg, data)
    params = init_params([3072, 8, 6, 10], init="he", rng=0, batchnorm=True, dtype=np.float32)
    t = Trainer(manual_lg, params, train.X_train, train.y_train, config=cfg, progress=False)
    t.fit()
    plain = export_params(t, pre)
    np.testing.assert_array_equal(predict(plain, data.X_val), predict(t.params, train.X_val, state=t.bn_state))


def test_presets_and_overrides():
    from autonet.cli import build_parser
    from autonet.cli.train import config_from_args
    from autonet.config import PRESETS, Config

    parse = lambda *argv: config_from_args(build_parser().parse_args(["train", *argv]))  # noqa: E731
    assert parse() == Config() == parse("--preset", "seed")
    best = parse("--preset", "best")
    assert best == Config.from_dict(PRESETS["best"]) and best != Config()
    tweaked = parse("--preset", "best", "--update", "sgd", "--no-batchnorm", "--augment", "none")
    assert (tweaked.update, tweaked.batchnorm, tweaked.augment) == ("sgd", False, ())
    assert tweaked.hidden == best.hidden  # the rest stays the preset's
    assert parse("--update", "sgd") == Config()  # giving a seed value explicitly changes nothing


def test_pca_with_augmentation_is_refused():
    from autonet.config import Config
    from autonet.errors import ConfigError

    with pytest.raises(ConfigError, match="augment"):
        Config(preprocess="pca", augment=("flip",))
