"""Everything after loading follows the dataset's shape and classes: trainer, model files, plots, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from autonet import plots
from autonet.backends import get_backend
from autonet.errors import ConfigError, ModelFileError
from autonet.net import init_params
from autonet.storage.models import Model, load_model, save_model
from autonet.train import TrainConfig, Trainer


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
    assert plots.plot_misclassified(X, y, pred, ["a", "b", "c"], tmp_path / "m.png", image_shape=(28, 28, 1)).is_file()
    assert plots.plot_weight_grid(rng.standard_normal((784, 10)), tmp_path / "w.png", image_shape=(28, 28, 1)).is_file()
    with pytest.raises(Exception, match="784, H"):
        plots.weight_grid(rng.standard_normal((3072, 4)), image_shape=(28, 28, 1))


def test_the_trainer_augments_images_of_the_given_shape(rng):
    X = rng.standard_normal((64, 28 * 28))
    y = np.arange(64) % 3
    cfg = TrainConfig(num_iters=4, batch_size=16, augment=("flip", "crop"), crop_padding=2, progress=False)
    params = init_params([784, 8, 3], std=0.01, rng=0)
    t = Trainer(get_backend("manual"), params, X, y, config=cfg, image_shape=(28, 28, 1))
    t.fit()
    assert len(t.history["loss"]) == 4
    with pytest.raises(ConfigError, match="augment needs rows of 32x32x3 images, got 784 features"):
        Trainer(get_backend("manual"), params, X, y, config=cfg)
