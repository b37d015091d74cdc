"""Input preprocessing fitted on the training split: standardisation, PCA and ZCA whitening.

Each method is an affine map ``x' = (x - center) @ M`` of a flat input row
(``M`` diagonal for standardisation), fitted on the training rows only and
then applied to every split. Because it is affine it also folds into the
first layer of a trained net (:meth:`Preprocessor.fold`), so a saved model
takes the loader's plain (mean-subtracted) rows and needs no extra step.

Methods (``C`` the covariance of the training rows, ``C = U diag(lam) U^T``):

- ``"mean"``: the identity (the loader already subtracted the mean image);
- ``"standardize"``: per colour channel, ``(x - mean_c) / std_c`` over all
  pixels of the training images;
- ``"pca"``: ``(x - mu) U_k diag(1/sqrt(lam_k + eps))``, the top ``k``
  principal components, whitened (``k`` columns, no longer an image);
- ``"zca"``: ``(x - mu) U diag(1/sqrt(lam + eps)) U^T``, whitened and rotated
  back to pixel space (Bell & Sejnowski 1997), so rows stay images.

``eps = whiten_eps * mean(lam)`` (relative to the average pixel variance)
keeps the low-variance directions (mostly pixel noise) from being blown up.
On CIFAR-10 a small eps lets an MLP memorise that noise: a 3072-1000-10 net
after 4 epochs reached 47% validation accuracy with ``whiten_eps=0.1``, 54%
with 1 and 56% with 5 or 15 (docs/deep.md), hence the default of 10, which
still flattens the dominant low-frequency part of the spectrum.
For images, the covariance is symmetrised under left-right mirroring before
the eigendecomposition, so that ZCA commutes exactly with horizontal flips
and flip augmentation can act on whitened rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autonet.errors import ConfigError
from autonet.images import IMAGE_SHAPE

PREPROCESS = ("mean", "standardize", "pca", "zca")


@dataclass
class Preprocessor:
    """A fitted affine input map ``x' = (x - center) @ M``.

    Attributes
    ----------
    method : one of :data:`PREPROCESS`
    center : (D,) array subtracted first
    scale : (D,) array, M = diag(scale) (``"standardize"``), else None
    matrix : (D, K) array M (``"pca"``, ``"zca"``), else None
    """

    method: str
    center: np.ndarray
    scale: np.ndarray | None = None
    matrix: np.ndarray | None = None

    @property
    def output_dim(self) -> int | None:
        """K, the width of transformed rows (None: unchanged)."""
        return None if self.matrix is None else self.matrix.shape[1]

    def transform(self, X: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """``(X - center) @ M`` for (N, D) rows, a new array of X's dtype, computed in row chunks."""
        if self.method == "mean":
            return X
        out = np.empty((X.shape[0], self.output_dim or X.shape[1]), dtype=X.dtype)
        M = self.matrix if self.matrix is not None else self.scale
        assert M is not None  # every method but "mean" has a scale or a matrix
        center, M = self.center.astype(X.dtype), M.astype(X.dtype)
        for i in range(0, X.shape[0], chunk):
            block = X[i : i + chunk] - center
            out[i : i + chunk] = block * M if self.matrix is None else block @ M
        return out

    def fold(self, params: dict) -> dict:
        """First-layer weights that act on untransformed rows: same scores for ``x`` as ``params`` for ``x'``.

        ``x' W1 + b1 = (x - center) M W1 + b1``, so ``W1 <- M W1`` and
        ``b1 <- b1 - center M W1``. ``params`` must hold ``b1`` (fold batch norm first).
        """
        if self.method == "mean":
            return params
        W1 = params["W1"].astype(np.float64)
        if self.matrix is not None:
            W = self.matrix @ W1
        else:
            assert self.scale is not None  # every method but "mean" has a scale or a matrix
            W = self.scale[:, None] * W1
        out = dict(params)
        out["W1"] = W.astype(params["W1"].dtype)
        out["b1"] = (params["b1"] - self.center @ W).astype(params["b1"].dtype)
        return out


def fit_preprocess(
    X: np.ndarray,
    method: str = "mean",
    whiten_eps: float = 10.0,
    pca_components: int = 256,
    image_shape=IMAGE_SHAPE,
    chunk: int = 4096,
) -> Preprocessor:
    """Fit ``method`` (see the module docstring) on training rows ``X`` (N, D).

    Parameters
    ----------
    X : (N, D) training rows (float32 or float64; statistics accumulate in float64)
    method : one of :data:`PREPROCESS`
    whiten_eps : eps of PCA/ZCA, relative to the mean eigenvalue
    pca_components : k for ``"pca"``
    image_shape : (H, W, C) of the rows; used for per-channel statistics
        and the mirror symmetrisation (skipped when D != H*W*C, except that
        ``"standardize"`` then needs it)
    chunk : rows per product of the covariance (PCA/ZCA)

    PCA and ZCA build the D x D covariance from chunk products accumulated in
    float64 (``mu`` the mean row), average it (and ``mu``) with its left-right
    mirror image when the rows are images, and take its eigendecomposition
    (``eigh``; eigenvalues clipped at 0, in descending order).
    """
    if method not in PREPROCESS:
        raise ConfigError(f"preprocess must be one of {', '.join(PREPROCESS)}, got {method!r}")
    n, D = X.shape
    if method == "mean":
        return Preprocessor("mean", np.zeros(D))
    H, W, C = image_shape
    is_image = D == H * W * C
    if method == "standardize":
        if not is_image:
            raise ConfigError(f"standardize needs rows of {H}x{W}x{C} images, got {D} features")
        pix = X.reshape(n * H * W, C)
        mean_c = pix.mean(axis=0, dtype=np.float64)
        std_c = np.sqrt(np.mean(np.square(pix - mean_c.astype(X.dtype)), axis=0, dtype=np.float64))
        std_c[std_c == 0] = 1.0  # a constant channel is only centred (as sklearn's StandardScaler does)
        return Preprocessor("standardize", np.tile(mean_c, H * W), scale=np.tile(1.0 / std_c, H * W))
    if not (whiten_eps > 0):  # both checked before the expensive part
        raise ConfigError(f"whiten_eps must be > 0, got {whiten_eps!r}")
    if method == "pca" and not 1 <= pca_components <= D:
        raise ConfigError(f"pca_components must be in [1, {D}], got {pca_components}")
    mu = X.mean(axis=0, dtype=np.float64)
    cov = np.zeros((D, D))
    for i in range(0, n, chunk):
        block = X[i : i + chunk] - mu.astype(X.dtype)
        cov += block.T @ block
    cov /= n
    if is_image:
        mirror = mirror_permutation(image_shape)
        mu = 0.5 * (mu + mu[mirror])
        cov = 0.5 * (cov + cov[np.ix_(mirror, mirror)])
    lam, U = np.linalg.eigh(cov)  # ascending
    lam, U = np.maximum(lam[::-1], 0.0), U[:, ::-1]
    eps = whiten_eps * lam.mean()
    if method == "pca":
        k = int(pca_components)
        return Preprocessor("pca", mu, matrix=U[:, :k] / np.sqrt(lam[:k] + eps))
    return Preprocessor("zca", mu, matrix=(U / np.sqrt(lam + eps)) @ U.T)


def mirror_permutation(image_shape=IMAGE_SHAPE) -> np.ndarray:
    """Index array ``p`` with ``x[p]`` = the left-right mirror of the flat HWC image ``x``."""
    H, W, C = image_shape
    return np.arange(H * W * C).reshape(H, W, C)[:, ::-1, :].ravel()
