"""The one finite-difference helper the layer tests share (differences from autonet.gradcheck)."""

from __future__ import annotations

import numpy as np

from autonet.gradcheck import numerical_gradient, rel_error


def upstream_check(forward, inputs, dout, grads, *, rtol: float = 1e-7, atol: float | None = None) -> None:
    """Analytic input gradients vs numerical gradients of ``sum(forward(*inputs)[0] * dout)``.

    With ``atol=None`` every input is held to the exercise's relative error
    ``max |a - n| / max(1e-8, |a| + |n|) < rtol``; with ``atol`` to
    ``|a - n| <= atol + rtol * |n|`` entrywise (``np.testing.assert_allclose``),
    for entries so small that the difference's rounding noise (~1e-11) dominates.
    """
    for x, g in zip(inputs, grads, strict=True):
        num = numerical_gradient(lambda: float(np.sum(forward(*inputs)[0] * dout)), x)
        if atol is None:
            assert rel_error(g, num) < rtol
        else:
            np.testing.assert_allclose(g, num, rtol=rtol, atol=atol)
