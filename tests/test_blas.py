"""``autonet.blas.gemm_update``: ``C <- alpha * A @ B + beta * C`` in one BLAS call, or its numpy fallback."""

from __future__ import annotations

import numpy as np
import pytest

from autonet import blas


def _operands(dtype, layout_a, layout_b, m=37, k=23, n=19):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((m, k) if layout_a == "C" else (k, m)).astype(dtype)
    B = rng.standard_normal((k, n) if layout_b == "C" else (n, k)).astype(dtype)
    A = A if layout_a == "C" else A.T  # an F-contiguous operand, as h.T is
    B = B if layout_b == "C" else B.T
    C = rng.standard_normal((m, n)).astype(dtype)
    return A, B, C


@pytest.mark.parametrize("direct", [True, False], ids=["blas", "numpy-fallback"])
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("layout_a", ["C", "F"])
@pytest.mark.parametrize("layout_b", ["C", "F"])
@pytest.mark.parametrize("alpha, beta", [(-0.01, 0.999), (1.0, 1.0), (2.5, 0.0)])
def test_gemm_update_is_alpha_ab_plus_beta_c(monkeypatch, direct, dtype, rtol, layout_a, layout_b, alpha, beta):
    if not direct:
        monkeypatch.setattr(blas, "available", lambda: False)
    A, B, C = _operands(dtype, layout_a, layout_b)
    want = alpha * (A.astype(np.float64) @ B.astype(np.float64)) + beta * C.astype(np.float64)
    out = C  # updated in place
    blas.gemm_update(alpha, A, B, beta, out)
    assert out is C and out.dtype == dtype
    np.testing.assert_allclose(out, want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_numpy_wheels_reach_blas_directly():
    from threadpoolctl import threadpool_info

    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not any(i.get("internal_api") == "openblas" and "numpy" in (i.get("filepath") or "") for i in infos):
        pytest.skip(f"numpy is not linked against its own OpenBLAS here ({infos}): the fallback is used")
    assert blas.available()


def test_non_contiguous_operands_take_the_fallback():
    A, B, C = _operands(np.float64, "C", "C", m=8, k=6, n=5)
    A2 = np.repeat(A, 2, axis=1)[:, ::2]  # a strided view: neither C- nor F-contiguous
    want = -0.5 * (A @ B) + 0.5 * C
    blas.gemm_update(-0.5, A2, B, 0.5, C)
    np.testing.assert_allclose(C, want, rtol=1e-13)


def test_shape_mismatch_is_refused():
    A, B, C = _operands(np.float64, "C", "C")
    with pytest.raises(ValueError, match="do not give"):
        blas.gemm_update(1.0, A, B, 1.0, C[:, :-1])
