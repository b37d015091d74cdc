"""``MLPClassifier``: the one trainer behind the scikit-learn estimator API.

A practitioner's door into autonet: ``fit(X, y)`` on any numeric table with
any labels, then ``predict``, ``predict_proba``, ``score``; it works inside
``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone`` and passes
``sklearn.utils.estimator_checks.check_estimator``. scikit-learn is *not*
needed to use it: the estimator protocol (``get_params``/``set_params``,
``__sklearn_tags__``, ``__sklearn_is_fitted__``) is implemented here, and
sklearn is imported only by ``__sklearn_tags__``, which only sklearn calls.

Training is :class:`autonet.train.Trainer` with the backend named by
``backend`` (``"manual"``: hand-derived gradients; ``"autograd"``: the
derivative of the forward loss), so in float64 with the same ``random_state``
both backends give the same model. Every training option of the one schema
(:class:`autonet.config.Config`) is a constructor parameter with the same
name and default
(``tests/test_estimator.py`` asserts they match), except:

- ``hidden_layer_sizes`` is the schema's ``hidden``, ``random_state`` its ``seed``;
- the CIFAR-10 data options (``num_val``, ``num_train``, ``data_dir``) are
  replaced by sklearn's ``early_stopping``, ``validation_fraction``,
  ``n_iter_no_change`` and ``tol``.

The defaults are the schema's, i.e. the seed's CIFAR-10 recipe (SGD, tiny
``std=1e-4`` init, ``num_iters=1600`` minibatch steps): on standardised
tabular data ``init="he", update="adam", learning_rate=1e-2`` is a better
start. ``num_iters`` counts minibatch steps, not epochs (sklearn's
``max_iter``).

Preprocessing inside the estimator is the schema's ``preprocess``, fitted on
the rows given to ``fit``: ``"mean"`` subtracts the training mean of every
feature (the loader's mean-image subtraction, for any table); ``"standardize"``
also divides every feature by its training standard deviation (a row is
treated as a 1x1 image with D channels, so the per-channel rule of
:mod:`autonet.preprocess` becomes per-feature); ``"pca"``/``"zca"`` whiten.
Put a ``StandardScaler`` in a ``Pipeline`` as usual if you prefer.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from typing import Any

import numpy as np

from autonet.backends import get_backend
from autonet.config import DTYPES, Config, names
from autonet.errors import AutonetError, ConfigError, DataError
from autonet.net import init_params, init_rng, scores
from autonet.preprocess import fit_preprocess
from autonet.train import Trainer

PREDICT_CHUNK = 2000  # rows scored at a time, to bound memory


class NotFittedError(AutonetError, ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit``."""


class _EarlyStop(Exception):
    """Raised by the early-stopping callback to end :meth:`Trainer.fit`."""


def _sklearn_class(module: str, name: str, fallback: type) -> type:
    """``module.name`` if the caller already imported that sklearn module, else ``fallback``.

    Code that catches sklearn's ``NotFittedError`` or filters its
    ``DataConversionWarning`` has imported sklearn; code that has not cannot
    name them, so autonet never imports sklearn for them.
    """
    mod = sys.modules.get(module)
    return getattr(mod, name, fallback) if mod is not None else fallback


class MLPClassifier:
    """A fully-connected softmax classifier trained by autonet's one trainer.

    Parameters
    ----------
    hidden_layer_sizes : sizes ``(H1, ..., H_{L-1})`` of the hidden layers (schema: ``hidden``)
    backend : ``"manual"`` or ``"autograd"`` (see :mod:`autonet.backends`)
    init, std, batchnorm, activation, dropout, preprocess, whiten_eps, pca_components,
    learning_rate, learning_rate_decay, reg, num_iters, batch_size, sampling, update,
    schedule, step_epochs, warmup, momentum, weight_decay, label_smoothing, bn_momentum,
    augment, crop_padding, mixup, cutmix, ema_decay, tta, train_acc_samples, print_every, progress :
        the run schema's options, same meaning and defaults (docs/deep.md); the rows
        here are feature vectors, not images, so ``cutmix`` and ``tta`` must stay off.
        With ``ema_decay``, :attr:`params_` is the moving average (what predicts)
    early_stopping : hold out ``validation_fraction`` of the training rows
        (stratified), score them after every epoch, stop when the validation
        accuracy has not improved by more than ``tol`` for ``n_iter_no_change``
        epochs, and keep the parameters of the best epoch
    validation_fraction : in (0, 1), used only with ``early_stopping``
    n_iter_no_change : epochs without improvement before stopping
    tol : smallest validation-accuracy gain that counts as an improvement
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
    history_ : ``loss`` per iteration; ``train_acc``, ``val_acc`` (with
        early stopping), ``epoch_iteration`` and ``learning_rate`` per epoch
    n_iter_ : minibatch iterations done (fewer than ``num_iters`` after an early stop)
    best_validation_score_ : best validation accuracy (``early_stopping`` only)
    """

    def __init__(
        self,
        hidden_layer_sizes=(300,),
        backend="manual",
        *,
        init="std",
        std=1e-4,
        batchnorm=False,
        activation="relu",
        dropout=0.0,
        preprocess="mean",
        whiten_eps=10.0,
        pca_components=256,
        learning_rate=1.6e-3,
        learning_rate_decay=0.90,
        reg=1e-2,
        num_iters=1600,
        batch_size=400,
        sampling="replacement",
        update="sgd",
        schedule="decay",
        step_epochs=10,
        warmup=0.0,
        momentum=0.9,
        weight_decay=0.0,
        label_smoothing=0.0,
        bn_momentum=0.9,
        augment=(),
        crop_padding=4,
        mixup=0.0,
        cutmix=0.0,
        ema_decay=0.0,
        tta="none",
        train_acc_samples=1000,
        print_every=0,
        progress=True,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        random_state=0,
        dtype="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.backend = backend
        self.init = init
        self.std = std
        self.batchnorm = batchnorm
        self.activation = activation
        self.dropout = dropout
        self.preprocess = preprocess
        self.whiten_eps = whiten_eps
        self.pca_components = pca_components
        self.learning_rate = learning_rate
        self.learning_rate_decay = learning_rate_decay
        self.reg = reg
        self.num_iters = num_iters
        self.batch_size = batch_size
        self.sampling = sampling
        self.update = update
        self.schedule = schedule
        self.step_epochs = step_epochs
        self.warmup = warmup
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.bn_momentum = bn_momentum
        self.augment = augment
        self.crop_padding = crop_padding
        self.mixup = mixup
        self.cutmix = cutmix
        self.ema_decay = ema_decay
        self.tta = tta
        self.train_acc_samples = train_acc_samples
        self.print_every = print_every
        self.progress = progress
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.dtype = dtype

    # ----- the estimator protocol (what sklearn.base.BaseEstimator would give) -----

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p.name for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their values (no nested estimators, so ``deep`` changes nothing)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> MLPClassifier:
        """Set constructor parameters (validated at the next ``fit``); returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}(). "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same(v, defaults[k])]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        """Tags for scikit-learn >= 1.6: a single-output multiclass classifier of dense numeric 2-D arrays."""
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
            input_tags=InputTags(),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "params_")

    # ----- configuration -----

    def _config(self, seed: int) -> Config:
        """The schema object these parameters describe (with ``seed``), validated once (ConfigError naming it)."""
        schema = set(names()) - {"early_stopping"}  # scikit-learn's early_stopping (a bool) is the estimator's own
        values = {k: v for k, v in self.get_params().items() if k in schema}
        values["hidden"] = self.hidden_layer_sizes
        values["seed"] = seed
        try:
            cfg = Config(**values)
            for name, on in (("cutmix", cfg.cutmix), ("tta", cfg.tta != "none")):
                if on:
                    raise ConfigError(
                        f"{name} needs image rows; {type(self).__name__} takes feature vectors "
                        f"(got {name}={getattr(cfg, name)!r})"
                    )
            return cfg
        except TypeError as e:
            raise ConfigError(f"invalid parameter: {e}") from None

    def _check_early_stopping(self) -> None:
        if not isinstance(self.early_stopping, (bool, np.bool_)):
            raise ConfigError(f"early_stopping must be True or False, got {self.early_stopping!r}")
        if not (_is_real(self.validation_fraction) and 0 < self.validation_fraction < 1):
            raise ConfigError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if not (_is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1):
            raise ConfigError(f"n_iter_no_change must be an integer >= 1, got {self.n_iter_no_change!r}")
        if not (_is_real(self.tol) and np.isfinite(self.tol) and self.tol >= 0):
            raise ConfigError(f"tol must be >= 0, got {self.tol!r}")

    def _seed(self) -> int:
        """An int seed from ``random_state`` (drawn from it if it is a generator)."""
        rs = self.random_state
        if rs is None:
            return int(np.random.SeedSequence().generate_state(1)[0])
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(np.iinfo(np.int32).max))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(np.iinfo(np.int32).max))
        if not (_is_int(rs) and rs >= 0):
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
        self._check_early_stopping()
        dtype = DTYPES[cfg.dtype]
        X, names = _check_X(X, dtype)
        y = _check_y(y, len(X))
        classes, y_idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"y has only one class ({classes[0]!r}); a classifier needs at least 2 classes")
        X_val = y_val = None
        if self.early_stopping:
            train, val = _stratified_split(y_idx, self.validation_fraction, np.random.default_rng([seed, 2]))
            X, X_val, y_idx, y_val = X[train], X[val], y_idx[train], y_idx[val]
        self._reset()
        self._set_input_info(X, names)
        self.classes_ = classes
        self._fit_preprocessing(X, cfg)
        X = self._transform(X)
        X_val = None if X_val is None else self._transform(X_val)
        params = init_params(
            [X.shape[1], *cfg.hidden, len(classes)],
            std=cfg.std,
            init=cfg.init,
            rng=init_rng(seed),
            dtype=dtype,
            batchnorm=cfg.batchnorm,
        )
        callbacks = [self._early_stopping_callback()] if self.early_stopping else []
        trainer = Trainer(get_backend(cfg.backend), params, X, y_idx, X_val, y_val, cfg, callbacks=callbacks)
        try:
            trainer.fit()
        except _EarlyStop:
            pass
        self._seed_used = seed
        self._store(trainer, best=self._best if self.early_stopping else None)
        del self._best
        return self

    def partial_fit(self, X, y, classes=None) -> MLPClassifier:
        """One pass over ``X``, ``y`` (``max(N // batch_size, 1)`` minibatch steps), continuing the model.

        The first call (on an unfitted estimator) must name every label that
        will ever appear in ``classes``; it fits the preprocessing on this
        first chunk and initialises the weights. Later calls continue with the
        same optimizer state, learning-rate schedule and random stream
        (``num_iters`` is only the horizon of the ``"cosine"`` schedule).
        ``early_stopping`` does not apply.
        """
        first = not hasattr(self, "params_")
        seed = self._seed() if first else self._seed_used
        cfg = self._config(seed)
        dtype = DTYPES[cfg.dtype]
        if first:
            if classes is None:
                raise DataError("classes must be given on the first call to partial_fit")
            classes = np.unique(_check_y(classes, None))
            if len(classes) < 2:
                raise DataError(f"classes has {len(classes)} value(s); a classifier needs at least 2 classes")
        elif classes is not None and not np.array_equal(np.unique(_check_y(classes, None)), self.classes_):
            raise DataError(f"classes={classes!r} differs from the classes of the first call, {self.classes_!r}")
        X, names = _check_X(X, dtype)
        if not first:
            self._check_input_info(X, names)
        y = _check_y(y, len(X))
        known = classes if first else self.classes_
        unseen = np.setdiff1d(y, known)
        if len(unseen):
            raise DataError(f"y holds labels not in classes: {unseen[:5].tolist()!r}")
        y_idx = np.searchsorted(known, y)
        if first:
            self._reset()
            self._set_input_info(X, names)
            self.classes_ = known
            self._fit_preprocessing(X, cfg)
            params = init_params(
                [self.preprocessor_.output_dim or X.shape[1], *cfg.hidden, len(known)],
                std=cfg.std,
                init=cfg.init,
                rng=init_rng(seed),
                dtype=dtype,
                batchnorm=cfg.batchnorm,
            )
        else:
            params = self.params_
        trainer = Trainer(get_backend(cfg.backend), params, self._transform(X), y_idx, config=cfg)
        if not first:
            trained = {} if "params" in self._trainer_state else {"params": self.params_, "bn_state": self.bn_state_}
            trainer.load_state_dict(
                dict(self._trainer_state, **trained, history=self.history_, perm=np.zeros(0, dtype=np.int64), pos=0)
            )
        for _ in range(trainer.iterations_per_epoch):
            trainer.step()
        self._seed_used = seed
        self._store(trainer)
        return self

    def _reset(self) -> None:
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)
        self._best: tuple[dict, dict] | None = None
        self._best_score = -np.inf
        self._since_best = 0

    def _set_input_info(self, X: np.ndarray, names: np.ndarray | None) -> None:
        self.n_features_in_ = X.shape[1]
        if names is not None:
            self.feature_names_in_ = names

    def _fit_preprocessing(self, X: np.ndarray, cfg: Config) -> None:
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        Xc = X - self.mean_.astype(X.dtype)
        self.preprocessor_ = fit_preprocess(
            Xc,
            cfg.preprocess,
            whiten_eps=cfg.whiten_eps,
            pca_components=cfg.pca_components,
            image_shape=(1, 1, X.shape[1]),
        )

    def _transform(self, X: np.ndarray) -> np.ndarray:
        """Preprocessed rows: ``preprocessor_`` applied to ``X - mean_``."""
        return self.preprocessor_.transform(X - self.mean_.astype(X.dtype))

    def _early_stopping_callback(self):
        def callback(event: str, trainer: Trainer) -> None:
            if event != "epoch":
                return
            acc = trainer.history["val_acc"][-1]
            if self._best is None or acc > self._best_score + self.tol:
                self._best_score, self._since_best = acc, 0
                params, bn_state = trainer.evaluation_params()
                self._best = ({k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in bn_state.items()})
            else:
                self._since_best += 1
                if self._since_best >= self.n_iter_no_change:
                    raise _EarlyStop

        return callback

    def _store(self, trainer: Trainer, best: tuple[dict, dict] | None = None) -> None:
        """Keep what predicts (``best`` of early stopping, else the trainer's evaluated net) and the state."""
        self.params_, self.bn_state_ = best if best is not None else trainer.evaluation_params()
        self.history_ = {k: list(v) for k, v in trainer.history.items()}
        self.n_iter_ = trainer.iteration
        # what partial_fit needs to continue (from params_, or, with a moving average, from the trained
        # params kept here)
        kept = ("history",) if trainer.ema_params else ("params", "bn_state", "history")
        self._trainer_state = {k: v for k, v in trainer.state_dict().items() if k not in kept}
        if self.early_stopping and getattr(self, "_best", None) is not None:
            self.best_validation_score_ = self._best_score

    # ----- prediction -----

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            cls = _sklearn_class("sklearn.exceptions", "NotFittedError", NotFittedError)
            raise cls(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def _check_input_info(self, X: np.ndarray, names: np.ndarray | None) -> None:
        _check_feature_names(self, names)
        if X.shape[1] != self.n_features_in_:
            raise DataError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )

    def decision_scores(self, X) -> np.ndarray:
        """Class scores (N, C) of the network (evaluation mode: running batch-norm statistics, no dropout)."""
        self._check_fitted()
        X, names = _check_X(X, self.params_["W1"].dtype)
        self._check_input_info(X, names)
        out = np.empty((len(X), len(self.classes_)), dtype=self.params_["W1"].dtype)
        for i in range(0, len(X), PREDICT_CHUNK):
            out[i : i + PREDICT_CHUNK] = scores(
                self.params_,
                self._transform(X[i : i + PREDICT_CHUNK]),
                state=self.bn_state_ or None,
                activation=self.activation,
            )
        return out

    def predict_log_proba(self, X) -> np.ndarray:
        """``log softmax`` of the scores (N, C), in float64."""
        s = self.decision_scores(X).astype(np.float64)
        s -= s.max(axis=1, keepdims=True)
        s -= np.log(np.exp(s).sum(axis=1, keepdims=True))
        return s

    def predict_proba(self, X) -> np.ndarray:
        """Softmax probabilities (N, C), float64; column ``k`` is ``classes_[k]``."""
        return np.exp(self.predict_log_proba(X))

    def predict(self, X) -> np.ndarray:
        """The most probable label of every row (N,), as values of :attr:`classes_`."""
        self._check_fitted()
        return self.classes_[self.decision_scores(X).argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of :meth:`predict` on ``X`` against ``y`` (weighted by ``sample_weight``)."""
        pred = self.predict(X)
        y = _check_y(y, len(pred))
        return float(np.average(pred == y, weights=sample_weight))


# ----- input validation (what sklearn.utils.validation would do, without sklearn) -----


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _same(a, b) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _feature_names(X) -> np.ndarray | None:
    """Column names of a DataFrame-like ``X`` when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) == 0:
        return None
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
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(f"X has feature names, but {cls} was fitted without feature names", UserWarning, stacklevel=4)
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {cls} was fitted with feature names", UserWarning, stacklevel=4
        )
        return
    if len(fitted) == len(names) and np.all(fitted == names):
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
        warning = _sklearn_class("sklearn.exceptions", "DataConversionWarning", UserWarning)
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please change the shape "
            "of y to (n_samples, ), for example using ravel().",
            warning,
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
    if y.dtype.kind == "O":
        kinds = {type(v) for v in y}
        if all(issubclass(k, str) for k in kinds):
            return y
        if any(issubclass(k, str) for k in kinds):
            raise DataError("Unknown label type: mixed strings and numbers in y")
        try:
            y_num = y.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"Unknown label type: y holds {sorted(k.__qualname__ for k in kinds)}") from None
        _check_integral(y_num)
        return y
    if y.dtype.kind == "f":
        _check_integral(y)
    elif y.dtype.kind not in "biuUS":
        raise DataError(f"Unknown label type: y has dtype {y.dtype}")
    return y


def _check_integral(y: np.ndarray) -> None:
    if not np.isfinite(y).all():
        raise DataError("Input y contains NaN or infinity")
    if np.any(y != np.round(y)):
        raise DataError("Unknown label type: continuous (y holds non-integer numbers; a classifier needs class labels)")


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
