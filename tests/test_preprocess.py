"""Input pipeline: standardisation, PCA/ZCA whitening (fit on train only), augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from autonet.augment import augment_batch
from autonet.config import parse_value
from autonet.errors import ConfigError
from autonet.net import init_params, scores
from autonet.preprocess import PREPROCESS, fit_preprocess, mirror_permutation

SMALL = (4, 4, 3)  # tiny images: 48 features


def correlated(rng, n, d, shift=0.0):
    """Rows with a random full covariance (and mean ``shift``)."""
    A = rng.standard_normal((d, d)) / np.sqrt(d)
    return rng.standard_normal((n, d)) @ A + shift


def test_standardize_per_channel_uses_train_statistics(rng):
    X = rng.standard_normal((500, 48)) * np.tile([1.0, 5.0, 20.0], 16) + np.tile([0.0, 3.0, -7.0], 16)
    pre = fit_preprocess(X, "standardize", image_shape=SMALL)
    Z = pre.transform(X).reshape(-1, 3)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-12)
    # another split is mapped with the *training* statistics, not its own
    Zv = pre.transform(X[:50] + 100.0).reshape(-1, 3)
    assert (Zv.mean(axis=0) > 4).all()


def test_zca_whitens_and_stays_in_pixel_space(rng):
    X = correlated(rng, 2000, 48)
    X = np.concatenate([X, X[:, mirror_permutation(SMALL)]])  # mirror-symmetric, like natural images
    pre = fit_preprocess(X, "zca", whiten_eps=1e-8, image_shape=SMALL)
    Z = pre.transform(X)
    assert Z.shape == X.shape
    np.testing.assert_allclose(np.cov(Z, rowvar=False, bias=True), np.eye(48), atol=1e-5)
    assert pre.matrix == pytest.approx(pre.matrix.T)  # ZCA's matrix is symmetric
    # ZCA is the whitening closest to the identity: rows stay correlated with their originals
    assert np.mean(np.sum(Z * (X - X.mean(0)), axis=1)) > 0


def test_zca_without_mirror_symmetry_whitens_exactly(rng):
    X = correlated(rng, 3000, 10)  # 10 features: not an image, so no symmetrisation
    Z = fit_preprocess(X, "zca", whiten_eps=1e-8).transform(X)
    np.testing.assert_allclose(np.cov(Z, rowvar=False, bias=True), np.eye(10), atol=1e-5)


def test_zca_commutes_with_horizontal_flips(rng):
    X = correlated(rng, 2000, 48)
    pre = fit_preprocess(X, "zca", whiten_eps=0.01, image_shape=SMALL)
    mirror = mirror_permutation(SMALL)
    np.testing.assert_allclose(pre.transform(X[:5, mirror]), pre.transform(X[:5])[:, mirror], atol=1e-10)


def test_pca_keeps_top_components_whitened(rng):
    X = correlated(rng, 3000, 10)
    pre = fit_preprocess(X, "pca", whiten_eps=1e-8, pca_components=4)
    Z = pre.transform(X)
    assert Z.shape == (3000, 4)
    np.testing.assert_allclose(np.cov(Z, rowvar=False, bias=True), np.eye(4), atol=1e-5)
    # the kept directions are the ones of largest variance
    var_kept = np.var(X @ (pre.matrix / np.linalg.norm(pre.matrix, axis=0)), axis=0)
    assert var_kept.min() >= np.sort(np.linalg.eigvalsh(np.cov(X, rowvar=False)))[-4] * 0.99


@pytest.mark.parametrize("method", PREPROCESS)
def test_fold_gives_the_same_scores_on_raw_rows(method, rng):
    X = correlated(rng, 300, 48) + 2.0
    pre = fit_preprocess(X, method, image_shape=SMALL, pca_components=20)
    D = pre.output_dim or 48
    params = init_params([D, 7, 3], std=0.3, rng=rng)
    params["b1"] = rng.standard_normal(7)
    folded = pre.fold(params)
    assert folded["W1"].shape == (48, 7)
    np.testing.assert_allclose(scores(folded, X[:20]), scores(params, pre.transform(X[:20])), rtol=1e-9, atol=1e-9)


def test_float32_in_float32_out(rng):
    X = correlated(rng, 200, 48).astype(np.float32)
    for method in ("standardize", "zca", "pca"):
        assert fit_preprocess(X, method, image_shape=SMALL, pca_components=8).transform(X).dtype == np.float32


def test_bad_preprocess_arguments():
    X = np.zeros((10, 48))
    with pytest.raises(ConfigError, match="preprocess"):
        fit_preprocess(X, "whiten")
    with pytest.raises(ConfigError, match="pca_components"):
        fit_preprocess(X, "pca", pca_components=100, image_shape=SMALL)
    with pytest.raises(ConfigError, match="standardize"):
        fit_preprocess(np.zeros((10, 7)), "standardize")


# ----- augmentation -----


def images(rng, n):
    return rng.standard_normal((n, 4 * 4 * 3))


def test_flip_mirrors_about_half_the_images(rng):
    X = images(rng, 400)
    out = augment_batch(X, np.random.default_rng(0), flip=True, image_shape=SMALL)
    mirrored = X[:, mirror_permutation(SMALL)]
    same = np.all(out == X, axis=1)
    flipped = np.all(out == mirrored, axis=1)
    assert np.all(same | flipped)
    assert 150 < flipped.sum() < 250
    np.testing.assert_array_equal(X, images(np.random.default_rng(1234), 400))  # input untouched


def crop_by_loop(X, rng, pad, shape, flip):
    """Reference: the same draws, one image at a time with np.pad and slicing."""
    H, W, C = shape
    n = X.shape[0]
    f = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)
    out = []
    for k in range(n):
        padded = np.pad(X[k].reshape(H, W, C), ((pad, pad), (pad, pad), (0, 0)))
        window = padded[dy[k] : dy[k] + H, dx[k] : dx[k] + W]
        out.append((window[:, ::-1] if f[k] else window).ravel())
    return np.array(out)


@pytest.mark.parametrize("flip", [False, True])
def test_crop_matches_a_per_image_loop(flip, rng):
    X = images(rng, 30)
    out = augment_batch(X, np.random.default_rng(5), flip=flip, crop_padding=2, image_shape=SMALL)
    np.testing.assert_array_equal(out, crop_by_loop(X, np.random.default_rng(5), 2, SMALL, flip))
    assert not np.array_equal(out, X)


def test_augmentation_is_seeded_and_keeps_dtype(rng):
    X = images(rng, 20).astype(np.float32)
    a = augment_batch(X, np.random.default_rng(3), flip=True, crop_padding=1, image_shape=SMALL)
    b = augment_batch(X, np.random.default_rng(3), flip=True, crop_padding=1, image_shape=SMALL)
    c = augment_batch(X, np.random.default_rng(4), flip=True, crop_padding=1, image_shape=SMALL)
    assert a.dtype == np.float32 and np.array_equal(a, b) and not np.array_equal(a, c)


def test_augment_arguments():
    assert parse_value("augment", "flip,crop") == ("flip", "crop")
    assert parse_value("augment", "none") == () == parse_value("augment", "")
    with pytest.raises(ConfigError, match="rotate"):
        parse_value("augment", "flip,rotate")
    with pytest.raises(ConfigError, match="images"):
        augment_batch(np.zeros((2, 10)), np.random.default_rng(0), flip=True)
