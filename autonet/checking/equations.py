"""The two-layer net's equations (1)-(10), numbered as in the exercise's solution write-up.

Network: ``X (N, D) -> (1) affine W1, b1 -> (2) ReLU -> (3) affine W2, b2 ->
(4) softmax``, loss the mean cross-entropy plus ``0.5 * reg * (||W1||^2 + ||W2||^2)``.
Equations (5)-(10) are the backward pass. Two of the write-up's printed equations
are wrong, and the corrected form is what autonet implements; the printed
form is quoted in :data:`SEED_ERRATA` because it is a classic student bug.
:func:`relu_variant_grads` computes the gradients of the classic faults of (8) on purpose, so a diagnosis can
recognise them (below both :mod:`autonet.checking.twolayer` and :mod:`autonet.checking.diagnose`).
"""

from __future__ import annotations

import numpy as np

from autonet.checking.cases import Case

L2_FACTORS = {"half": 1.0, "full": 2.0}  # reg multiplier giving 0.5*reg*||W||^2 / reg*||W||^2 from a backend

EQUATIONS: dict[int, str] = {
    1: "FC1_out = X . W1 + b1",
    2: "H_out = max(0, FC1_out)",
    3: "FC2_out = H_out . W2 + b2",
    4: "final_output = softmax(FC2_out)",
    5: "dL/dFC2_out = (final_output - MaskMat) / N",
    6: "dL/dW2 = H_out^T . dL/dFC2_out  (+ reg * W2)",
    7: "dL/db2 = [1...1]_(1xN) . dL/dFC2_out",
    8: "dL/dH_out = dL/dFC2_out . W2^T;  dL/dFC1_out = dL/dH_out * 1[FC1_out > 0]",
    9: "dL/dW1 = X^T . dL/dFC1_out  (+ reg * W1)",
    10: "dL/db1 = [1...1]_(1xN) . dL/dFC1_out",
}

SEED_ERRATA: dict[int, str] = {
    5: "printed as final_output - MaskMat, without the 1/N that the mean loss puts there",
    7: "printed with a ones-vector of 1xH; it sums over the N rows, 1xN",
    8: "printed as dL/dH_out = max(dL/dH_out, 0), which clips the gradient by its own sign "
    "instead of masking it by the forward input FC1_out",
}

# the equations that produce each gradient from dL/dFC2_out, in backward order
PRODUCED_BY: dict[str, int] = {"W2": 6, "b2": 7, "W1": 9, "b1": 10}


def equation(n: int) -> str:
    """``"(n) <equation>"``, the form every diagnosis quotes."""
    return f"({n}) {EQUATIONS[n]}"


def relu_variant_grads(case: Case, ref: object, variant: str, l2: str = "half") -> dict:
    """``W1``/``b1`` gradients with (8) replaced: ``"clip"`` max(dH, 0) (as the solution write-up prints it),
    ``"none"`` no mask, ``"ge"`` mask 1[FC1_out >= 0] (the other subgradient at 0)."""
    from autonet.manual.two_layer import forward, mask_mat

    N = case.X.shape[0]
    f = forward(case.params, case.X)
    dFC2 = (f["final_output"] - mask_mat(case.y, f["final_output"].shape[1])) / N
    dH = dFC2 @ case.params["W2"].T
    dFC1 = {"clip": np.maximum(dH, 0), "none": dH, "ge": dH * (f["FC1_out"] >= 0), "mask": dH * (f["FC1_out"] > 0)}[
        variant
    ]
    W1 = case.params["W1"]
    return {"W1": case.X.T @ dFC1 + case.reg * L2_FACTORS[l2] * W1, "b1": dFC1.sum(axis=0)}
