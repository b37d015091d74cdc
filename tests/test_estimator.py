"""``autonet.MLPClassifier``: the sklearn estimator API over the one trainer.

scikit-learn is a test extra: the tests that need it skip with a reason
without it; one test proves fit/predict work with sklearn unimportable.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
import warnings
from dataclasses import fields

import numpy as np
import pytest

from autonet import MLPClassifier
from autonet.config import GENERAL_RECIPE, MAX_BATCH, Config
from autonet.errors import ConfigError, DataError
from autonet.estimator import NotFittedError

# short fits of the default recipe at a higher rate; no convergence stop, so every fit runs max_iter epochs
FAST = dict(learning_rate=1e-2, max_iter=30, batch_size=32, n_iter_no_change=10**6)


def blobs(rng, n=240, d=6, c=3, spread=3.0):
    centers = rng.standard_normal((c, d)) * spread
    y = rng.integers(0, c, n)
    return centers[y] + rng.standard_normal((n, d)), y


def sklearn_or_skip():
    return pytest.importorskip("sklearn", reason="scikit-learn is a test extra (pip install -e '.[test]')")


# ----- the parameters are the schema's -----

# schema fields that are not estimator parameters: the data options (fit takes X, y), the length in
# steps and the reporting, replaced by scikit-learn's max_iter (epochs), verbose and its stopping rule, and
# autonet train's early_stopping (a patience), which scikit-learn's early_stopping (a bool) replaces
DATA_FIELDS = {"dataset", "num_val", "num_train", "data_dir", "num_iters", "print_every", "progress", "early_stopping"}
RENAMED = {"hidden": "hidden_layer_sizes", "seed": "random_state"}
ESTIMATOR_ONLY = {"max_iter", "verbose", "early_stopping", "validation_fraction", "n_iter_no_change", "tol"}


def schema_defaults() -> dict:
    """The schema's defaults with the general recipe (scikit-learn's MLPClassifier defaults) laid over them."""
    out = {}
    for f in fields(Config):
        if f.name not in DATA_FIELDS:
            out[RENAMED.get(f.name, f.name)] = {**GENERAL_RECIPE, "batch_size": MAX_BATCH}.get(f.name, f.default)
    return out


def test_parameters_are_the_schema_options_with_the_same_defaults():
    signature = inspect.signature(MLPClassifier.__init__).parameters
    params = {name: p.default for name, p in signature.items() if name != "self"}
    expected = schema_defaults()
    assert set(params) - ESTIMATOR_ONLY == set(expected)
    for name, default in expected.items():
        assert params[name] == default and type(params[name]) is type(default), name


def test_bad_parameters_fail_at_fit_naming_the_value(rng):
    X, y = blobs(rng)
    est = MLPClassifier(learning_rate=-1.0)  # construction never validates (sklearn convention)
    with pytest.raises(ConfigError, match="learning_rate must be > 0, got -1.0"):
        est.fit(X, y)
    for bad, match in [
        ({"backend": "torchy"}, "backend must be one of .*, got 'torchy'"),
        ({"dtype": "float16"}, "dtype must be one of"),
        ({"validation_fraction": 1.5, "early_stopping": True}, "validation_fraction must be in"),
        ({"random_state": -3}, "random_state must be"),
    ]:
        with pytest.raises(ConfigError, match=match):
            MLPClassifier(**{**FAST, **bad}).fit(X, y)


# ----- fit / predict -----


def test_string_labels_round_trip_through_classes(rng):
    X, y = blobs(rng)
    names = np.array(["cat", "dog", "emu"])[y]
    est = MLPClassifier((16,), **FAST).fit(X, names)
    assert list(est.classes_) == ["cat", "dog", "emu"]
    assert est.n_features_in_ == 6
    pred = est.predict(X)
    assert pred.dtype == names.dtype and set(pred) <= set(names)
    proba = est.predict_proba(X)
    assert proba.shape == (240, 3) and np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(est.classes_[proba.argmax(axis=1)], pred)
    assert est.score(X, names) > 0.95
    assert len(est.history_["loss"]) == 30 * (240 // 32) and est.n_iter_ == 30
    assert len(est.history_["train_acc"]) == len(est.loss_curve_) == 30


def test_one_class_and_bad_inputs_are_refused_by_name(rng):
    X, y = blobs(rng)
    with pytest.raises(DataError, match="only one class"):
        MLPClassifier(**FAST).fit(X, np.zeros(len(X)))
    with pytest.raises(DataError, match="Unknown label type: continuous"):
        MLPClassifier(**FAST).fit(X, rng.standard_normal(len(X)))
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        MLPClassifier(**FAST).fit(bad, y)
    est = MLPClassifier((8,), **FAST).fit(X, y)
    with pytest.raises(DataError, match="X has 5 features, but MLPClassifier is expecting 6"):
        est.predict(X[:, :5])
    with pytest.raises(NotFittedError, match="not fitted"):
        MLPClassifier().predict(X)


def test_same_random_state_same_model_and_none_draws_fresh(rng):
    X, y = blobs(rng)
    a = MLPClassifier((16,), random_state=3, **FAST).fit(X, y).predict_proba(X)
    b = MLPClassifier((16,), random_state=3, **FAST).fit(X, y).predict_proba(X)
    c = MLPClassifier((16,), random_state=None, **FAST).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "deep",
    [
        {},
        {
            "batchnorm": True,
            "dropout": 0.2,
            "label_smoothing": 0.1,
            "hidden_layer_sizes": (24, 12),
            "preprocess": "standardize",
        },
    ],
    ids=["plain", "deep"],
)
def test_backends_agree_in_float64(rng, deep):
    X, y = blobs(rng)
    opts = {**FAST, "hidden_layer_sizes": (16,), "dtype": "float64", "random_state": 5, **deep}
    manual = MLPClassifier(backend="manual", **opts).fit(X, y)
    autograd = MLPClassifier(backend="autograd", **opts).fit(X, y)
    np.testing.assert_allclose(manual.history_["loss"], autograd.history_["loss"], rtol=1e-10)
    np.testing.assert_allclose(manual.predict_proba(X), autograd.predict_proba(X), rtol=0, atol=1e-10)
    assert np.array_equal(manual.predict(X), autograd.predict(X))


def test_early_stopping_stops_and_keeps_the_best_epoch(rng):
    X, y = blobs(rng, n=400)
    est = MLPClassifier(
        (16,), **{**FAST, "max_iter": 500, "n_iter_no_change": 3}, early_stopping=True, validation_fraction=0.2
    ).fit(X, y)
    h = est.history_
    assert est.n_iter_ < 500  # stopped early
    assert len(h["val_acc"]) == len(h["train_acc"]) == est.n_iter_ >= 4
    assert est.best_validation_score_ == max(h["val_acc"]) and est.validation_scores_ == h["val_acc"]
    assert h["val_acc"][-4] == est.best_validation_score_  # then 3 epochs without improvement


def test_partial_fit_streams_one_pass_per_call(rng):
    X, y = blobs(rng, n=600)
    est = MLPClassifier((16,), **FAST)
    with pytest.raises(DataError, match="classes must be given"):
        est.partial_fit(X[:100], y[:100])
    for i in range(0, 600, 100):
        est.partial_fit(X[i : i + 100], y[i : i + 100], classes=[0, 1, 2])
    assert est.n_iter_ == 6 and len(est.history_["loss"]) == 6 * (100 // 32)
    assert len(est.history_["train_acc"]) == 6
    assert est.score(X, y) > 0.9
    with pytest.raises(DataError, match="not in classes"):
        est.partial_fit(X[:10], np.full(10, 7))
    with pytest.raises(DataError, match="X has 5 features"):
        est.partial_fit(X[:10, :5], y[:10])


def test_partial_fit_continues_exactly_like_one_trainer(rng):
    """Two partial_fit calls on the same chunk = steps 1..2E of one run (same rng, optimizer, schedule)."""
    X, y = blobs(rng, n=64)
    opts = {
        **FAST,
        "hidden_layer_sizes": (8,),
        "dtype": "float64",
        "max_iter": 2,
        "learning_rate_decay": 0.5,
        "update": "adam",
        "schedule": "decay",
    }
    streamed = MLPClassifier(**opts)
    streamed.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    whole = MLPClassifier(**opts).partial_fit(X, y, classes=[0, 1, 2])
    # the same as fit() with max_iter = 2 epochs, since partial_fit fits the preprocessing on the first chunk
    fitted = MLPClassifier(**opts).fit(X, y)
    np.testing.assert_allclose(streamed.history_["loss"], fitted.history_["loss"], rtol=1e-12)
    assert streamed.history_["loss"][:2] == whole.history_["loss"]


class FakeFrame:
    """The part of the DataFrame interface the estimator reads: ``columns`` and ``__array__``."""

    def __init__(self, X, columns):
        self._X, self.columns = np.asarray(X), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self._X if dtype is None else self._X.astype(dtype)


def test_feature_names_are_recorded_and_checked(rng):
    X, y = blobs(rng)
    cols = [f"f{i}" for i in range(6)]
    est = MLPClassifier((8,), **FAST).fit(FakeFrame(X, cols), y)
    assert est.feature_names_in_.dtype == object and list(est.feature_names_in_) == cols
    est.predict(FakeFrame(X, cols))
    with pytest.raises(DataError, match="Feature names must be in the same order"):
        est.predict(FakeFrame(X[:, ::-1], cols[::-1]))
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        est.predict(X)
    assert not hasattr(MLPClassifier((8,), **FAST).fit(X, y), "feature_names_in_")


def test_fit_and_predict_work_without_sklearn():
    code = textwrap.dedent("""
        import sys
        sys.modules["sklearn"] = None  # any import of sklearn now raises ImportError
        import numpy as np
        from autonet import MLPClassifier
        from autonet.estimator import NotFittedError
        rng = np.random.default_rng(0)
        X = rng.standard_normal((90, 4)); y = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
        try:
            MLPClassifier().predict(X)
        except NotFittedError:
            pass
        est = MLPClassifier((8,), learning_rate=1e-2, max_iter=50)
        print(est.fit(X, y).score(X, y) > 0.5, est.get_params()["hidden_layer_sizes"], est)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["True", "(8,)"]


# ----- scikit-learn integration -----


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_check_estimator(dtype):
    sklearn_or_skip()
    from sklearn.utils.estimator_checks import check_estimator

    est = MLPClassifier((16,), dtype=dtype, **FAST)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = check_estimator(est, on_fail=None, on_skip=None)
    assert not [w for w in caught if "BaseEstimator" in str(w.message)]  # it is one, where sklearn is installed
    failed = [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not failed
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_clone_get_set_params_and_cross_val_score(rng):
    sklearn_or_skip()
    from sklearn.base import clone, is_classifier
    from sklearn.model_selection import cross_val_score

    X, y = blobs(rng)
    est = MLPClassifier((16,), **FAST)
    assert is_classifier(est)
    twin = clone(est).set_params(hidden_layer_sizes=(4,))
    assert twin.get_params()["hidden_layer_sizes"] == (4,) and est.hidden_layer_sizes == (16,)
    assert " ".join(repr(twin).split()).startswith("MLPClassifier(batch_size=32, hidden_layer_sizes=(4,),")
    with pytest.raises(ValueError, match="Invalid parameter 'hidden'"):
        est.set_params(hidden=(3,))
    scores = cross_val_score(est, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9


def test_pipeline_grid_search_on_digits_with_string_labels():
    """Measured: best (64,) hidden units, reg 1e-4 (CV accuracy 0.971); held-out accuracy 0.984 (443 of 450)."""
    sklearn_or_skip()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    X_train, X_test, y_train, y_test = train_test_split(X, names, test_size=0.25, stratify=names, random_state=0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(**{**FAST, "max_iter": 21, "batch_size": 64}))
    grid = GridSearchCV(
        pipe, {"mlpclassifier__hidden_layer_sizes": [(16,), (64,)], "mlpclassifier__reg": [1e-4, 1e-1]}, cv=3
    )
    grid.fit(X_train, y_train)
    assert grid.best_params_ == {"mlpclassifier__hidden_layer_sizes": (64,), "mlpclassifier__reg": 1e-4}
    assert set(grid.predict(X_test)) <= set(names)
    assert grid.score(X_test, y_test) >= 0.97
