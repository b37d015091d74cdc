"""The exercise's toy-model cells, run as written against ``autonet.TwoLayerNet``.

The exercise seeds NumPy's *global* random state (``np.random.seed``) and
expects the net to draw its weights and minibatches from it. The expected
numbers (``CORRECT_SCORES``, ``CORRECT_LOSS``) are the exercise's; both
editions print the same ``correct_loss``: the first edition computes it with
``reg=0.1`` and ``0.5 * reg * sum W^2``, the later ones with ``reg=0.05`` and
``reg * sum W^2`` (``reg_convention="full"``).
"""

from __future__ import annotations

import numpy as np
import pytest

from autonet import TwoLayerNet
from autonet.errors import ConfigError
from autonet.gradcheck import numerical_gradient, rel_error

CORRECT_SCORES = np.asarray(
    [
        [-0.81233741, -1.27654624, -0.70335995],
        [-0.17129677, -1.18803311, -0.47310444],
        [-0.51590475, -1.01354314, -0.8504215],
        [-0.15419291, -0.48629638, -0.52901952],
        [-0.00618733, -0.12435261, -0.15226949],
    ]
)
CORRECT_LOSS = 1.30378789133

# (reg_convention, reg of the loss cells, reg of the toy training cell) per edition
EDITIONS = {"first": ("half", 0.1, 1e-5), "later": ("full", 0.05, 5e-6)}
BACKENDS = ("manual", "autograd")


def init_toy_model(**kwargs) -> TwoLayerNet:
    np.random.seed(0)
    return TwoLayerNet(4, 10, 3, std=1e-1, **kwargs)


def init_toy_data() -> tuple[np.ndarray, np.ndarray]:
    np.random.seed(1)
    X = 10 * np.random.randn(5, 4)
    y = np.array([0, 1, 2, 2, 1])
    return X, y


@pytest.mark.parametrize("backend", BACKENDS)
def test_toy_scores(backend):
    net = init_toy_model(backend=backend)
    X, _ = init_toy_data()
    assert np.sum(np.abs(net.loss(X) - CORRECT_SCORES)) < 1e-7


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_toy_loss_both_editions(backend, edition):
    convention, reg, _ = EDITIONS[edition]
    net = init_toy_model(backend=backend, reg_convention=convention)
    X, y = init_toy_data()
    loss, _ = net.loss(X, y, reg=reg)
    assert np.sum(np.abs(loss - CORRECT_LOSS)) < 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_editions_differ_by_the_half(backend):
    """A control: the keyword changes the L2 term, so a wrong edition does not match."""
    X, y = init_toy_data()
    half, _ = init_toy_model(backend=backend).loss(X, y, reg=0.05)
    full, _ = init_toy_model(backend=backend, reg_convention="full").loss(X, y, reg=0.05)
    data, _ = init_toy_model(backend=backend).loss(X, y, reg=0.0)
    assert abs(full - CORRECT_LOSS) < 1e-12 and abs(half - CORRECT_LOSS) > 1e-3
    assert full - data == pytest.approx(2 * (half - data), rel=1e-12)


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_toy_numerical_gradients(backend, edition):
    convention, reg, _ = EDITIONS[edition]
    net = init_toy_model(backend=backend, reg_convention=convention)
    X, y = init_toy_data()
    _, grads = net.loss(X, y, reg=reg)
    for name in grads:
        numeric = numerical_gradient(lambda: net.loss(X, y, reg=reg)[0], net.params[name], h=1e-5)
        assert rel_error(numeric, grads[name]) < 1e-8, name


def _toy_training(backend: str, edition: str, prior_seed: int | None = None) -> list[float]:
    convention, _, reg = EDITIONS[edition]
    net = init_toy_model(backend=backend, reg_convention=convention)
    X, y = init_toy_data()
    if prior_seed is not None:
        np.random.seed(prior_seed)  # whatever the global state holds before the training cell
    stats = net.train(X, y, X, y, learning_rate=1e-1, reg=reg, num_iters=100, verbose=False)
    return stats["loss_history"]


@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_toy_training_verbatim_is_reproducible(backend, edition):
    first = _toy_training(backend, edition)
    np.random.rand(17)  # other cells between two runs of the notebook
    assert _toy_training(backend, edition) == first
    assert first[-1] < 0.02


@pytest.mark.parametrize("backend", BACKENDS)
def test_toy_training_every_run(backend):
    """Final loss < 0.02 for 50 different global states before the training cell."""
    finals = [_toy_training(backend, "later", prior_seed=s)[-1] for s in range(50)]
    assert max(finals) < 0.02
    assert len(set(finals)) > 1  # the minibatches did come from the global state


def test_weights_are_the_exercise_draws():
    np.random.seed(3)
    net = TwoLayerNet(6, 5, 4, std=0.01)
    np.random.seed(3)
    W1 = 0.01 * np.random.randn(6, 5)
    W2 = 0.01 * np.random.randn(5, 4)
    np.testing.assert_array_equal(net.params["W1"], W1)
    np.testing.assert_array_equal(net.params["W2"], W2)
    assert not net.params["b1"].any() and not net.params["b2"].any()
    assert net.params["b1"].shape == (5,) and net.params["b2"].shape == (4,)


def test_minibatches_are_the_exercise_draws():
    """With seed=None the indices are ``np.random.choice(num_train, batch_size)`` from the global state."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 6)), rng.integers(0, 3, 50)
    seen = []

    class Recording(TwoLayerNet):
        def loss(self, X_batch, y_batch=None, reg=0.0):
            if y_batch is not None:
                seen.append(X_batch.copy())
            return super().loss(X_batch, y_batch, reg=reg)

    np.random.seed(4)
    net = Recording(6, 5, 3, std=0.01)
    net.train(X, y, X, y, num_iters=3, batch_size=7)
    np.random.seed(4)
    np.random.randn(6, 5), np.random.randn(5, 3)
    expected = [X[np.random.choice(50, 7)] for _ in range(3)]
    assert len(seen) == 3
    for got, want in zip(seen, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_private_seed_ignores_and_keeps_the_global_state():
    X, y = init_toy_data()
    runs = []
    for global_seed in (0, 1):
        np.random.seed(global_seed)
        before = np.random.get_state()[1].copy()
        net = TwoLayerNet(4, 10, 3, std=1e-1, seed=7)
        stats = net.train(X, y, X, y, learning_rate=1e-1, num_iters=20)
        np.testing.assert_array_equal(np.random.get_state()[1], before)
        runs.append((net.params["W1"].copy(), stats["loss_history"]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_train_calls_an_overridden_loss():
    """A subclass's loss is what trains: here it freezes W1 by zeroing its gradient."""
    X, y = init_toy_data()
    calls = []

    class FrozenFirstLayer(TwoLayerNet):
        def loss(self, X, y=None, reg=0.0):
            if y is None:
                return super().loss(X)
            calls.append(reg)
            loss, grads = super().loss(X, y, reg=reg)
            grads["W1"] = np.zeros_like(grads["W1"])
            return loss, grads

    np.random.seed(0)
    net = FrozenFirstLayer(4, 10, 3, std=1e-1)
    W1, W2 = net.params["W1"].copy(), net.params["W2"].copy()
    net.train(X, y, X, y, learning_rate=1e-1, reg=1e-5, num_iters=10)
    assert calls == [1e-5] * 10
    np.testing.assert_array_equal(net.params["W1"], W1)
    assert not np.array_equal(net.params["W2"], W2)


def test_overridden_loss_sees_the_current_params():
    """The parameters a subclass's loss reads are the ones being trained, step after step."""
    X, y = init_toy_data()
    seen = []

    class Watching(TwoLayerNet):
        def loss(self, X, y=None, reg=0.0):
            seen.append(self.params["W2"].copy())
            return super().loss(X, y, reg=reg)

    np.random.seed(0)
    net = Watching(4, 10, 3, std=1e-1)
    net.train(X, y, X, y, learning_rate=1e-1, num_iters=3)
    assert len(seen) == 3
    assert not np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[1], seen[2])


@pytest.mark.parametrize("bad", ["halfish", None, 0.5])
def test_reg_convention_refuses_unknown_values(bad):
    with pytest.raises(ConfigError, match="reg_convention"):
        TwoLayerNet(4, 3, 2, reg_convention=bad)


def test_epoch_sampling_from_the_global_state_covers_every_row_once_per_epoch():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 6)), rng.integers(0, 3, 12)
    seen = []

    class Recording(TwoLayerNet):
        def loss(self, X_batch, y_batch=None, reg=0.0):
            if y_batch is not None:
                seen.append(X_batch.copy())
            return super().loss(X_batch, y_batch, reg=reg)

    runs = []
    for _ in range(2):
        seen.clear()
        np.random.seed(5)
        Recording(6, 5, 3, std=0.01).train(X, y, X, y, num_iters=6, batch_size=4, sampling="epoch")
        runs.append(np.concatenate(seen))
    rows = [tuple(r) for r in runs[0]]
    for epoch in (rows[:12], rows[12:]):  # 3 batches of 4 per epoch
        assert sorted(epoch) == sorted(tuple(r) for r in X)
    np.testing.assert_array_equal(runs[0], runs[1])  # np.random.seed reproduces it
