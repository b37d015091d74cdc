"""Datasets as .npz files, and load_dataset's dispatch: validated, no pickle, bounded."""

from __future__ import annotations

import numpy as np
import pytest

from autonet.data import load_dataset, load_npz_dataset
from autonet.errors import ConfigError, DataError


def save(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_flat_rows_with_int_labels_and_class_names(tmp_path, rng):
    X = rng.standard_normal((30, 5))
    y = np.arange(30) % 3
    path = save(
        tmp_path / "d.npz", X_train=X, y_train=y, X_test=X[:4], y_test=y[:4], class_names=np.array(["a", "b", "c"])
    )
    d = load_npz_dataset(path, num_val=6, dtype=np.float64)
    assert d.X_train.shape == (24, 5) and d.X_val.shape == (6, 5) and d.X_test.shape == (4, 5)
    np.testing.assert_allclose(d.X_train + d.mean_image, X[:24])
    np.testing.assert_allclose(d.mean_image, X[:24].mean(axis=0))
    assert d.class_names == ["a", "b", "c"] and d.image_shape is None and d.name == "d.npz"
    assert d.y_train.dtype == np.int64 and np.array_equal(d.y_val, y[24:])
    assert load_dataset(str(path), num_val=6).X_train.dtype == np.float32


def test_images_keep_their_shape_and_string_labels_become_class_names(tmp_path, rng):
    X = rng.integers(0, 256, (20, 8, 6), dtype=np.uint8)
    y = np.array(["cat", "dog"])[np.arange(20) % 2]
    path = save(tmp_path / "img.npz", X_train=X, y_train=y, X_test=X[:3], y_test=y[:3])
    d = load_npz_dataset(path, num_val=4)
    assert d.image_shape == (8, 6, 1) and d.X_train.shape == (16, 48)
    assert d.class_names == ["cat", "dog"] and list(d.y_test) == [0, 1, 0]
    X4 = rng.standard_normal((10, 4, 4, 3))
    d4 = load_npz_dataset(save(tmp_path / "rgb.npz", X_train=X4, y_train=np.arange(10) % 2), num_val=2)
    assert d4.image_shape == (4, 4, 3)
    np.testing.assert_allclose((d4.X_train + d4.mean_image).reshape(-1, 4, 4, 3), X4[:8], atol=1e-6)


@pytest.mark.parametrize(
    "arrays, match",
    [
        ({"X_train": np.zeros((4, 2))}, "missing y_train"),
        ({"X_train": np.zeros((4, 2)), "y_train": np.arange(4) % 2, "x_test": np.zeros(1)}, "unknown member.*x_test"),
        ({"X_train": np.zeros((4, 2)), "y_train": np.arange(3)}, r"y_train must have shape \(4,\)"),
        ({"X_train": np.zeros(4), "y_train": np.arange(4) % 2}, "X_train must be"),
        ({"X_train": np.array([[1.0, np.nan]] * 4), "y_train": np.arange(4) % 2}, "NaN"),
        ({"X_train": np.array([["a", "b"]] * 4), "y_train": np.arange(4) % 2}, "X_train must hold real numbers"),
        ({"X_train": np.zeros((4, 2)), "y_train": np.zeros(4, dtype=int)}, "1 class"),
        (
            {"X_train": np.zeros((4, 2)), "y_train": np.arange(4) % 3, "class_names": np.array(["x", "y"])},
            r"labels must lie in \[0, 2\)",
        ),
        ({"X_train": np.zeros((4, 2)), "y_train": np.array([0.5, 1, 0, 1])}, "integer or string labels"),
        (
            {
                "X_train": np.zeros((4, 2)),
                "y_train": np.arange(4) % 2,
                "X_test": np.zeros((2, 3)),
                "y_test": np.zeros(2, int),
            },
            "X_test rows",
        ),
        (
            {"X_train": np.zeros((4, 2)), "y_train": np.arange(4) % 2, "X_test": np.zeros((2, 2))},
            "X_test and y_test must be given together",
        ),
        (
            {
                "X_train": np.zeros((4, 2)),
                "y_train": np.array(["a", "b"] * 2),
                "X_test": np.zeros((1, 2)),
                "y_test": np.array(["c"]),
            },
            "y_test holds label 'c'",
        ),
    ],
    ids=[
        "no-y",
        "unknown",
        "length",
        "1d",
        "nan",
        "strings",
        "one-class",
        "range",
        "float-y",
        "test-width",
        "test-pair",
        "test-label",
    ],
)
def test_bad_files_fail_by_name(tmp_path, arrays, match):
    path = save(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match):
        load_npz_dataset(path, num_val=1)


def test_pickles_are_refused_and_size_is_bounded(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, X_train=np.zeros((4, 2)), y_train=np.array([0, 1, {"evil": 1}, 1], dtype=object))
    with pytest.raises(DataError, match="holds pickled objects; refused"):
        load_npz_dataset(path, num_val=1)
    ok = save(tmp_path / "ok.npz", X_train=np.zeros((100, 10)), y_train=np.arange(100) % 2)
    with pytest.raises(DataError, match="more than the limit of 1000"):
        load_npz_dataset(ok, num_val=1, max_bytes=1000)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz file"):
        load_npz_dataset(tmp_path / "junk.npz")
    with pytest.raises(ConfigError, match="num_val"):
        load_npz_dataset(ok, num_val=100)


def test_unknown_names_are_refused(tmp_path):
    with pytest.raises(DataError, match="'kmnist' is neither one of cifar10, mnist, fashion-mnist nor an existing"):
        load_dataset("kmnist")
