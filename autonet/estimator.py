"""``MLPClassifier``: the one trainer behind the scikit-learn estimator API.

A practitioner's door into autonet: ``fit(X, y)`` on any numeric table with
any labels, then ``predict``, ``predict_proba``, ``score``; it works inside
``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone`` and passes
``sklearn.utils.estimator_checks.check_estimator``. With scikit-learn
importable it is a ``sklearn.base.BaseEstimator`` (parameters, ``clone``,
the HTML repr in notebooks); without it, fitting and predicting still work
(the estimator protocol is implemented here too).

Training is :class:`autonet.train.Trainer` with the backend named by
``backend`` (``"manual"``: hand-derived gradients; ``"autograd"``: the
derivative of the forward loss), so in float64 with the same ``random_state``
both backends give the same model.

The parameters are derived from the one schema (:class:`autonet.config.Config`):
every option but the data options (``fit`` takes ``X, y``) and the step count
and reporting options is a parameter of the same name and meaning
(``hidden`` is ``hidden_layer_sizes``, ``seed`` is ``random_state``). Their
defaults are the schema's with :data:`autonet.config.GENERAL_RECIPE` laid over
them -- He init, Adam at a constant 1e-3, L2 1e-4, batches of ``min(200, N)``,
as scikit-learn's ``MLPClassifier`` -- rather than the CIFAR-10 recipe. Then
scikit-learn's own: ``max_iter`` passes over the data, a stop when the
training loss (or, with ``early_stopping``, the validation accuracy) has not
improved by ``tol`` for ``n_iter_no_change`` epochs, and ``verbose``.

Preprocessing inside the estimator is the schema's ``preprocess``, fitted on
the rows given to ``fit``: ``"mean"`` subtracts the training mean of every
feature; ``"standardize"`` also divides every feature by its training standard
deviation (a row is treated as a 1x1 image with D channels); ``"pca"``/``"zca"``
whiten. Put a ``StandardScaler`` in a ``Pipeline`` as usual if you prefer.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from autonet.backends import get_backend
from autonet.config import DTYPES, GENERAL_RECIPE, MAX_BATCH, Bool, Config, Float, Int, default, names
from autonet.errors import AutonetError, ConfigError, DataError
from autonet.images import image_options, require_image_rows
from autonet.net import init_params, init_rng, scores
from autonet.preprocess import fit_preprocess
from autonet.train import Trainer, epoch_mean_losses

PREDICT_CHUNK = 2000  # rows scored at a time, to bound memory

# schema options that are not parameters: the data (fit takes X, y), the length in steps (max_iter counts
# epochs), the reporting (verbose) and autonet train's early_stopping (a patience; scikit-learn's is a bool)
NOT_PARAMETERS = "dataset num_val num_train data_dir num_iters print_every progress early_stopping".split()
RENAMED = {"hidden": "hidden_layer_sizes", "seed": "random_state"}
# scikit-learn's own parameters: name -> (default, kind)
SKLEARN_PARAMETERS = {
    "max_iter": (200, Int(1, 10**9)),
    "early_stopping": (False, Bool()),
    "validation_fraction": (0.1, Float(0.0, 1.0, low_open=True, high_open=True)),
    "n_iter_no_change": (10, Int(1, 10**9)),
    "tol": (1e-4, Float(0.0)),
    "verbose": (0, Int(0, 10**9)),
}
SCHEMA_NAME = {RENAMED.get(n, n): n for n in names() if n not in NOT_PARAMETERS}  # parameter -> schema option
DEFAULTS = {**{p: default(n) for p, n in SCHEMA_NAME.items()}, **GENERAL_RECIPE, "batch_size": MAX_BATCH}
DEFAULTS.update((name, d) for name, (d, _) in SKLEARN_PARAMETERS.items())


class _Converged(Exception):
    """Raised by the stopping callback to end :meth:`Trainer.fit`."""


class _Parameters:
    """The estimator protocol without scikit-learn: ``get_params``, ``set_params`` and a repr of what differs."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their values (no nested estimators, so ``deep`` changes nothing)."""
        return {name: getattr(self, name) for name in DEFAULTS}

    def set_params(self, **params):
        """Set constructor parameters (validated at the next ``fit``); returns self."""
        for name, value in params.items():
            if name not in DEFAULTS:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}(). "
                    f"Valid parameters are: {list(DEFAULTS)!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if repr(v) != repr(DEFAULTS[k])]
        return f"{type(self).__name__}({', '.join(changed)})"


try:  # a scikit-learn estimator where scikit-learn is installed: its checks and tools assume BaseEstimator
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.exceptions import DataConversionWarning
    from sklearn.exceptions import NotFittedError as _NotFitted

    _BASES: tuple[type, ...] = (ClassifierMixin, BaseEstimator)
except ImportError:
    _BASES, DataConversionWarning = (_Parameters,), UserWarning

    class _NotFitted(ValueError, AttributeError):  # type: ignore[no-redef]
        pass


class NotFittedError(_NotFitted, AutonetError):
    """A method that needs a fitted estimator was called before ``fit`` (scikit-learn's, where installed)."""


class MLPClassifier(*_BASES):  # type: ignore[misc]
    """A fully-connected softmax classifier trained by autonet's one trainer.

    Parameters
    ----------
    hidden_layer_sizes : sizes ``(H1, ..., H_{L-1})`` of the hidden layers (schema: ``hidden``)
    backend, init, std, activation, batchnorm, dropout, preprocess, learning_rate, reg,
    batch_size, update, schedule, ... : every other option of the run schema
        (:class:`autonet.config.Config`, ``autonet train --help``) but the data
        options, with the same meaning; defaults: the schema's with
        :data:`autonet.config.GENERAL_RECIPE` over them. The rows are feature
        vectors, not images, so ``cutmix`` and ``tta`` must stay off. With
        ``ema_decay``, :attr:`params_` is the moving average (what predicts).
        ``batch_size`` is cut to the number of rows.
    max_iter : passes over the training rows (epochs), at most
    early_stopping : hold out ``validation_fraction`` of the training rows
        (stratified), score them after every epoch, stop when the validation
        accuracy has not improved by more than ``tol`` for ``n_iter_no_change``
        epochs, and keep the parameters of the best epoch. Without it, the stop
        watches the epoch's mean training loss instead (improvement: a fall of
        more than ``tol``), as scikit-learn does
    validation_fraction : in (0, 1), used only with ``early_stopping``
    n_iter_no_change : epochs without improvement before stopping
    tol : smallest improvement that counts
    verbose : 0: silent (scikit-learn's default); > 0: progress while fitting
    random_state : int >= 0 (schema: ``seed``), None (fresh entropy), or a
        numpy ``RandomState``/``Generator`` to draw the seed from; the weights,
        the minibatches, the dropout masks and the validation split all follow it
    dtype : ``"float32"`` (speed) or ``"float64"`` (exact backend comparisons)

    Attributes
    ----------
    classes_ : (C,) the sorted distinct labels seen in ``fit``
    n_features_in_ : D, the number of features of ``X``
    feature_names_in_ : (D,) object array of column names, when ``X`` had
        string column names (a DataFrame)
    params_ : the trained parameters ``W1, b1, ...`` (batch-norm nets: also
        ``gamma_l, beta_l``), acting on preprocessed rows
    bn_state_ : running batch-norm statistics (empty without batch norm)
    preprocessor_ : the fitted :class:`autonet.preprocess.Preprocessor` applied
        after subtracting ``mean_``
    mean_ : (D,) training mean of every feature
    n_iter_ : epochs done (fewer than ``max_iter`` after a stop)
    loss_curve_ : the mean minibatch loss of every epoch
    best_loss_ : the lowest of ``loss_curve_`` (None with ``early_stopping``)
    validation_scores_ : validation accuracy after every epoch (``early_stopping``; else None)
    best_validation_score_ : the best of them (``early_stopping``; else None)
    history_ : ``loss`` per step; ``train_acc``, ``val_acc`` (with
        early stopping), ``epoch_iteration`` and ``learning_rate`` per epoch
    """

    def __init__(self, *args: Any, **params: Any) -> None:  # the signature: __signature__, set below
        bound = _SIGNATURE.bind(self, *args, **params)
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    # ----- configuration -----

    def _config(self, seed: int) -> Config:
        """The schema object these parameters describe (with ``seed``), validated once (ConfigError naming it)."""
        for name, (_, kind) in SKLEARN_PARAMETERS.items():
            kind.check(name, getattr(self, name))
        options = {option: getattr(self, param) for param, option in SCHEMA_NAME.items() if option != "seed"}
        cfg = Config(**options, seed=seed, progress=self.verbose > 0)
        for name in [n for n in image_options(cfg) if n != "augment"]:  # the rows are feature vectors
            require_image_rows(name, None, None)
        return cfg

    def _sized(self, cfg: Config, n_rows: int) -> Config:
        """``cfg`` for ``n_rows`` training rows: the batch cut to them, ``max_iter`` epochs in steps."""
        batch = min(cfg.batch_size, n_rows)
        return cfg.replace(batch_size=batch, num_iters=self.max_iter * max(n_rows // batch, 1))

    def _seed(self) -> int:
        """An int seed from ``random_state`` (drawn from it if it is a generator)."""
        rs = self.random_state
        if rs is None:
            return int(np.random.SeedSequence().generate_state(1)[0])
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(np.iinfo(np.int32).max))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(np.iinfo(np.int32).max))
        if isinstance(rs, (bool, np.bool_)) or not isinstance(rs, (int, np.integer)) or rs < 0:
            raise ConfigError(f"random_state must be an integer >= 0, None or a numpy generator, got {rs!r}")
        return int(rs)

    # ----- fitting -----

    def fit(self, X, y) -> MLPClassifier:
        """Train a fresh network on ``X`` (N, D) and labels ``y`` (N,); returns self.

        Labels may be any sortable values (ints, strings, ...); they are
        mapped to ``0..C-1`` through :attr:`classes_`.
        """
        seed = self._seed()
        cfg = self._config(seed)
        X, names = _check_X(X, DTYPES[cfg.dtype])
        y = _check_y(y, len(X))
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"y has only one class ({classes[0]!r}); a classifier needs at least 2 classes")
        X_val = y_val = None
        if self.early_stopping:
            train, val = _stratified_split(y_idx, self.validation_fraction, np.random.default_rng([seed, 2]))
            X, X_val, y_idx, y_val = X[train], X[val], y_idx[train], y_idx[val]
        cfg = self._sized(cfg, len(X))
        params = self._start(X, names, classes, cfg, seed)
        X, X_val = self._transform(X), None if X_val is None else self._transform(X_val)
        stop, best = self._stopping_callback()
        trainer = Trainer(get_backend(cfg.backend), params, X, y_idx, X_val, y_val, cfg, callbacks=[stop])
        try:
            trainer.fit()
        except _Converged:
            pass
        self._store(trainer, best=best["net"])
        return self

    def partial_fit(self, X, y, classes=None) -> MLPClassifier:
        """One pass over ``X``, ``y`` (``max(N // batch_size, 1)`` minibatch steps), continuing the model.

        The first call (on an unfitted estimator) must name every label that
        will ever appear in ``classes``; it fits the preprocessing on this
        first chunk and initialises the weights. Later calls continue with the
        same optimizer state, learning-rate schedule and random stream
        (``max_iter`` is only the horizon of the ``"cosine"`` schedule).
        ``early_stopping`` does not apply.
        """
        first = not hasattr(self, "params_")
        seed = self._seed() if first else self._seed_used
        if first:
            if classes is None:
                raise DataError("classes must be given on the first call to partial_fit")
            classes = np.unique(_check_y(classes, None))
            if len(classes) < 2:
                raise DataError(f"classes has {len(classes)} value(s); a classifier needs at least 2 classes")
        elif classes is not None and not np.array_equal(np.unique(_check_y(classes, None)), self.classes_):
            raise DataError(f"classes={classes!r} differs from the classes of the first call, {self.classes_!r}")
        cfg = self._config(seed)
        X, names = _check_X(X, DTYPES[cfg.dtype])
        cfg = self._sized(cfg, len(X))
        if not first:
            self._check_input_info(X, names)
        y = _check_y(y, len(X))
        known = classes if first else self.classes_
        unseen = np.setdiff1d(y, known)
        if len(unseen):
            raise DataError(f"y holds labels not in classes: {unseen[:5].tolist()!r}")
        y_idx = np.searchsorted(known, y)
        params = self._start(X, names, known, cfg, seed) if first else self.params_
        trainer = Trainer(get_backend(cfg.backend), params, self._transform(X), y_idx, config=cfg)
        if not first:
            trained = {} if "params" in self._trainer_state else {"params": self.params_, "bn_state": self.bn_state_}
            trainer.load_state_dict(
                dict(self._trainer_state, **trained, history=self.history_, perm=np.zeros(0, dtype=np.int64), pos=0)
            )
        for _ in range(trainer.iterations_per_epoch):
            trainer.step()
        self._store(trainer)
        return self

    def _start(self, X: np.ndarray, names: np.ndarray | None, classes: np.ndarray, cfg: Config, seed: int) -> dict:
        """Forget any earlier fit, record the input and seed, fit the preprocessing on ``X``; the initial parameters."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)
        self._seed_used = seed
        self.n_features_in_, self.classes_, self.mean_ = X.shape[1], classes, X.mean(axis=0, dtype=np.float64)
        if names is not None:
            self.feature_names_in_ = names
        self.preprocessor_ = fit_preprocess(
            X - self.mean_.astype(X.dtype), cfg.preprocess, cfg.whiten_eps, cfg.pca_components, (1, 1, X.shape[1])
        )
        sizes = [self.preprocessor_.output_dim or X.shape[1], *cfg.hidden, len(classes)]
        dtype = DTYPES[cfg.dtype]
        return init_params(sizes, std=cfg.std, init=cfg.init, rng=init_rng(seed), dtype=dtype, batchnorm=cfg.batchnorm)

    def _transform(self, X: np.ndarray) -> np.ndarray:
        """Preprocessed rows: ``preprocessor_`` applied to ``X - mean_``."""
        return self.preprocessor_.transform(X - self.mean_.astype(X.dtype))

    def _stopping_callback(self) -> tuple[Callable, dict]:
        """Stop after ``n_iter_no_change`` epochs without an improvement of more than ``tol`` (scikit-learn's rule).

        Watched: the validation accuracy with ``early_stopping``, else the
        epoch's mean training loss. Returns the callback and its record ``best``:
        ``score``, epochs ``since`` the last improvement, and with
        ``early_stopping`` the best epoch's ``(params, bn_state)`` as ``net``.
        """
        best: dict = {"score": -np.inf, "since": 0, "net": None}

        def callback(event: str, trainer: Trainer) -> None:
            if event != "epoch":
                return
            if self.early_stopping:
                score = trainer.history["val_acc"][-1]
            else:
                start = trainer.history["epoch_iteration"][-2] if len(trainer.history["epoch_iteration"]) > 1 else 0
                score = -float(np.mean(trainer.history["loss"][start:]))
            best["since"] = 0 if score > best["score"] + self.tol else best["since"] + 1
            if score > best["score"]:
                best["score"] = score
                if self.early_stopping:
                    params, bn_state = trainer.evaluation_params()
                    best["net"] = ({k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in bn_state.items()})
            if best["since"] >= self.n_iter_no_change:
                raise _Converged

        return callback, best

    def _store(self, trainer: Trainer, best: tuple[dict, dict] | None = None) -> None:
        """Keep what predicts (``best`` of early stopping, else the trainer's evaluated net) and the state."""
        self.params_, self.bn_state_ = best if best is not None else trainer.evaluation_params()
        self.history_ = {k: list(v) for k, v in trainer.history.items()}
        self.n_iter_ = len(trainer.history["epoch_iteration"])
        self.loss_curve_ = epoch_mean_losses(trainer.history)
        stopped_on_val = self.early_stopping and bool(trainer.history["val_acc"])
        self.best_loss_ = None if stopped_on_val else min(self.loss_curve_, default=None)
        self.validation_scores_ = list(trainer.history["val_acc"]) if stopped_on_val else None
        self.best_validation_score_ = max(trainer.history["val_acc"]) if stopped_on_val else None
        # what partial_fit needs to continue (from params_, or, with a moving average, from the trained
        # params kept here)
        kept = ("history",) if trainer.ema_params else ("params", "bn_state", "history")
        self._trainer_state = {k: v for k, v in trainer.state_dict().items() if k not in kept}

    # ----- prediction -----

    def _check_input_info(self, X: np.ndarray, names: np.ndarray | None) -> None:
        _check_feature_names(self, names)
        if X.shape[1] != self.n_features_in_:
            raise DataError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )

    def decision_scores(self, X) -> np.ndarray:
        """Class scores (N, C), float64, of the network (evaluation mode: running batch-norm statistics, no dropout).

        The trained weights are evaluated in float64, so a row's scores do not
        depend on the other rows scored with it (float32 products do, through
        the BLAS kernel a batch size picks).
        """
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )
        X, names = _check_X(X, np.float64)
        self._check_input_info(X, names)
        as64 = lambda d: {k: np.asarray(v, dtype=np.float64) for k, v in d.items()}  # noqa: E731
        params, state = as64(self.params_), as64(self.bn_state_) or None
        out = np.empty((len(X), len(self.classes_)))
        for i in range(0, len(X), PREDICT_CHUNK):
            out[i : i + PREDICT_CHUNK] = scores(
                params, self._transform(X[i : i + PREDICT_CHUNK]), state=state, activation=self.activation
            )
        return out

    def predict_log_proba(self, X) -> np.ndarray:
        """``log softmax`` of the scores (N, C), in float64."""
        s = self.decision_scores(X)
        s -= s.max(axis=1, keepdims=True)
        s -= np.log(np.exp(s).sum(axis=1, keepdims=True))
        return s

    def predict_proba(self, X) -> np.ndarray:
        """Softmax probabilities (N, C), float64; column ``k`` is ``classes_[k]``."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable label of every row (N,), as values of :attr:`classes_`."""
        s = self.decision_scores(X)  # first: it refuses an unfitted estimator
        return self.classes_[s.argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of :meth:`predict` on ``X`` against ``y`` (weighted by ``sample_weight``)."""
        pred = self.predict(X)
        y = _check_y(y, len(pred))
        return float(np.average(pred == y, weights=sample_weight))


# ----- input validation (what sklearn.utils.validation would do, without sklearn) -----


def _feature_names(X) -> np.ndarray | None:
    """Column names of a DataFrame-like ``X`` when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray) or len(columns) == 0:
        return None
    names = np.asarray(list(columns), dtype=object)
    kinds = {type(v) for v in names}
    if str in kinds and len(kinds) > 1:
        raise DataError(
            f"feature names must all be strings; got column names of types {sorted(k.__qualname__ for k in kinds)}"
        )
    return names if kinds == {str} else None


def _check_feature_names(est: MLPClassifier, names: np.ndarray | None) -> None:
    """Warn or raise, as sklearn does, when the columns differ from those seen in ``fit``."""
    fitted = getattr(est, "feature_names_in_", None)
    cls = type(est).__name__
    if fitted is None and names is not None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names", UserWarning, stacklevel=4)
    elif fitted is not None and names is None:
        warnings.warn(f"X does not have valid feature names, but {cls} was fitted with feature names", stacklevel=4)
    if fitted is None or names is None or (len(fitted) == len(names) and np.all(fitted == names)):
        return
    unexpected = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))

    def listing(items):
        return "".join(f"- {n}\n" for n in items[:5]) + ("- ...\n" if len(items) > 5 else "")

    msg = "The feature names should match those that were passed during fit.\n"
    if unexpected:
        msg += "Feature names unseen at fit time:\n" + listing(unexpected)
    if missing:
        msg += "Feature names seen at fit time, yet now missing:\n" + listing(missing)
    if not unexpected and not missing:
        msg += "Feature names must be in the same order as they were in fit.\n"
    raise DataError(msg)


def _check_X(X, dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` as a finite (N, D) array of ``dtype`` with N, D >= 1, and its column names (or None)."""
    if type(X).__module__.startswith("scipy.sparse"):
        raise DataError("sparse input is not supported; pass a dense array (X.toarray())")
    names = _feature_names(X)
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise DataError("Complex data not supported: X has dtype " + str(X.dtype))
    if X.dtype.kind in "USV":
        raise DataError(f"X must hold numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise DataError(
            f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}; "
            "Reshape your data with X.reshape(-1, 1) (one feature) or X.reshape(1, -1) (one row)"
        )
    if X.shape[0] < 1:
        raise DataError(f"Found array with 0 sample(s) (shape={X.shape}) while a minimum of 1 is required.")
    if X.shape[1] < 1:
        raise DataError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if X.dtype.kind == "O" and any(isinstance(v, complex) for v in X.flat):
        raise DataError("Complex data not supported in X")
    X = X.astype(dtype, copy=False)  # object entries that are not numbers raise TypeError here
    if not (np.isfinite(X.min()) and np.isfinite(X.max())):
        raise DataError("Input X contains NaN or infinity")
    return X, names


def _check_y(y, n: int | None) -> np.ndarray:
    """``y`` as a 1-D array of class labels (ints, integral floats or strings) of length ``n``."""
    if y is None:
        raise DataError("MLPClassifier requires y to be passed, but the target y is None")
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape "
            "of y to (n_samples, ), for example using ravel().",
            DataConversionWarning,
            stacklevel=3,
        )
        y = y.ravel()
    if y.ndim != 1:
        raise DataError(f"y must be 1-D (n_samples,), got shape {y.shape}; multi-output is not supported")
    if n is not None and len(y) != n:
        raise DataError(f"y has {len(y)} labels for {n} rows of X")
    if y.size == 0:
        raise DataError("y is empty")
    if y.dtype.kind == "c":
        raise DataError("Complex data not supported: y has dtype " + str(y.dtype))
    strings = [isinstance(v, str) for v in y] if y.dtype.kind == "O" else [False]
    if any(strings) and not all(strings):
        raise DataError("Unknown label type: mixed strings and numbers in y")
    if y.dtype.kind not in "biuUSfO":
        raise DataError(f"Unknown label type: y has dtype {y.dtype}")
    if y.dtype.kind in "fO" and not all(strings):  # numbers: class labels only when integral
        try:
            y_num = y.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"Unknown label type: y holds {sorted({type(v).__qualname__ for v in y})}") from None
        if not np.isfinite(y_num).all():
            raise DataError("Input y contains NaN or infinity")
        if np.any(y_num != np.round(y_num)):
            raise DataError(
                "Unknown label type: continuous (y holds non-integer numbers; a classifier needs class labels)"
            )
    return y


def _stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, val): ``round(fraction * n_c)`` random rows of every class ``c`` go to val.

    Raises DataError when a side would be empty.
    """
    picked: list[int] = []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        picked.extend(rng.permutation(rows)[: int(round(fraction * len(rows)))])
    val = np.sort(np.asarray(picked, dtype=np.int64))
    train = np.setdiff1d(np.arange(len(y)), val)
    if len(val) == 0 or len(train) == 0:
        raise DataError(
            f"validation_fraction={fraction} of {len(y)} rows leaves an empty "
            f"{'validation' if len(val) == 0 else 'training'} set"
        )
    return train, val


_P = inspect.Parameter  # hidden_layer_sizes may be given by position (scikit-learn's signature); the rest by name
_SIGNATURE = inspect.Signature(
    [
        _P("self", _P.POSITIONAL_OR_KEYWORD),
        _P("hidden_layer_sizes", _P.POSITIONAL_OR_KEYWORD, default=DEFAULTS["hidden_layer_sizes"]),
    ]
    + [_P(name, _P.KEYWORD_ONLY, default=value) for name, value in DEFAULTS.items() if name != "hidden_layer_sizes"]
)
MLPClassifier.__init__.__signature__ = _SIGNATURE  # type: ignore[attr-defined]
