"""A correct backend function: loss_and_grads(params, X, y, reg) -> (loss, grads), no class."""

import numpy as np


def loss_and_grads(params, X, y, reg=0.0):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    fc1 = X @ W1 + b1
    hidden = np.maximum(0, fc1)
    scores = hidden @ W2 + b2
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).mean() + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dscores = probs.copy()
    dscores[np.arange(N), y] -= 1
    dscores /= N
    dhidden = dscores @ W2.T
    dhidden[fc1 <= 0] = 0
    grads = {"W1": X.T @ dhidden + reg * W1, "b1": dhidden.sum(axis=0)}
    grads.update({"W2": hidden.T @ dscores + reg * W2, "b2": dscores.sum(axis=0)})
    return loss, grads
