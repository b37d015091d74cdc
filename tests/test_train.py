"""The trainer: backend-agnostic, deterministic, integer epochs, divergence."""

from __future__ import annotations

import numpy as np
import pytest

from autonet import TwoLayerNet
from autonet.backends import get_backend
from autonet.config import Config
from autonet.errors import ConfigError, DivergenceError
from autonet.net import init_params, predict
from autonet.train import Trainer


def blobs(rng, n=300, d=20, c=4, spread=3.0):
    centers = rng.standard_normal((c, d)) * spread
    y = rng.integers(0, c, n)
    return centers[y] + rng.standard_normal((n, d)), y


@pytest.mark.parametrize("sampling", ["replacement", "epoch"])
def test_backends_give_the_same_loss_history(rng, sampling):
    X, y = blobs(rng)
    params = init_params([20, 16, 4], std=0.1, rng=rng)
    cfg = Config(
        learning_rate=0.05,
        num_iters=60,
        batch_size=32,
        seed=7,
        sampling=sampling,
        learning_rate_decay=0.9,
        reg=1e-3,
        progress=False,
    )
    histories = {}
    for name in ("manual", "autograd"):
        t = Trainer(get_backend(name), params, X[:250], y[:250], X[250:], y[250:], cfg)
        histories[name] = (np.array(t.fit()["loss"]), t.params)
    lm, pm = histories["manual"]
    la, pa = histories["autograd"]
    assert len(lm) == 60
    np.testing.assert_allclose(lm, la, rtol=1e-10, atol=0)
    for k in pm:
        np.testing.assert_allclose(pm[k], pa[k], rtol=1e-9, atol=1e-12)
    assert lm[-10:].mean() < lm[:10].mean()  # it learned something


def test_a_registered_backend_is_chosen_by_name_and_trains(rng, monkeypatch):
    from autonet import backends

    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))  # the test's registration is undone
    calls = []

    def counted(params, X, y, reg=0.0, **options):
        calls.append(len(y))
        return get_backend("manual")(params, X, y, reg=reg, **options)

    backends.register_backend("counted", counted)
    assert "counted" in backends.available_backends() and get_backend("counted") is counted
    cfg = Config(backend="counted", num_iters=5, batch_size=10, progress=False)
    X, y = blobs(rng)
    Trainer(get_backend(cfg.backend), init_params([20, 8, 4], rng=rng), X, y, X, y, cfg).fit()
    assert calls == [10] * 5


def test_epochs_are_integers_and_decay_applies(rng):
    X, y = blobs(rng, n=250)
    cfg = Config(learning_rate=0.1, learning_rate_decay=0.5, num_iters=25, batch_size=40, progress=False)
    t = Trainer(get_backend("manual"), init_params([20, 8, 4], std=0.1, rng=rng), X, y, X, y, cfg)
    assert t.iterations_per_epoch == 6  # 250 // 40, not 6.25
    h = t.fit()
    assert h["epoch_iteration"] == [6, 12, 18, 24]
    assert h["learning_rate"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])
    assert len(h["train_acc"]) == len(h["val_acc"]) == 4
    assert t.learning_rate == pytest.approx(0.1 * 0.5**4)


def test_epoch_sampling_visits_every_row_once_per_epoch(rng):
    X, y = blobs(rng, n=100)
    seen = []
    cfg = Config(num_iters=4, batch_size=25, sampling="epoch", progress=False)

    def recording(params, Xb, yb, reg=0.0):
        seen.append(Xb.copy())
        return get_backend("manual")(params, Xb, yb, reg=reg)

    Trainer(recording, init_params([20, 8, 4], rng=rng), X, y, config=cfg).fit()
    rows = np.concatenate(seen)
    assert sorted(map(tuple, rows)) == sorted(map(tuple, X))


def test_trainer_does_not_modify_callers_params(rng):
    X, y = blobs(rng)
    params = init_params([20, 8, 4], std=0.1, rng=rng)
    before = {k: v.copy() for k, v in params.items()}
    Trainer(get_backend("manual"), params, X, y, config=Config(num_iters=5, batch_size=10, progress=False)).fit()
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_divergence_names_iteration(rng):
    X, y = blobs(rng, spread=1e3)
    cfg = Config(learning_rate=1e6, num_iters=50, batch_size=20, progress=False)
    t = Trainer(get_backend("manual"), init_params([20, 8, 4], std=1.0, rng=rng), X * 1e3, y, config=cfg)
    with np.errstate(all="ignore"), pytest.raises(DivergenceError, match="iteration") as err:
        t.fit()
    assert err.value.iteration >= 0


@pytest.mark.parametrize(
    "bad",
    [
        dict(learning_rate=0),
        dict(learning_rate=-1),
        dict(batch_size=0),
        dict(num_iters=-5),
        dict(reg=-1.0),
        dict(learning_rate_decay=1.5),
        dict(sampling="bogus"),
        dict(update="lbfgs"),
        dict(learning_rate=float("nan")),
    ],
)
def test_bad_config_is_refused_by_name(bad):
    with pytest.raises(ConfigError, match=next(iter(bad)).split("_")[0]):
        Config(**bad)


def test_state_dict_resumes_exactly(rng):
    X, y = blobs(rng)
    params = init_params([20, 8, 4], std=0.1, rng=rng)
    cfg = Config(learning_rate=0.05, num_iters=40, batch_size=16, sampling="epoch", progress=False)
    full = Trainer(get_backend("manual"), params, X, y, X, y, cfg)
    full.fit()
    half = Trainer(get_backend("manual"), params, X, y, X, y, Config(**{**cfg.to_dict(), "num_iters": 17}))
    half.fit()
    resumed = Trainer(get_backend("manual"), params, X, y, X, y, cfg)
    resumed.load_state_dict(half.state_dict())
    resumed.fit()
    assert resumed.history["loss"] == full.history["loss"]
    for k in params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])


# ----- the seed's API -----


def test_two_layer_net_facade_runs_exercise_code(rng):
    X, y = blobs(rng, n=400, d=30, c=3)
    net = TwoLayerNet(30, 25, 3, std=1e-1, seed=0)
    assert set(net.params) == {"W1", "b1", "W2", "b2"}
    assert net.params["W1"].shape == (30, 25) and net.params["b2"].shape == (3,)
    scores = net.loss(X[:5])
    assert scores.shape == (5, 3)
    loss, grads = net.loss(X[:5], y[:5], reg=0.05)
    loss_a, grads_a = net.loss(X[:5], y[:5], reg=0.05, backend="autograd")
    assert loss == pytest.approx(loss_a, rel=1e-12)
    stats = net.train(
        X[:300],
        y[:300],
        X[300:],
        y[300:],
        learning_rate=1e-1,
        learning_rate_decay=0.95,
        reg=1e-5,
        num_iters=100,
        batch_size=50,
        verbose=False,
    )
    assert set(stats) == {"loss_history", "train_acc_history", "val_acc_history"}
    assert len(stats["loss_history"]) == 100 and len(stats["val_acc_history"]) == 16
    assert (net.predict(X[300:]) == y[300:]).mean() > 0.8


def test_predict_uses_b2(rng):
    net = TwoLayerNet(4, 3, 2, seed=1)
    net.params["b2"][:] = [0.0, 1e3]  # b2 alone decides
    assert (net.predict(rng.standard_normal((10, 4))) == 1).all()
    assert (predict(net.params, rng.standard_normal((10, 4))) == 1).all()


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from autonet.storage.files import atomic_write_json

    old = os.umask(0o022)
    try:
        path = atomic_write_json(tmp_path / "x.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def _early_stopping_case(patience: int, num_iters: int = 400, **cfg):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 10))
    y = (X[:, 0] > 0).astype(np.int64)
    y[100:] = rng.integers(0, 2, 20)  # a noisy validation split: its accuracy stops improving
    params = init_params([10, 16, 2], init="he", rng=rng)
    config = Config(
        learning_rate=0.5, learning_rate_decay=1.0, num_iters=num_iters, batch_size=20, seed=0, progress=False,
        early_stopping=patience, **cfg,
    )  # fmt: skip
    return Trainer(get_backend("manual"), params, X[:100], y[:100], X[100:], y[100:], config)


def test_early_stopping_stops_and_restores_the_best_epoch():
    t = _early_stopping_case(patience=3)
    t.fit()
    val = t.history["val_acc"]
    best = int(np.argmax(val)) + 1  # the first epoch of the highest accuracy (1-based)
    assert t.best["epoch"] == best and t.best["val_acc"] == max(val)
    assert len(val) == best + 3 and t.iteration < 400  # stopped 3 epochs after its best
    assert t._accuracy(t.X_val, t.y_val) == max(val)  # the evaluated net is the best epoch's again
    for k, v in t.best["params"].items():
        np.testing.assert_array_equal(t.params[k], v)


def test_early_stopping_state_resumes_exactly():
    whole = _early_stopping_case(patience=4, num_iters=400)
    whole.fit()
    first = _early_stopping_case(patience=4, num_iters=400)
    while first.iteration < 23:
        first.step()
    resumed = _early_stopping_case(patience=4, num_iters=400)
    resumed.load_state_dict(first.state_dict())
    resumed.fit()
    assert resumed.history == whole.history and resumed.best["epoch"] == whole.best["epoch"]
    for k in whole.params:
        np.testing.assert_array_equal(resumed.params[k], whole.params[k])


def test_early_stopping_needs_validation_data():
    rng = np.random.default_rng(0)
    params = init_params([4, 3], rng=rng)
    with pytest.raises(ConfigError, match="early_stopping needs validation data"):
        Trainer(get_backend("manual"), params, rng.standard_normal((10, 4)), np.zeros(10, int),
                config=Config(early_stopping=2, progress=False))  # fmt: skip


def test_two_layer_net_train_stops_early_and_keeps_the_best_epoch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 10))
    y = (X[:, 0] > 0).astype(np.int64)
    y[100:] = rng.integers(0, 2, 20)  # a noisy validation split: its accuracy stops improving
    net = TwoLayerNet(10, 16, 2, std=0.1, seed=0)
    stats = net.train(X[:100], y[:100], X[100:], y[100:], learning_rate=0.5, learning_rate_decay=1.0,
                      num_iters=400, batch_size=20, early_stopping=3)  # fmt: skip
    val = stats["val_acc_history"]
    assert stats["best_epoch"] == int(np.argmax(val)) + 1 and len(val) == stats["best_epoch"] + 3
    assert np.mean(net.predict(X[100:]) == y[100:]) == max(val)  # the best epoch's weights are kept
