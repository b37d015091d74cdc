"""The one configuration schema: every option of a run, its type, range, help and default.

:class:`Config` is a frozen dataclass (nanoGPT's ``GPTConfig`` pattern) whose
fields carry :class:`Option` metadata. Everything that names an option derives
from it: the ``autonet train``/``sweep`` flags (:mod:`autonet.cli.common`),
the sweep's value grammar (:mod:`autonet.sweep.space`), the presets,
``config.json``, the trainer's hyperparameters and the
:class:`~autonet.estimator.MLPClassifier` parameters.

Validation happens once, when a :class:`Config` is built (``__post_init__``):
a :class:`Config` that exists is valid, and the code below the boundary
(run, trainer, sweep runner) trusts it. A bad value raises
:class:`~autonet.errors.ConfigError` naming the field and the value.

One spelling per value, everywhere (a flag, ``--grid``, a space file,
``config.json``):

- numbers as Python reads them (``1e-3``, ``1600``); integers may be written
  ``1e3``; ``nan``/``inf`` and non-ASCII digits are refused;
- lists of sizes comma-separated: ``--hidden 1024,512`` is two hidden layers,
  and so is ``hidden=1024,512`` in ``--grid`` (whose trials are separated by
  ``|``) and ``"1024,512"`` or ``[1024, 512]`` in ``config.json``;
- lists of names comma-separated: ``flip,crop``; ``none`` is the empty list;
- booleans ``true``/``false``; ``none`` for "not set" (``seed``, ``num_train``).

Aliases (``lr`` for ``learning_rate``) are accepted wherever a name is.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import partial
from typing import Any

import numpy as np

from autonet.errors import ConfigError
from autonet.images import image_options
from autonet.memory import MAX_LAYER_SIZE, check_layer_count


def _lookup(choices: tuple | str) -> list[str]:
    """The names ``choices`` gives: a tuple of them, or ``"module:NAME"``, the names (or a function returning
    them) that module holds, read when a value is checked (so the schema imports none of those modules)."""
    if isinstance(choices, tuple):
        return list(choices)
    module, name = choices.split(":")
    found = getattr(importlib.import_module(module), name)
    return list(found() if callable(found) else found)


# ----- kinds: how a value is spelled, checked and written -----


def _show(value: Any) -> str:
    """A value as an error message quotes it (long ones shortened)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + "..." + text[-12:]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


class Kind:
    """The type of one option: text parsing, checking of Python/JSON values, text form."""

    expects = "a value"  # for messages: "expected <expects>, got ..."

    def parse(self, text: str) -> Any:
        """The value spelled ``text`` (stripped, non-empty ASCII).

        Raises ValueError, OverflowError or KeyError when ``text`` spells no value of this kind.
        """
        return text

    def from_text(self, text: str) -> Any:
        """The value spelled ``text`` (syntax only; :meth:`check` applies the range)."""
        try:
            if not isinstance(text, str) or not text.strip() or not text.isascii():
                raise ValueError
            text = text.strip()
            return self.parse(text)
        except (ValueError, OverflowError, KeyError):
            raise ValueError(f"expected {self.expects}, got {_show(text)}") from None

    def check(self, name: str, value: Any) -> Any:
        """``value`` normalised (lists -> tuples, numpy scalars -> Python), or ConfigError."""
        raise NotImplementedError

    def to_text(self, value: Any) -> str:
        """``value`` as a flag spells it: lists comma-separated, ``none`` for None or no item."""
        if isinstance(value, tuple):
            return ",".join(str(v) for v in value) or "none"
        return "none" if value is None else str(value)

    def to_json(self, value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value

    def metavar(self) -> str | None:
        return None

    def _from_text_if_text(self, name: str, value: Any) -> Any:
        """``value``, parsed first when it is text (a list written as text in a config file)."""
        try:
            return self.from_text(value) if isinstance(value, str) else value
        except ValueError:
            raise self._refuse(name, value) from None

    def _refuse(self, name: str, value: Any, requirement: str | None = None) -> ConfigError:
        return ConfigError(f"{name} must be {requirement or self.expects}, got {_show(value)}")


_INT_TEXT = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class Int(Kind):
    """An integer in ``[low, high]``; ``optional``: also None (spelled ``none``)."""

    low: int = 0
    high: int = 2**63 - 1
    optional: bool = False

    @property
    def expects(self) -> str:  # type: ignore[override]
        return "an integer" + (" or none" if self.optional else "")

    def parse(self, text: str) -> Any:
        if self.optional and text.lower() == "none":
            return None
        number = int(text) if _INT_TEXT.fullmatch(text) else float(text)  # float: 1e3
        if number != int(number):  # int() refuses inf (OverflowError) and nan (ValueError)
            raise ValueError
        return int(number)

    def check(self, name: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
            value = int(value)
        if not (_is_number(value) and isinstance(value, (int, np.integer)) and self.low <= value <= self.high):
            raise self._refuse(name, value, self._requirement())
        return int(value)

    def _requirement(self) -> str:
        bits = (self.high + 1).bit_length() - 1
        high = f"2**{bits} - 1" if bits >= 31 and self.high == 2**bits - 1 else f"{self.high:,}".replace(",", "_")
        return f"an integer in [{self.low}, {high}]" + (" or none" if self.optional else "")


@dataclass(frozen=True)
class Float(Kind):
    """A finite real number from ``low`` up to ``high`` (each end open or closed; no ``high``: unbounded above)."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    expects = "a number"

    def parse(self, text: str) -> Any:
        return float(text)

    def check(self, name: str, value: Any) -> Any:
        if not _is_number(value):
            raise self._refuse(name, value, self._requirement())
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            beyond = f"a finite number {self._requirement()} (this one is beyond float64's range)"
            raise self._refuse(name, value, beyond) from None
        above = number > self.low if self.low_open else number >= self.low
        below = number < self.high if self.high_open else number <= self.high
        if not (math.isfinite(number) and above and below):
            finite = "" if math.isfinite(number) else "a finite number "
            raise self._refuse(name, value, finite + self._requirement())
        return number

    def _requirement(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


_TRUTH = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


@dataclass(frozen=True)
class Bool(Kind):
    expects = "true or false"

    def parse(self, text: str) -> Any:
        return _TRUTH[text.lower()]

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, (bool, np.bool_)):
            raise self._refuse(name, value)
        return bool(value)

    def to_text(self, value: Any) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class _Named(Kind):
    """A kind whose values are names out of ``choices`` (a tuple, or ``"module:NAME"``: see :func:`_lookup`)."""

    choices: tuple | str = ()

    def names(self) -> list[str]:
        return _lookup(self.choices)


@dataclass(frozen=True)
class Choice(_Named):
    """One name out of ``choices``."""

    @property
    def expects(self) -> str:  # type: ignore[override]
        return f"one of {', '.join(self.names())}"

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str) or value not in self.names():
            raise self._refuse(name, value)
        return value

    def metavar(self) -> str:
        return "{" + ",".join(self.names()) + "}"


@dataclass(frozen=True)
class Sizes(Kind):
    """Layer sizes: positive integers, ``1024,512`` (text) or ``[1024, 512]`` (JSON); ``none``: no layer."""

    high: int = MAX_LAYER_SIZE  # a sanity bound; whether a net fits in memory is checked against the machine
    layers: bool = False  # hidden layer sizes: their count is held to autonet.memory's one rule

    expects = "comma-separated positive integers, e.g. 300 or 1024,512"

    def parse(self, text: str) -> Any:
        return () if text.lower() == "none" else tuple(Int().parse(part.strip()) for part in text.split(","))

    def check(self, name: str, value: Any) -> Any:
        value = self._from_text_if_text(name, value)
        if _is_number(value):
            value = (value,)
        if not isinstance(value, (list, tuple)):
            raise self._refuse(name, value)
        if self.layers:
            check_layer_count(len(value), f"{name} gives")
        item = Int(1, self.high)
        try:
            return tuple(item.check(name, v) for v in value)
        except ConfigError:
            raise ConfigError(f"{name} must be positive integers up to {self.high}, got {_show(value)}") from None

    def metavar(self) -> str:
        return "H[,H...]"


@dataclass(frozen=True)
class Names(_Named):
    """A subset of ``choices`` in a given order: ``flip,crop``; ``none`` (or empty) for no name."""

    @property
    def expects(self) -> str:  # type: ignore[override]
        return f"comma-separated names out of {', '.join(self.names())}, or none"

    def from_text(self, text: str) -> Any:
        return () if isinstance(text, str) and not text.strip() else super().from_text(text)

    def parse(self, text: str) -> Any:
        return tuple(n.strip() for n in text.split(",") if n.strip() and n.strip().lower() != "none")

    def check(self, name: str, value: Any) -> Any:
        value = self._from_text_if_text(name, value)
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise self._refuse(name, value)
        bad = [v for v in value if v not in self.names()]
        if bad:
            raise ConfigError(
                f"{name} must be a comma-separated subset of {', '.join(self.names())}, got {_show(bad[0])}"
            )
        return tuple(value)

    def metavar(self) -> str:
        return ",".join(self.names())


@dataclass(frozen=True)
class PathText(Kind):
    """A file-system path (any non-empty text, kept as written), or None (not set)."""

    expects = "a path"
    optional = True

    def from_text(self, text: str) -> Any:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"expected {self.expects}, got {_show(text)}")
        return text

    def check(self, name: str, value: Any) -> Any:
        if value is None and self.optional:
            return None
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not value.strip() or "\0" in value:
            raise self._refuse(name, value)
        return value

    def metavar(self) -> str:
        return "DIR"


@dataclass(frozen=True)
class Dataset(PathText):
    """A dataset name (out of ``choices``, as :func:`_lookup` reads them) or the path of an ``.npz`` file:
    any other non-empty text."""

    choices: str = ""
    optional = False

    @property
    def expects(self) -> str:  # type: ignore[override]
        return f"one of {', '.join(_lookup(self.choices))} or the path of an .npz file"

    def metavar(self) -> str:
        return "NAME_OR_FILE"


# ----- the option metadata and the schema -----

NET, DATA, TRAIN, DEEP = "network", "data", "training", "deep nets (docs/deep.md)"
ACCURACY = "accuracy options (docs/deep.md; off by default; --preset best turns on the moving average and flips)"


@dataclass(frozen=True)
class Option:
    """What a :class:`Config` field's metadata says about it.

    help : one line for ``--help`` (the default is appended there)
    kind : a :class:`Kind`
    aliases : other accepted names (flags ``--alias``, ``alias=`` in ``--grid``, space files, config files)
    group : the ``--help`` section
    record : written to ``config.json`` (False for how a run reports, not what it computes)
    flag : has an ``autonet train`` flag
    search : may be varied by a sweep (the data options cannot: a sweep loads the data once)
    """

    help: str
    kind: Kind
    aliases: tuple[str, ...] = ()
    group: str = TRAIN
    record: bool = True
    flag: bool = True
    search: bool = True


def _opt(default: Any, kind: Kind, help: str, **kw: Any) -> Any:
    """A :class:`Config` field: its default and its :class:`Option`."""
    return field(default=default, metadata={"option": Option(help, kind, **kw)})


# the fields of one --help section, and the options that are not computation (print_every, progress)
_net_opt = partial(_opt, group=NET)
_data_opt = partial(_opt, group=DATA, search=False)  # a sweep loads the data once, for every trial
_deep_opt = partial(_opt, group=DEEP)
_accuracy_opt = partial(_opt, group=ACCURACY)
_report_opt = partial(_opt, record=False, flag=False, search=False)  # how a run reports, not what it computes

DTYPES = {"float32": np.float32, "float64": np.float64}
SAMPLING = ("replacement", "epoch")
FRACTION = Float(0.0, 1.0, high_open=True)  # [0, 1)
NONNEGATIVE = Float(0.0)
POSITIVE = Float(0.0, low_open=True)


@dataclass(frozen=True)
class Config:
    """Every option of one run; the defaults are the cs231n two-layer exercise's best recipe (3072-300-10).

    Build one with keyword arguments, :meth:`from_dict` (a config file; aliases
    accepted, unknown keys refused) or :func:`preset`; it is validated once, on
    construction, and immutable (:meth:`replace` makes a validated copy).
    """

    backend: str = _net_opt("manual", Choice("autonet.backends:available_backends"), "where gradients come from")
    hidden: tuple = _net_opt((300,), Sizes(layers=True), "hidden layer sizes, comma-separated, e.g. 1024,1024,512")
    activation: str = _net_opt("relu", Choice("autonet.manual.layers:ACTIVATIONS"), "hidden nonlinearity")
    init: str = _net_opt(
        "std", Choice("autonet.net:INITS"), "weight init: std (N(0, std^2), the exercise's), he, xavier"
    )
    std: float = _net_opt(1e-4, POSITIVE, "weight std for --init std")
    dtype: str = _net_opt(
        "float32", Choice(tuple(DTYPES)), "float32 for speed, float64 for exact comparisons", search=False
    )
    dataset: str = _data_opt(
        "cifar10",
        Dataset("autonet.data:DATASETS"),
        "cifar10, mnist, fashion-mnist (the official files, "
        "downloaded and checksum-verified on first use), or FILE.npz holding X_train, y_train "
        "and optionally X_test, y_test, class_names",
    )
    num_val: int = _data_opt(1000, Int(1, 10**7), "validation split = the last NUM_VAL training images")
    num_train: int | None = _data_opt(
        None, Int(1, 10**8, optional=True), "use only the first NUM_TRAIN training images (none: all)"
    )
    data_dir: str | None = _data_opt(
        None,
        PathText(),
        "folder holding (or being) cifar-10-batches-py, or holding "
        "mnist/ or fashion-mnist/; unset: $AUTONET_DATA, else the user cache (downloaded "
        "on first use)",
    )
    learning_rate: float = _opt(1.6e-3, POSITIVE, "initial (peak) learning rate", aliases=("lr",))
    learning_rate_decay: float = _opt(
        0.90,
        Float(0.0, 1.0, low_open=True),
        "lr multiplier per epoch (--schedule decay) or per step (step), in (0, 1]",
        aliases=("lr_decay",),
    )
    reg: float = _opt(1e-2, NONNEGATIVE, "L2 strength: loss += 0.5 * reg * sum ||W||^2")
    num_iters: int = _opt(1600, Int(1, 10**9), "minibatch iterations in all")
    batch_size: int = _opt(400, Int(1, 10**10), "rows per minibatch")
    sampling: str = _opt(
        "replacement", Choice(SAMPLING), "minibatch rows drawn with replacement (the exercise's) or shuffled epochs"
    )
    update: str = _opt("sgd", Choice("autonet.optim:UPDATE_RULES"), "update rule (autonet.optim)")
    seed: int | None = _opt(
        0,
        Int(0, 2**64 - 1, optional=True),
        "seed of the init, minibatches, dropout and augmentation (none: fresh entropy)",
    )
    batchnorm: bool = _deep_opt(False, Bool(), "batch normalisation after every hidden affine layer")
    preprocess: str = _deep_opt(
        "mean",
        Choice("autonet.preprocess:PREPROCESS"),
        "input map fitted on the training split: mean "
        "(subtract the mean image), standardize (per channel), pca, zca (whitening)",
    )
    whiten_eps: float = _deep_opt(10.0, POSITIVE, "pca/zca regulariser, relative to the mean eigenvalue")
    pca_components: int = _deep_opt(
        256, Int(1, 10**7), "dimensions kept by --preprocess pca (at most the input's; checked when PCA is fitted)"
    )
    schedule: str = _deep_opt(
        "decay",
        Choice("autonet.schedules:SCHEDULES"),
        "learning-rate schedule: decay (x decay per epoch), "
        "step (x decay every --step-epochs), cosine (to 0 at the end), constant",
    )
    step_epochs: int = _deep_opt(10, Int(1, 10**6), "epochs between drops of --schedule step")
    warmup: float = _deep_opt(0.0, Float(0.0, 1e6), "linear learning-rate warm-up, in epochs")
    momentum: float = _deep_opt(0.9, FRACTION, "mu of --update momentum/nesterov")
    weight_decay: float = _deep_opt(0.0, NONNEGATIVE, "decoupled weight decay of the W's, for --update adamw")
    dropout: float = _deep_opt(0.0, FRACTION, "probability of dropping a hidden unit in training")
    label_smoothing: float = _deep_opt(0.0, FRACTION, "eps of the targets (1 - eps) * one_hot + eps / C")
    bn_momentum: float = _deep_opt(0.9, FRACTION, "running-statistics momentum of batch norm")
    augment: tuple = _deep_opt(
        (),
        Names("autonet.augment:AUGMENTATIONS"),
        "random training-image changes: flip (mirror), crop "
        "(shift by up to --crop-padding pixels), comma-separated, or none",
    )
    crop_padding: int = _deep_opt(4, Int(0, 32), "largest shift of --augment crop, in pixels")
    mixup: float = _accuracy_opt(
        0.0,
        Float(0.0, 100.0),
        "mixup: train on each batch blended with a permutation of "
        "itself, weight ~ Beta(alpha, alpha), against the blended targets; alpha (0: off)",
    )
    cutmix: float = _accuracy_opt(
        0.0,
        Float(0.0, 100.0),
        "cutmix: paste a random box of a partner image, targets "
        "weighted by its area; alpha of Beta(alpha, alpha) (0: off); with --mixup, each batch "
        "picks one",
    )
    ema_decay: float = _accuracy_opt(
        0.0,
        FRACTION,
        "evaluate and save an exponential moving average of the weights with this decay, e.g. 0.999 (0: off)",
    )
    tta: str = _accuracy_opt(
        "none",
        Choice("autonet.net:TTA_MODES"),
        "test-time augmentation: flip scores each image as the mean "
        "with its mirror, in validation, the summary and the saved model",
    )
    early_stopping: int = _opt(
        0,
        Int(0, 10**6),
        "stop after this many epochs without a better validation accuracy, and keep the best "
        "epoch's weights (also written to best_model.npz); 0: off",
    )
    train_acc_samples: int = _opt(
        1000, Int(1, 10**8), "training rows scored for the per-epoch train accuracy", flag=False
    )
    print_every: int = _report_opt(0, Int(0, 10**9), "print the loss every this many iterations (0: never)")
    progress: bool = _report_opt(
        True, Bool(), "progress while training (a bar in a terminal or notebook, a line per epoch otherwise)"
    )

    def __post_init__(self) -> None:
        _validate(self)

    # ----- conversions -----

    def to_dict(self) -> dict:
        """The recorded options as JSON values (``config.json``); tuples become lists."""
        return {n: option(n).kind.to_json(getattr(self, n)) for n in names(record=True)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "config") -> Config:
        """A config from a mapping (a parsed ``config.json``); aliases accepted, unknown keys refused."""
        return cls(**canonical_keys(d, source))

    def replace(self, **changes: Any) -> Config:
        """A validated copy with ``changes`` (aliases accepted)."""
        return replace(self, **canonical_keys(changes, "replace"))

    def describe(self) -> str:
        """``name=value`` for the options that differ from the defaults, in their text spelling."""
        changed = [n for n in names(record=True) if getattr(self, n) != default(n)]
        return " ".join(f"{n}={option(n).kind.to_text(getattr(self, n))}" for n in changed)


def _validate(cfg: Config) -> None:
    """Check and normalise every field, then the rules between fields (ConfigError naming the field)."""
    for f in fields(cfg):
        value = option(f.name).kind.check(f.name, getattr(cfg, f.name))
        object.__setattr__(cfg, f.name, value)
    for name in image_options(cfg) if cfg.preprocess == "pca" else []:  # refused: the first set, by name
        why = "cannot be flipped or cropped" if name == "augment" else "are not images"
        raise ConfigError(f"{name} needs image rows; PCA-reduced rows {why} (use preprocess zca or standardize)")


# options added to the schema after run directories were first written (config.json, checkpoints,
# sweep trial names): left out of identities while at their defaults, so earlier runs still match
LATER_OPTIONS = ("activation", "dataset", "train_acc_samples", "mixup", "cutmix", "ema_decay", "tta", "early_stopping")


def identity(config: Mapping[str, Any]) -> dict:
    """A recorded config dict without ``data_dir`` and without :data:`LATER_OPTIONS` at their defaults.

    What a checkpoint or a sweep trial is identified by: the same computation
    reads the same data from wherever it is.
    """
    return {
        k: v
        for k, v in config.items()
        if k != "data_dir" and not (k in LATER_OPTIONS and v == option(k).kind.to_json(default(k)))
    }


# ----- the schema, queried -----

_FIELDS = {f.name: f for f in fields(Config)}


def option(name: str) -> Option:
    """The :class:`Option` of field ``name``."""
    return _FIELDS[name].metadata["option"]


def default(name: str) -> Any:
    """The default of field ``name`` (every field has a plain default: the schema has no factories)."""
    return _FIELDS[name].default


def names(**where: bool) -> list[str]:
    """Field names in schema order, e.g. ``names(record=True)``, ``names(search=True)``."""
    return [n for n in _FIELDS if all(getattr(option(n), k) == v for k, v in where.items())]


ALIASES = {alias: name for name in _FIELDS for alias in option(name).aliases}


def canonical(key: str) -> str | None:
    """The field a key names (``lr`` -> ``learning_rate``, ``num-iters`` -> ``num_iters``), or None."""
    if not isinstance(key, str):
        return None
    key = key.strip().replace("-", "_")
    return key if key in _FIELDS else ALIASES.get(key)


def canonical_keys(d: Mapping[str, Any], source: str, allowed: Iterable[str] | None = None) -> dict:
    """``d`` with every key a field name; ConfigError naming an unknown or repeated key."""
    allowed = set(_FIELDS if allowed is None else allowed)
    out: dict = {}
    for key, value in d.items():
        name = canonical(key)
        if name is None or name not in allowed:
            raise ConfigError(f"{source}: unknown key {_show(key)}; known keys: {', '.join(sorted(allowed))}")
        if name in out:
            raise ConfigError(f"{source}: {name} given twice (as {key!r} and another spelling)")
        out[name] = value
    return out


def parse_value(name: str, text: str, label: str | None = None, kind: Kind | None = None) -> Any:
    """The value of field ``name`` spelled ``text`` (a flag, ``--grid``), checked alone (ConfigError).

    ``label`` names the value's source in a syntax error (default: ``name``), e.g. ``--lr``;
    ``kind``: the value's :class:`Kind` when ``name`` is no field (a sweep's ``epochs``).
    """
    kind = option(name).kind if kind is None else kind
    try:
        value = kind.from_text(text)
    except ValueError as e:
        raise ConfigError(f"{label or name}: {e}") from None
    return kind.check(name, value)


def check_value(name: str, value: Any) -> Any:
    """A JSON/TOML value of field ``name`` checked alone (the rules between fields apply at Config())."""
    return option(name).kind.check(name, value)


# ----- presets: named recipes that flags and config files modify -----

PRESETS: dict[str, dict] = {
    # the exercise's two-layer net: the defaults (3072-300-10, std 1e-4, SGD lr 1.6e-3 x0.90 per epoch,
    # reg 1e-2, 1600 iterations of batch 400: 13 epochs)
    "seed": {},
    # the best fully-connected recipe found (docs/deep.md) within 30 minutes of training on
    # the slower of the 2-core machines measured (AVX2): 11,000 iterations (~57 epochs), shifts of up to
    # 2 pixels (4 pay only in longer runs), a moving average of the weights, test-time flips:
    # 69.9% val, 28.2 min there (13,500 iterations: 71.9% on 5,000 held-out images, 33 min)
    "best": {
        "hidden": (2048, 1024, 512),
        "init": "he",
        "batchnorm": True,
        "preprocess": "zca",
        "whiten_eps": 10.0,
        "update": "adamw",
        "learning_rate": 1e-3,
        "weight_decay": 0.05,
        "reg": 0.0,
        "schedule": "cosine",
        "warmup": 1.0,
        "dropout": 0.2,
        "label_smoothing": 0.1,
        "augment": ("flip", "crop"),
        "crop_padding": 2,
        "sampling": "epoch",
        "batch_size": 256,
        "num_iters": 11_000,
        "ema_decay": 0.999,
        "tta": "flip",
    },
}
# one hidden layer, no augmentation: the measured two-layer recipe of docs/deep.md within 5 minutes of
# training on the AVX2 machine: 2,000 units at dropout 0.6, 3,300 batches of 200, 256.9 s there (4,000
# batches: 59.1% on 5,000 validation images, 4,000 units at 0.7 cut to a similar time 58.2%; 323 s)
PRESETS["two-layer"] = {
    **PRESETS["best"],
    "ema_decay": 0.0,  # measured: no gain here (docs/deep.md)
    "tta": "none",  # no augmentation, at test time either
    "hidden": (2000,),
    "augment": (),
    "dropout": 0.6,
    "weight_decay": 0.1,
    "batch_size": 200,
    "num_iters": 3_300,
}


# ----- the defaults on other data -----

# The exercise's recipe (the defaults above) is tuned to CIFAR-10: 49,000 images of 0..255 pixels, a tiny
# init and plain SGD with a per-epoch decay. On other data it can learn nothing (scikit-learn's digits:
# chance). Any other dataset gets, for the options a user leaves unset, this general recipe, which is also
# MLPClassifier's default (the one scikit-learn's MLPClassifier uses: He init, Adam at a constant 1e-3,
# L2 1e-4, batches of min(200, rows)).
GENERAL_RECIPE = {"init": "he", "update": "adam", "learning_rate": 1e-3, "reg": 1e-4, "schedule": "constant"}
MAX_BATCH, MAX_VAL, VAL_FRACTION = 200, 1000, 0.1
DEFAULTS_RULE = (
    "CIFAR-10 trains the cs231n exercise's recipe (the defaults shown). Any other dataset, for the options "
    "not given: validation = the last 10% of the rows (at most 1,000), batch = min(200, training rows), "
    "He init, Adam at a constant learning rate of 1e-3, reg 1e-4"
)


def fitted_to_rows(n_rows: int, num_train: int | None = None) -> dict:
    """The defaults for a dataset of ``n_rows`` labelled rows other than CIFAR-10 (:data:`DEFAULTS_RULE`)."""
    num_val = max(1, min(MAX_VAL, round(VAL_FRACTION * n_rows)))
    n_train = n_rows - num_val if num_train is None else min(num_train, n_rows - num_val)
    return {**GENERAL_RECIPE, "num_val": num_val, "batch_size": max(1, min(MAX_BATCH, n_train))}


def preset(name: str, **overrides: Any) -> Config:
    """The :data:`PRESETS` entry ``name`` with ``overrides`` laid over it, validated once."""
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {_show(name)}")
    return Config(**{**PRESETS[name], **canonical_keys(overrides, "preset")})
