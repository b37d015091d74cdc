"""``C <- alpha * A @ B + beta * C`` in one call of numpy's own BLAS.

A BLAS ``gemm`` computes ``alpha * A @ B + beta * C`` into ``C`` in a single
pass, but numpy only exposes ``beta = 0`` (``np.matmul(A, B, out=C)``). For
plain SGD that difference is a whole pass over every weight: the reference
step writes ``dW = h^T delta`` and then streams ``W``, ``dW`` and a temporary
once more for ``W -= lr * (dW + reg * W)``; with ``beta`` the same update is
the one product ``W <- -lr * h^T delta + (1 - lr * reg) * W``.

:func:`gemm_update` calls the ``cblas_?gemm`` of the OpenBLAS that numpy was
built with (found through threadpoolctl, loaded with ctypes, checked against
``np.matmul`` on a small case before first use), so it shares numpy's thread
pool and ``threadpool_limits``. Where numpy uses another BLAS, or the
symbol is missing, it falls back to ``np.matmul`` plus an in-place update
(same result up to rounding, one extra pass); :func:`available` says which.
"""

from __future__ import annotations

import ctypes
import itertools
import os
from functools import cache

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_PREFIXES = ("scipy_", "")  # numpy's wheels ship OpenBLAS with scipy_ prefixed, 64_ suffixed symbols
_SUFFIXES = ("64_", "")


def _numpy_openblas() -> str | None:
    """Path of the OpenBLAS library numpy itself loaded, or None (another BLAS, or not found)."""
    from threadpoolctl import threadpool_info

    numpy_dir = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))  # site-packages
    for info in threadpool_info():
        path = info.get("filepath") or ""
        # numpy's wheels keep it in site-packages/numpy.libs (Linux) or numpy/.dylibs (macOS)
        inside_numpy = os.path.abspath(path).startswith(os.path.join(numpy_dir, "numpy"))
        if info.get("user_api") == "blas" and info.get("internal_api") == "openblas" and inside_numpy:
            return path
    return None


@cache
def _gemm_functions() -> dict | None:
    """``{np.float32: sgemm, np.float64: dgemm}`` as ctypes functions, or None where they cannot be had."""
    path = _numpy_openblas()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    for prefix, suffix in itertools.product(_PREFIXES, _SUFFIXES):
        names = [f"{prefix}{name}{suffix}" for name in ("openblas_get_config", "cblas_sgemm", "cblas_dgemm")]
        if not all(hasattr(lib, name) for name in names):
            continue
        config, sgemm, dgemm = (getattr(lib, name) for name in names)
        config.restype = ctypes.c_char_p
        integer = ctypes.c_int64 if b"USE64BITINT" in (config() or b"") else ctypes.c_int32
        for fn, real in ((sgemm, ctypes.c_float), (dgemm, ctypes.c_double)):
            fn.restype = None
            fn.argtypes = [integer] * 6 + [real, ctypes.c_void_p, integer, ctypes.c_void_p, integer]
            fn.argtypes += [real, ctypes.c_void_p, integer]
        return {np.dtype(np.float32): sgemm, np.dtype(np.float64): dgemm}
    return None


def _operand(a: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2-D operand as row-major BLAS sees it, or None."""
    if a.flags.c_contiguous:
        return _NO_TRANS, max(1, a.shape[1])
    if a.flags.f_contiguous:  # a.T is C-contiguous: hand BLAS a.T, marked transposed
        return _TRANS, max(1, a.shape[0])
    return None


def _blas_update(alpha: float, A: np.ndarray, B: np.ndarray, beta: float, C: np.ndarray) -> bool:
    functions = _gemm_functions()
    dtype = C.dtype
    if functions is None or dtype not in functions or A.dtype != dtype or B.dtype != dtype:
        return False
    if not C.flags.c_contiguous or C.ndim != 2 or A.ndim != 2 or B.ndim != 2:
        return False
    a, b = _operand(A), _operand(B)
    if a is None or b is None:
        return False
    (m, k), n = A.shape, B.shape[1]
    functions[dtype](_ROW_MAJOR, a[0], b[0], m, n, k, alpha, A.ctypes.data, a[1], B.ctypes.data, b[1], beta,
                     C.ctypes.data, max(1, n))  # fmt: skip
    return True


def gemm_update(alpha: float, A: np.ndarray, B: np.ndarray, beta: float, C: np.ndarray) -> None:
    """``C <- alpha * (A @ B) + beta * C``, in place.

    Parameters
    ----------
    alpha, beta : scalars
    A : (m, k) array, C- or F-contiguous (a transposed view such as ``h.T`` is fine)
    B : (k, n) array, likewise
    C : (m, n) C-contiguous array of the same float dtype, overwritten
    """
    if A.shape[1] != B.shape[0] or C.shape != (A.shape[0], B.shape[1]):
        raise ValueError(f"gemm_update: shapes {A.shape} @ {B.shape} do not give {C.shape}")
    if available() and _blas_update(alpha, A, B, beta, C):
        return
    product = np.matmul(A, B)
    product *= C.dtype.type(alpha)
    if beta != 1.0:
        C *= C.dtype.type(beta)
    C += product


@cache
def available() -> bool:
    """True when :func:`gemm_update` reaches BLAS directly (checked once on a small case against numpy)."""
    if _gemm_functions() is None:
        return False
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        A = rng.standard_normal((7, 5)).astype(dtype)
        B = rng.standard_normal((3, 7)).astype(dtype).T  # F-contiguous operand
        C = rng.standard_normal((5, 3)).astype(dtype)
        want = -0.5 * (A.T @ B) + 0.25 * C
        if not _blas_update(-0.5, A.T, B, 0.25, C) or not np.allclose(C, want, rtol=1e-4, atol=1e-5):
            return False
    return True


__all__ = ["available", "gemm_update"]
