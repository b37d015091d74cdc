"""The accuracy options (docs/deep.md, "Accuracy options"): mixup/cutmix, the weights' moving average, TTA.

What each must keep true: mixed batches and their targets are what the
papers define, drawn from the trainer's generator (so both backends agree
and a resumed run is bit for bit the uninterrupted one, through a SIGKILL
too); the moving average is the recursion it claims, is what is evaluated
and saved, and the fast path computes it exactly as the reference path does;
test-time augmentation averages the scores of an image and its mirror,
composes with the preprocessing folded into a saved model, and is recorded
in the model file so ``autonet evaluate`` predicts as training validated.
"""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest

from autonet.augment import mix_batch
from autonet.backends import get_backend
from autonet.config import PRESETS, Config, preset
from autonet.errors import ConfigError, ModelFileError
from autonet.net import accuracy, init_params, mirror_rows, predict, scores
from autonet.preprocess import fit_preprocess, mirror_permutation
from autonet.train import Trainer

SMALL = (4, 4, 3)  # images of 48 features: whitening them is cheap


def image_blobs(rng, n=120, shape=(32, 32, 3), c=4):
    d = int(np.prod(shape))
    centers = rng.standard_normal((c, d))
    y = rng.integers(0, c, n)
    return centers[y] + rng.standard_normal((n, d)), y


# ----- mixup / cutmix batches -----


def test_mixup_blends_rows_and_labels_with_one_beta_weight(rng):
    X, y = rng.standard_normal((8, 48)), rng.integers(0, 5, 8)
    out, (y2, lam) = mix_batch(X, y, np.random.default_rng(4), mixup=0.4, image_shape=SMALL)
    draws = np.random.default_rng(4)  # the documented order: lam, then the permutation
    want_lam = draws.beta(0.4, 0.4)
    perm = draws.permutation(8)
    assert lam == want_lam and 0 <= lam <= 1
    np.testing.assert_array_equal(y2, y[perm])
    np.testing.assert_allclose(out, lam * X + (1 - lam) * X[perm], rtol=1e-15)
    assert out.dtype == X.dtype
    f32, _ = mix_batch(X.astype(np.float32), y, np.random.default_rng(4), mixup=0.4, image_shape=SMALL)
    assert f32.dtype == np.float32


def cutmix_by_hand(X, y, seed, alpha, shape=(32, 32, 3), choose=False):
    """The documented draws, then a loop over the images: what mix_batch must give."""
    rng = np.random.default_rng(seed)
    if choose:
        assert rng.random() < 0.5
    lam = rng.beta(alpha, alpha)
    perm = rng.permutation(len(X))
    H, W, _ = shape
    cut_h, cut_w = int(H * np.sqrt(1 - lam)), int(W * np.sqrt(1 - lam))
    cy, cx = rng.integers(0, H), rng.integers(0, W)
    top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, H)
    left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, W)
    out = X.reshape(len(X), *shape).copy()
    for i in range(len(X)):
        out[i, top:bottom, left:right] = X.reshape(len(X), *shape)[perm[i], top:bottom, left:right]
    return out.reshape(X.shape), y[perm], 1 - (bottom - top) * (right - left) / (H * W)


def test_cutmix_pastes_one_box_and_weights_the_labels_by_its_area(rng):
    X, y = rng.standard_normal((6, 32 * 32 * 3)), rng.integers(0, 10, 6)
    areas = set()
    for seed in range(20):
        out, (y2, lam) = mix_batch(X, y, np.random.default_rng(seed), cutmix=1.0)
        want, want_y2, want_lam = cutmix_by_hand(X, y, seed, 1.0)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(y2, want_y2)
        assert lam == want_lam and 0 <= lam <= 1
        areas.add(lam)
    assert len(areas) > 10  # boxes of many sizes
    with pytest.raises(ConfigError, match="cutmix needs rows of 32x32x3"):
        mix_batch(X[:, :100], y, np.random.default_rng(0), cutmix=1.0)
    with pytest.raises(ConfigError, match="mixup > 0 or cutmix > 0"):
        mix_batch(X, y, np.random.default_rng(0))


def test_with_both_on_each_batch_picks_one(rng):
    X, y = rng.standard_normal((10, 48)), rng.integers(0, 5, 10)
    picked = []
    for seed in range(30):
        out, (y2, lam) = mix_batch(X, y, np.random.default_rng(seed), mixup=0.5, cutmix=1.0, image_shape=SMALL)
        draws = np.random.default_rng(seed)
        if draws.random() < 0.5:
            want, want_y2, want_lam = cutmix_by_hand(X, y, seed, 1.0, SMALL, choose=True)
            picked.append("cutmix")
        else:
            want_lam = draws.beta(0.5, 0.5)
            perm = draws.permutation(10)
            want, want_y2 = want_lam * X + (1 - want_lam) * X[perm], y[perm]
            picked.append("mixup")
        np.testing.assert_allclose(out, want, rtol=1e-15)
        np.testing.assert_array_equal(y2, want_y2)
        assert lam == want_lam
    assert set(picked) == {"cutmix", "mixup"}


# ----- the trainer -----

ACCURACY_TRAIN = dict(
    learning_rate=0.01,
    num_iters=24,
    batch_size=16,
    sampling="epoch",
    update="adamw",
    weight_decay=0.01,
    schedule="cosine",
    warmup=0.5,
    dropout=0.2,
    label_smoothing=0.1,
    augment=("flip", "crop"),
    crop_padding=2,
    mixup=0.4,
    cutmix=1.0,
    ema_decay=0.9,
    tta="flip",
    progress=False,
)


def test_trainer_backends_agree_with_mixing_ema_and_tta(rng):
    X, y = image_blobs(rng)
    params = init_params([3072, 10, 6, 4], init="he", rng=rng, batchnorm=True)
    runs = {}
    for name in ("manual", "autograd"):
        t = Trainer(get_backend(name), params, X[:100], y[:100], X[100:], y[100:], Config(**ACCURACY_TRAIN))
        t.fit()
        runs[name] = t
    m, a = runs["manual"], runs["autograd"]
    np.testing.assert_allclose(m.history["loss"], a.history["loss"], rtol=1e-10)
    for k in params:
        np.testing.assert_allclose(m.ema_params[k], a.ema_params[k], rtol=1e-8, atol=1e-12)
    assert m.history["val_acc"] == a.history["val_acc"]


def test_the_moving_average_is_the_recursion_and_is_what_is_evaluated(rng):
    X, y = image_blobs(rng, n=80)
    params = init_params([3072, 8, 4], init="he", rng=rng, batchnorm=True)
    snapshots = []

    def record(event, t):
        if event == "iteration":
            snapshots.append(
                {**{k: v.copy() for k, v in t.params.items()}, **{k: v.copy() for k, v in t.bn_state.items()}}
            )

    cfg = Config(learning_rate=0.01, num_iters=12, batch_size=16, update="adam", ema_decay=0.8, progress=False)
    t = Trainer(get_backend("manual"), params, X[:64], y[:64], X[64:], y[64:], cfg, callbacks=[record])
    start = {**{k: v.copy() for k, v in t.params.items()}, **{k: v.copy() for k, v in t.bn_state.items()}}
    t.fit()
    avg = start
    for step, snap in enumerate(snapshots, start=1):
        d = min(0.8, (1 + step) / (10 + step))  # the warm-up bound holds for the first steps
        avg = {k: d * avg[k] + (1 - d) * snap[k] for k in avg}
    assert t.ema_decay_at(1) == pytest.approx(2 / 11) and t.ema_decay_at(100) == 0.8
    for k in t.ema_params:
        np.testing.assert_allclose(t.ema_params[k], avg[k], rtol=1e-12, atol=1e-15)
        assert not np.array_equal(t.ema_params[k], t.params[k])
    for k in t.ema_bn_state:
        np.testing.assert_allclose(t.ema_bn_state[k], avg[k], rtol=1e-12, atol=1e-15)
    assert t.evaluation_params() == (t.ema_params, t.ema_bn_state)
    assert t.history["val_acc"][-1] == accuracy(t.ema_params, X[64:], y[64:], state=t.ema_bn_state)
    off = Trainer(get_backend("manual"), params, X[:64], y[:64], config=Config(num_iters=1, progress=False))
    assert off.ema_params == {} and off.evaluation_params()[0] is off.params


def test_ema_update_is_in_place_over_blocks(monkeypatch):
    from autonet import optim

    monkeypatch.setattr(optim, "BLOCK", 7)  # blocks that do not divide the arrays: the same numbers
    rng = np.random.default_rng(0)
    X, y = image_blobs(rng, n=40)
    params = init_params([3072, 5, 4], init="he", rng=rng)
    t = Trainer(
        get_backend("manual"), params, X, y, config=Config(num_iters=3, batch_size=8, ema_decay=0.5, progress=False)
    )
    ids = {k: id(v) for k, v in t.ema_params.items()}
    before = {k: v.copy() for k, v in t.ema_params.items()}
    t.step()
    d = t.ema_decay_at(1)
    for k, v in t.ema_params.items():
        assert id(v) == ids[k]  # updated where it lies
        np.testing.assert_allclose(v, d * before[k] + (1 - d) * t.params[k], rtol=1e-12, atol=1e-15)


def test_trainer_resumes_exactly_with_the_accuracy_options(rng):
    X, y = image_blobs(rng, n=160)
    X = X.astype(np.float32)
    params = init_params([3072, 10, 4], init="he", rng=rng, batchnorm=True, dtype=np.float32)
    full = Trainer(get_backend("manual"), params, X, y, X[:40], y[:40], Config(**ACCURACY_TRAIN))
    full.fit()
    half = Trainer(get_backend("manual"), params, X, y, X[:40], y[:40], Config(**ACCURACY_TRAIN))
    for _ in range(11):
        half.step()
    state = half.state_dict()
    resumed = Trainer(get_backend("manual"), params, X, y, X[:40], y[:40], Config(**ACCURACY_TRAIN))
    resumed.load_state_dict(state)
    resumed.fit()
    assert resumed.history == full.history
    for k in params:
        np.testing.assert_array_equal(resumed.params[k], full.params[k])
        np.testing.assert_array_equal(resumed.ema_params[k], full.ema_params[k])
    for k in full.ema_bn_state:
        np.testing.assert_array_equal(resumed.ema_bn_state[k], full.ema_bn_state[k])


def test_a_checkpoint_with_a_wrong_moving_average_is_refused_by_field(rng, tmp_path):
    from autonet.storage.checkpoints import Checkpointer

    X, y = image_blobs(rng, n=40)
    params = init_params([3072, 5, 4], init="he", rng=rng)
    cfg = Config(num_iters=4, batch_size=8, ema_decay=0.5, progress=False)
    t = Trainer(get_backend("manual"), params, X, y, config=cfg)
    t.step()
    ckpt = Checkpointer(tmp_path / "c.npz", 0, {"x": 1})
    ckpt.save(t)
    fresh = Trainer(get_backend("manual"), params, X, y, config=cfg)
    Checkpointer(tmp_path / "c.npz", 0, {"x": 1}).restore(fresh)
    for k in params:
        np.testing.assert_array_equal(fresh.ema_params[k], t.ema_params[k])
    from autonet.storage.checkpoints import save_checkpoint

    state = t.state_dict()
    state["ema"]["params"]["W1"] = state["ema"]["params"]["W1"][:, :2]
    save_checkpoint(tmp_path / "bad.npz", state, {"x": 1})
    with pytest.raises(ModelFileError, match="ema/params/W1"):
        Checkpointer(tmp_path / "bad.npz", 0, {"x": 1}).restore(fresh)


@pytest.mark.parametrize(
    "bad",
    [
        dict(ema_decay=1.0),
        dict(ema_decay=-0.1),
        dict(mixup=-1),
        dict(cutmix=float("inf")),
        dict(tta="rotate"),
        dict(tta=None),
    ],
)
def test_bad_accuracy_options_are_refused_by_name(bad):
    name = next(iter(bad))
    with pytest.raises(ConfigError, match=name):
        Config(**bad)


def test_options_that_need_images_are_refused_on_other_rows(rng):
    X, y = rng.standard_normal((20, 30)), rng.integers(0, 3, 20)
    params = init_params([30, 4, 3], rng=rng)
    for opt in (dict(cutmix=1.0), dict(tta="flip")):
        with pytest.raises(ConfigError, match=next(iter(opt))):
            Trainer(get_backend("manual"), params, X, y, config=Config(progress=False, **opt))
        with pytest.raises(ConfigError, match=next(iter(opt))):
            Config(preprocess="pca", **opt)
    Trainer(get_backend("manual"), params, X, y, config=Config(progress=False, mixup=0.2))  # any rows


# ----- test-time augmentation -----


def test_tta_averages_the_scores_of_each_image_and_its_mirror(rng):
    params = init_params([48, 7, 5], init="he", rng=rng)
    X = rng.standard_normal((9, 48))
    mirror = mirror_permutation(SMALL)
    want = (scores(params, X) + scores(params, X[:, mirror])) / 2
    np.testing.assert_allclose(scores(params, X, tta="flip", image_shape=SMALL), want, rtol=1e-14)
    np.testing.assert_array_equal(mirror_rows(X, "flip", SMALL), X[:, mirror])
    # a mirror-symmetric image scores as without TTA; predict/accuracy follow scores in chunks
    sym = (X + X[:, mirror]) / 2
    np.testing.assert_allclose(scores(params, sym, tta="flip", image_shape=SMALL), scores(params, sym), rtol=1e-13)
    np.testing.assert_array_equal(predict(params, X, batch_size=4, tta="flip", image_shape=SMALL), want.argmax(1))
    y = want.argmax(1)
    assert accuracy(params, X, y, tta="flip", image_shape=SMALL) == 1.0
    with pytest.raises(ConfigError, match="tta flip needs rows of 32x32x3 images"):
        scores(params, X, tta="flip")
    with pytest.raises(ConfigError, match="tta must be one of"):
        scores(params, X, tta="rotate", image_shape=SMALL)


@pytest.mark.parametrize("method", ["mean", "standardize", "zca"])
def test_tta_composes_with_the_preprocessing_folded_into_the_model(rng, method):
    """Mirroring the model's input row, then the folded preprocessing, is mirroring the preprocessed row.

    The trainer scores preprocessed rows (mirrors them); the saved model takes the
    loader's mean-subtracted rows (mirrors those, then applies the folded map). They
    agree because every image preprocessing commutes with the mirror.
    """
    X = rng.standard_normal((200, 48)) * np.linspace(0.5, 2, 48)
    X = np.concatenate([X, X[:, mirror_permutation(SMALL)]])  # a mirror-symmetric distribution
    pre = fit_preprocess(X, method, whiten_eps=0.5, image_shape=SMALL)
    params = init_params([48, 9, 4], init="he", rng=rng)
    params["b1"] = params["b1"] + 0.1
    rows = rng.standard_normal((7, 48))
    trained = scores(params, pre.transform(rows), tta="flip", image_shape=SMALL)
    saved = scores(pre.fold(params), rows, tta="flip", image_shape=SMALL)
    np.testing.assert_allclose(saved, trained, rtol=1e-9, atol=1e-12)


def test_model_file_records_tta(tmp_path, rng):
    from autonet.storage.models import Model, load_model, save_model

    params = init_params([48, 5, 3], rng=rng)
    base = dict(params=params, mean_image=np.zeros(48), class_names=["a", "b", "c"])
    save_model(tmp_path / "m.npz", Model(**base, image_shape=SMALL, tta="flip"))
    assert load_model(tmp_path / "m.npz").tta == "flip"
    save_model(tmp_path / "plain.npz", Model(**base, image_shape=SMALL))
    assert load_model(tmp_path / "plain.npz").tta == "none"
    # a file written before tta existed predicts without it
    with np.load(tmp_path / "plain.npz") as z:
        old = {k: z[k] for k in z.files if k != "tta"}
    np.savez(tmp_path / "old.npz", **old)
    assert load_model(tmp_path / "old.npz").tta == "none"
    for bad, message in (
        (np.asarray("rotate"), "tta must be one of none, flip"),
        (np.asarray([1, 2]), "tta must be a 0-d unicode array"),
    ):
        np.savez(tmp_path / "bad.npz", **{**old, "tta": bad})
        with pytest.raises(ModelFileError, match=message):
            load_model(tmp_path / "bad.npz")
    np.savez(tmp_path / "flat.npz", **{**old, "image_shape": np.zeros(0, np.int64), "tta": np.asarray("flip")})
    with pytest.raises(ModelFileError, match="not images"):
        load_model(tmp_path / "flat.npz")


ACCURACY_FLAGS = [
    "--hidden",
    "8",
    "--batchnorm",
    "--preprocess",
    "standardize",
    "--augment",
    "flip",
    "--update",
    "adamw",
    "--weight-decay",
    "0.01",
    "--mixup",
    "0.3",
    "--cutmix",
    "1",
    "--ema-decay",
    "0.9",
    "--tta",
    "flip",
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
    "--dtype",
    "float64",
    "--quiet",
]


def test_cli_run_saves_ema_weights_with_tta_and_evaluate_predicts_the_same(tmp_path, capsys):
    from autonet.cli import main
    from autonet.run import export_params, load_data, preprocess_data
    from autonet.storage.models import load_model
    from fakedata import make_fake_cifar

    make_fake_cifar(tmp_path / "d", n_per_batch=20, with_test=True)
    out = tmp_path / "run"
    assert main(["train", "--data-dir", str(tmp_path / "d"), "--out", str(out), *ACCURACY_FLAGS]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["mixup"], config["cutmix"], config["ema_decay"], config["tta"]) == (0.3, 1.0, 0.9, "flip")
    summary = json.loads((out / "summary.json").read_text())
    history = json.loads((out / "history.json").read_text())
    model = load_model(out / "model.npz")
    assert model.tta == "flip"
    capsys.readouterr()
    assert (
        main(["evaluate", str(out / "model.npz"), "--data-dir", str(tmp_path / "d"), "--num-val", "10", "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == summary["val_acc"] and result["tta"] == "flip"
    # --tta none scores the same saved model without the mirror: the plain net's accuracy
    evaluate = ["evaluate", str(out / "model.npz"), "--data-dir", str(tmp_path / "d"), "--num-val", "10", "--json"]
    assert main([*evaluate, "--tta", "none"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["tta"] == "none"
    # the summary's validation accuracy (folded model, loader rows) is the trainer's last one (preprocessed rows)
    assert summary["val_acc"] == history["val_acc"][-1]

    # the saved model is the moving average, folded; it predicts what the trainer evaluated
    cfg = Config.from_dict(config)
    data = load_data(cfg, quiet=True)
    pre, train = preprocess_data(cfg, data)
    params = init_params([3072, 8, 10], init="he", rng=0, batchnorm=True)
    t = Trainer(get_backend("manual"), params, train.X_train, train.y_train, config=cfg, progress=False)
    t.fit()
    exported = export_params(t, pre)
    ema_scores = scores(t.ema_params, train.X_val, state=t.ema_bn_state, tta="flip")
    np.testing.assert_allclose(scores(exported, data.X_val, tta="flip"), ema_scores, rtol=1e-9, atol=1e-9)
    X_val = data.X_val - model.mean_image.astype(data.X_val.dtype)
    assert plain["accuracy"] == accuracy(model.params, X_val, data.y_val, tta="none", image_shape=model.image_shape)
    assert not np.allclose(
        scores(exported, data.X_val, tta="flip"), scores(t.params, train.X_val, state=t.bn_state, tta="flip")
    )


def test_sigkill_mid_run_then_resume_is_bit_exact_with_the_accuracy_options(tmp_path):
    from autonet.cli import main
    from autonet.storage.checkpoints import CHECKPOINT_NAME
    from fakedata import make_fake_cifar
    from test_reliability import ITERS, assert_same_run, checkpoint_iteration, start_slow_cli, train_args, wait_for

    fake = make_fake_cifar(tmp_path / "data", n_per_batch=20, with_test=True).parent
    extra = [
        "--mixup",
        "0.4",
        "--cutmix",
        "1",
        "--ema-decay",
        "0.9",
        "--tta",
        "flip",
        "--augment",
        "flip,crop",
        "--dropout",
        "0.1",
    ]
    reference = tmp_path / "reference"
    assert main([*train_args(fake, reference), *extra]) == 0
    out = tmp_path / "run"
    proc = start_slow_cli([*train_args(fake, out), *extra], 0.02, tmp_path / "log")
    wait_for(lambda: (out / CHECKPOINT_NAME).is_file(), proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert 0 < checkpoint_iteration(out / CHECKPOINT_NAME) < ITERS
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)  # the saved model is the moving average: equal bit for bit
    ha, hb = (json.loads((p / "history.json").read_text()) for p in (out, reference))
    assert ha == hb


# ----- presets -----


def test_two_layer_preset_is_one_hidden_layer_without_augmentation():
    from autonet.cli import build_parser
    from autonet.cli.train import config_from_args

    cfg = config_from_args(build_parser().parse_args(["train", "--preset", "two-layer"]))
    assert cfg.hidden == (2000,) and cfg.augment == () and cfg.mixup == cfg.cutmix == 0.0
    # the measured recipe of docs/deep.md: --preset best --hidden 2000 --augment none --dropout 0.6
    # --weight-decay 0.1 --batch-size 200 --num-iters 3300
    measured = Config.from_dict(
        {
            **PRESETS["best"],
            "ema_decay": 0.0,
            "tta": "none",
            "hidden": (2000,),
            "augment": (),
            "dropout": 0.6,
            "weight_decay": 0.1,
            "batch_size": 200,
            "num_iters": 3300,
        }
    )
    assert cfg == measured == preset("two-layer")
    # the accuracy options: the best preset keeps the measured two (moving average, flips at test
    # time); mixup and cutmix measured no gain and stay off everywhere; the two-layer preset has none
    assert (cfg.ema_decay, cfg.tta) == (0.0, "none")
    best = preset("best")
    assert (best.ema_decay, best.tta, best.num_iters, best.crop_padding) == (0.999, "flip", 11_000, 2)
    for name in PRESETS:
        assert (preset(name).mixup, preset(name).cutmix) == (0.0, 0.0), name


def test_estimator_predicts_with_the_moving_average_and_refuses_image_options(rng):
    from autonet.estimator import MLPClassifier

    X, y = rng.standard_normal((120, 6)), rng.integers(0, 3, 120)
    X += np.eye(3)[y] @ rng.standard_normal((3, 6)) * 3
    est = MLPClassifier(
        (8,),
        learning_rate=1e-2,
        max_iter=5,  # epochs of 120 // 20 = 6 steps
        batch_size=20,
        mixup=0.2,
        ema_decay=0.9,
    ).fit(X, y)
    assert est.score(X, y) > 0.5
    before = {k: v.copy() for k, v in est._trainer_state["params"].items()}
    assert not np.array_equal(est.params_["W1"], before["W1"])  # params_ is the average, not the trained W
    est.partial_fit(X, y)  # continues from the trained parameters, not from the average
    assert est.n_iter_ == 6 and len(est.history_["loss"]) == 36  # epochs, steps
    for bad in (dict(tta="flip"), dict(cutmix=1.0)):
        with pytest.raises(ConfigError, match=f"{next(iter(bad))} needs image rows"):
            MLPClassifier(max_iter=1, **bad).fit(X, y)
