"""The gradients of the classic faults, computed on purpose, so a diagnosis can recognise them.

Below both :mod:`autonet.checking.twolayer` (which runs the battery) and
:mod:`autonet.checking.diagnose` (which names what went wrong), so neither
imports the other for them.
"""

from __future__ import annotations

import numpy as np

from autonet.checking.cases import Case

L2_FACTORS = {"half": 1.0, "full": 2.0}  # reg multiplier giving 0.5*reg*||W||^2 / reg*||W||^2 from a backend


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
