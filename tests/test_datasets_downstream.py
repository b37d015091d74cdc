"""Everything after loading follows the dataset's shape and classes: trainer, model files, plots, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autonet import plots
from autonet.backends import get_backend
from autonet.config import Config
from autonet.errors import ConfigError, ModelFileError
from autonet.net import init_params
from autonet.storage.models import Model, load_model, save_model
from autonet.train import Trainer


def test_model_files_record_input_shape_and_dataset(tmp_path):
    params = init_params([784, 5, 3], rng=0)
    path = save_model(tmp_path / "m.npz", Model(params, np.zeros(784), ["a", "b", "c"], (28, 28, 1), "mnist"))
    m = load_model(path)
    assert m.image_shape == (28, 28, 1) and m.dataset == "mnist" and m.class_names == ["a", "b", "c"]
    flat = load_model(save_model(tmp_path / "f.npz", Model(params, np.zeros(784), ["a", "b", "c"], None, "t.npz")))
    assert flat.image_shape is None and flat.dataset == "t.npz"


def test_model_files_from_before_datasets_are_cifar10(tmp_path):
    params = init_params([3072, 4, 10], rng=0)
    save_model(tmp_path / "m.npz", Model(params, np.zeros(3072), [str(i) for i in range(10)], (32, 32, 3), "x"))
    with np.load(tmp_path / "m.npz") as z:
        old = {k: z[k] for k in z.files if k not in ("image_shape", "dataset")}
    np.savez(tmp_path / "old.npz", **old)
    m = load_model(tmp_path / "old.npz")
    assert m.dataset == "cifar10" and m.image_shape == (32, 32, 3)


def test_a_model_file_with_a_wrong_image_shape_is_refused(tmp_path):
    params = init_params([784, 5, 3], rng=0)
    save_model(tmp_path / "m.npz", Model(params, np.zeros(784), ["a", "b", "c"], (28, 28, 1), "mnist"))
    with np.load(tmp_path / "m.npz") as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(tmp_path / "bad.npz", **{**arrays, "image_shape": np.array([28, 27, 1])})
    with pytest.raises(ModelFileError, match=r"image_shape \(28, 27, 1\) does not hold the 784 inputs"):
        load_model(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad2.npz", **{**arrays, "dataset": np.array([1, 2])})
    with pytest.raises(ModelFileError, match="dataset must be a 0-d unicode array"):
        load_model(tmp_path / "bad2.npz")


def test_weight_and_misclassified_plots_take_grey_images(tmp_path, rng):
    grid = plots.weight_grid(rng.standard_normal((784, 10)), image_shape=(28, 28, 1), padding=2)
    assert grid.shape == (3 * 30 - 2, 4 * 30 - 2, 3)  # 10 tiles: 3 rows of 4
    tile = grid[:28, :28]
    assert np.array_equal(tile[..., 0], tile[..., 2])  # grey: equal channels
    X = rng.integers(0, 256, (12, 784)).astype(np.float64)
    y, pred = np.arange(12) % 3, (np.arange(12) + 1) % 3
    fig = plots.plot_misclassified(X, y, pred, ["a", "b", "c"], image_shape=(28, 28, 1))
    assert plots.save_figure(fig, tmp_path / "m.png").is_file()
    fig = plots.plot_weight_grid(rng.standard_normal((784, 10)), image_shape=(28, 28, 1))
    assert plots.save_figure(fig, tmp_path / "w.png").is_file()
    with pytest.raises(Exception, match="784, H"):
        plots.weight_grid(rng.standard_normal((3072, 4)), image_shape=(28, 28, 1))


def test_the_trainer_augments_images_of_the_given_shape(rng):
    X = rng.standard_normal((64, 28 * 28))
    y = np.arange(64) % 3
    cfg = Config(num_iters=4, batch_size=16, augment=("flip", "crop"), crop_padding=2, progress=False)
    params = init_params([784, 8, 3], std=0.01, rng=0)
    t = Trainer(get_backend("manual"), params, X, y, config=cfg, image_shape=(28, 28, 1))
    t.fit()
    assert len(t.history["loss"]) == 4
    with pytest.raises(ConfigError, match="augment needs rows of 32x32x3 images, got 784 features"):
        Trainer(get_backend("manual"), params, X, y, config=cfg)


# ----- the CLI, end to end -----

SMALL = [
    "--hidden",
    "16",
    "--num-iters",
    "30",
    "--batch-size",
    "16",
    "--num-val",
    "12",
    "--quiet",
    "--init",
    "he",
    "--update",
    "adam",
    "--learning-rate",
    "3e-3",
    "--checkpoint-every",
    "10",
]


def striped_images(rng, n: int, shape=(8, 6), classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Grey images whose class is which third of the rows is bright, plus noise: learnable."""
    y = np.arange(n) % classes
    X = rng.integers(0, 60, (n, *shape)).astype(np.uint8)
    band = shape[0] // classes
    for c in range(classes):
        X[y == c, c * band : (c + 1) * band] += 150
    return X, y


def test_train_evaluate_plot_an_npz_dataset_end_to_end(tmp_path, rng, capsys, monkeypatch):
    from autonet.cli import main

    X, y = striped_images(rng, 120)
    X_test, y_test = striped_images(rng, 30)
    names = np.array(["top", "middle", "bottom"])
    np.savez(tmp_path / "stripes.npz", X_train=X, y_train=y, X_test=X_test, y_test=y_test, class_names=names)
    monkeypatch.chdir(tmp_path)  # a relative path is stored absolute
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "--dataset",
                "stripes.npz",
                "--out",
                str(out),
                "--augment",
                "flip,crop",
                "--crop-padding",
                "1",
                "--preprocess",
                "standardize",
                *SMALL,
            ]
        )
        == 0
    )
    assert "stripes.npz, backend manual" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["dataset"] == str(tmp_path / "stripes.npz")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"] == "stripes.npz" and summary["layer_sizes"] == [48, 16, 3]
    assert summary["num_train"] == 108 and summary["val_acc"] > 0.9 and summary["test_acc"] > 0.9
    model = load_model(out / "model.npz")
    assert model.image_shape == (8, 6, 1) and model.class_names == ["top", "middle", "bottom"]
    assert model.dataset == "stripes.npz"

    monkeypatch.chdir(tmp_path / "run")  # evaluate and plot find the data from the model's record
    assert (
        main(
            [
                "evaluate",
                str(out / "model.npz"),
                "--dataset",
                str(tmp_path / "stripes.npz"),
                "--split",
                "test",
                "--num-val",
                "12",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(summary["test_acc"])
    assert main(["plot", str(out), "--dataset", str(tmp_path / "stripes.npz")]) == 0
    printed = capsys.readouterr().out
    for name in ("training.png", "weights.png", "confusion.png", "misclassified.png"):
        assert (out / "plots" / name).is_file() and f"wrote {out / 'plots' / name}" in printed


def test_the_memory_estimate_sizes_the_crop_canvas_from_the_data_images(tmp_path, rng, monkeypatch):
    import autonet.memory
    from autonet.cli import main

    X, y = striped_images(rng, 60)
    np.savez(tmp_path / "stripes.npz", X_train=X, y_train=y)
    seen = []
    estimate = autonet.memory.training_bytes
    monkeypatch.setattr(autonet.memory, "training_bytes", lambda *a, **kw: seen.append(kw) or estimate(*a, **kw))
    argv = ["train", "--dataset", str(tmp_path / "stripes.npz"), "--out", str(tmp_path / "run"), *SMALL]
    assert main([*argv, "--augment", "crop", "--crop-padding", "2"]) == 0
    assert seen and tuple(seen[-1]["image_shape"]) == (8, 6, 1) and seen[-1]["crop_padding"] == 2


def test_an_npz_run_is_reproducible_and_keeps_its_dataset_on_resume(tmp_path, rng, capsys):
    from autonet.cli import main

    X, y = striped_images(rng, 120)
    np.savez(tmp_path / "s.npz", X_train=X, y_train=y)
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["train", "--dataset", str(tmp_path / "s.npz"), "--out", str(out), *SMALL]) == 0
    assert json.loads((a / "history.json").read_text()) == json.loads((b / "history.json").read_text())
    assert main(["train", "--resume", str(a), "--dataset", "mnist"]) == 2
    assert "drop --dataset" in capsys.readouterr().err


def test_train_on_mnist_files_in_the_data_dir(tmp_path, rng, capsys):
    from autonet.cli import main
    from autonet.data.idx import write_idx

    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    X, y = striped_images(rng, 100, shape=(28, 28), classes=10)
    write_idx(folder / "train-images-idx3-ubyte.gz", X)
    write_idx(folder / "train-labels-idx1-ubyte.gz", y.astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", X[:20])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y[:20].astype(np.uint8))
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--out", str(out), *SMALL]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["layer_sizes"] == [784, 16, 10] and summary["dataset"] == "mnist"
    model = load_model(out / "model.npz")
    assert model.image_shape == (28, 28, 1) and model.class_names == [str(d) for d in range(10)]
    assert main(["evaluate", str(out / "model.npz"), "--data-dir", str(tmp_path / "data"), "--num-val", "12"]) == 0


def test_a_bad_dataset_is_one_line_and_exit_2(tmp_path, capsys):
    from autonet.cli import main

    assert main(["train", "--dataset", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "r"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert "is neither one of cifar10, mnist, fashion-mnist nor an existing .npz file" in err
    assert len(err.strip().splitlines()) == 1
    np.savez(tmp_path / "bad.npz", X_train=np.zeros((20, 3)), y_train=np.arange(20) % 2, labels=np.zeros(2))
    assert main(["train", "--dataset", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "r2"), *SMALL]) == 2
    assert "unknown member(s) labels" in capsys.readouterr().err


def test_a_cifar10_run_is_unchanged_and_recorded_as_cifar10(tmp_path, capsys):
    from autonet.cli import main
    from fakedata import make_fake_cifar

    make_fake_cifar(tmp_path / "d", n_per_batch=20, with_test=True)
    runs = {}
    for name, extra in (("default", []), ("named", ["--dataset", "cifar10"])):
        out = tmp_path / name
        assert (
            main(
                [
                    "train",
                    "--data-dir",
                    str(tmp_path / "d"),
                    "--out",
                    str(out),
                    "--hidden",
                    "8",
                    "--num-iters",
                    "12",
                    "--batch-size",
                    "10",
                    "--num-val",
                    "10",
                    "--quiet",
                    *extra,
                ]
            )
            == 0
        )
        runs[name] = json.loads((out / "history.json").read_text())
    assert runs["default"] == runs["named"]
    summary = json.loads((tmp_path / "default" / "summary.json").read_text())
    assert summary["dataset"] == "cifar10" and summary["layer_sizes"] == [3072, 8, 10]
    model = load_model(tmp_path / "default" / "model.npz")
    assert model.dataset == "cifar10" and model.image_shape == (32, 32, 3)
    assert json.loads((tmp_path / "default" / "config.json").read_text())["dataset"] == "cifar10"


def test_a_sweep_over_an_npz_dataset(tmp_path, rng):
    import csv

    from autonet.cli import main

    X, y = striped_images(rng, 120)
    np.savez(tmp_path / "s.npz", X_train=X, y_train=y)
    out = tmp_path / "sweep"
    assert (
        main(
            [
                "sweep",
                "--dataset",
                str(tmp_path / "s.npz"),
                "--out",
                str(out),
                "--quiet",
                "--grid",
                "learning_rate=1e-3 | 3e-3",
                *[a for a in SMALL if a != "--quiet"][:-2],
            ]
        )
        == 0
    )
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["status"] for r in rows] == ["ok", "ok"]
    assert max(float(r["val_acc"]) for r in rows) > 0.9  # 48-16-3 nets learned the stripes
