"""Flags shared by several subcommands, derived from the one schema (:mod:`autonet.config`).

Every :class:`~autonet.config.Config` option with ``flag=True`` becomes a flag
``--name-with-dashes`` (plus ``--alias`` for each alias) whose help ends with
its default. A flag not given is absent from the namespace, so
:func:`config_from_args` lays exactly the given flags over ``--config FILE`` or
``--preset``. Values are parsed by the schema (:func:`autonet.config.parse_value`),
so a value is spelled the same on the command line, in ``--grid`` and in a
config file, and a bad one is a one-line error naming the option.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path
from typing import Any

from autonet.config import PRESETS, Bool, Config, canonical_keys, check_value, default, names, option, parse_value
from autonet.data import DATASETS, load_dataset
from autonet.errors import ConfigError, DataError
from autonet.run import read_json_object

CONFIG_FILE_LIMIT = 1 << 20  # bytes; a config.json is about 1 KB


def _number_type(parse, accept, expected: str):
    """An argparse ``type=`` for flags that are not config options (``--jobs``, ``--dpi``, ``--sizes``, ...)."""

    def convert(text: str):
        try:
            value = parse(text) if text.isascii() else None
        except (ValueError, OverflowError):
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    convert.__name__ = expected.replace(" ", "_")  # argparse names the type in some messages
    return convert


positive_int = _number_type(int, lambda v: v > 0, "a positive integer")
nonnegative_int = _number_type(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number_type(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
nonnegative_float = _number_type(float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")


def positive_int_at_most(high: int):
    """An argparse ``type=``: a positive integer of at most ``high`` (a bound on a resource)."""

    def convert(text: str) -> int:
        value = positive_int(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"expected an integer in [1, {high}], got {text!r}")
        return value

    return convert


def int_list(text: str) -> tuple[int, ...]:
    """``"1024,512"`` -> ``(1024, 512)``; every entry a positive integer."""
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not parts:
        raise argparse.ArgumentTypeError("expected comma-separated positive integers, e.g. 300 or 1024,512")
    return tuple(positive_int(p) for p in parts)


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def help_text(name: str) -> str:
    """The option's help line with its default, once: ``... (default: 0.0016)``; a switch's is on or off."""
    opt, value = option(name), default(name)
    if value is None and name == "data_dir":
        return opt.help
    shown = ("on" if value else "off") if isinstance(opt.kind, Bool) else opt.kind.to_text(value)
    return f"{opt.help} (default: {shown})"


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """``--preset``, ``--config`` and one flag per :class:`Config` option, grouped as the schema groups them."""
    base = parser.add_argument_group("starting point")
    base.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=argparse.SUPPRESS,
        help="the recipe the other flags modify: seed (the cs231n exercise's two-layer net: the defaults "
        "shown below, on any dataset), best (the best fully-connected recipe within 30 min on 2 cores, docs/deep.md: 11,000 "
        "iterations, 69.9%% val in 28.2 min on a 2-core AVX2 VM) or two-layer (one hidden layer, "
        "no augmentation: 3072-2000-10, 3,300 iterations, 58.6%% val in 4.3 min) (default: seed on "
        "CIFAR-10; on other data, the rule in the description above)",
    )
    base.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="start from a saved config.json (e.g. RUN_DIR/config.json) instead of a preset; "
        "flags given as well change it",
    )
    groups: dict[str, Any] = {}
    for name in names(flag=True):  # raw text, absent unless given; parsed by config_from_args
        opt = option(name)
        if opt.group not in groups:
            groups[opt.group] = parser.add_argument_group(opt.group)
        switch = isinstance(opt.kind, Bool)
        groups[opt.group].add_argument(
            *(flag_name(n) for n in (name, *opt.aliases)),
            dest=name,
            default=argparse.SUPPRESS,
            help=help_text(name),
            **({"action": argparse.BooleanOptionalAction} if switch else {"metavar": opt.kind.metavar()}),
        )


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress and no chatter")


def add_data_arguments(parser: argparse.ArgumentParser, num_val_default: str) -> None:
    """``--dataset``, ``--data-dir``, ``--num-val`` and ``--quiet`` for commands that score a saved model.

    ``num_val_default``: what ``--num-val`` defaults to, in words.
    """
    dataset_help = f"{option('dataset').help} (default: the dataset the model was trained on)"
    parser.add_argument("--dataset", metavar="NAME_OR_FILE", help=dataset_help)
    parser.add_argument("--data-dir", metavar="DIR", help=help_text("data_dir"))
    num_val_help = f"{option('num_val').help} (default: {num_val_default})"
    parser.add_argument("--num-val", metavar="N", help=num_val_help)
    add_quiet_argument(parser)


def data_source(args: argparse.Namespace, config: dict, model_dataset: str | None) -> tuple[str, str | None, int]:
    """``(dataset, data_dir, num_val)`` of a command that re-reads a run's data: its flags, else the run's own.

    Without flags, the run's ``config.json`` gives the dataset (an ``.npz`` by its
    full path), the data folder and ``num_val``, so the validation rows are the
    ones the run itself was scored on.
    """
    data_dir = args.data_dir if args.data_dir is not None else config.get("data_dir")
    if args.num_val is not None:
        num_val = parse_value("num_val", args.num_val, label="--num-val")
    else:
        num_val = check_value("num_val", config.get("num_val") or default("num_val"))
    source = args.dataset or config.get("dataset") or model_dataset or "cifar10"
    return source, (None if data_dir is None else check_value("data_dir", data_dir)), num_val


class ClassMismatch(DataError):
    """The model's classes are not the data's: an error, never a reason to skip (``autonet plot``)."""


def model_split(args: argparse.Namespace, model: Any, config: dict, split: str = "val", **load: Any) -> tuple:
    """``(data, source, X, y)``: the raw rows of ``split`` of the data a saved model scores (:func:`data_source`).

    ``load``: more options of :func:`autonet.data.load_dataset` (``quiet``,
    ``download``). DataError when the split is missing or the rows do not fit
    the model (:class:`ClassMismatch` for other classes).
    """
    source, data_dir, num_val = data_source(args, config, model.dataset)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if split == "val" else "default")  # "no test_batch": irrelevant for val
        data = load_dataset(
            source, data_dir, num_val=num_val, num_train=1, dtype=model.params["W1"].dtype, subtract_mean=False, **load
        )
    X, y = (data.X_val, data.y_val) if split == "val" else (data.X_test, data.y_test)
    if X is None or y is None:
        raise DataError(f"no test split: {source} at {data.data_dir} has none")
    if X.shape[1] != model.layer_sizes[0]:
        raise DataError(f"model expects {model.layer_sizes[0]} inputs, data has {X.shape[1]} ({source})")
    if len(data.class_names) != len(model.class_names):
        raise ClassMismatch(f"model has {len(model.class_names)} classes, {source} has {len(data.class_names)}")
    return data, source, X, y


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The config options given as flags, parsed: ``{name: value}``."""
    given = {name: getattr(args, name) for name in names(flag=True) if hasattr(args, name)}
    return {n: v if isinstance(v, bool) else parse_value(n, v, label=flag_name(n)) for n, v in given.items()}


def unset_options(args: argparse.Namespace) -> set[str]:
    """The options the default recipe would set: neither given as flags nor by ``--config`` or ``--preset``."""
    if hasattr(args, "config") or hasattr(args, "preset"):
        return set()
    return {name for name in names() if not hasattr(args, name)}


def read_config_file(path: str | os.PathLike) -> dict:
    """The options of a saved ``config.json`` (a regular file: a FIFO would block), keys canonical.

    ConfigError naming the file when it is missing, too large, not a JSON object, or has an unknown key.
    """
    return canonical_keys(read_json_object(path, "config file", limit=CONFIG_FILE_LIMIT), f"config file {path}")


def config_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--config FILE`` or ``--preset`` (default: seed) with every flag given laid over it (not validated)."""
    if hasattr(args, "config") and hasattr(args, "preset"):
        raise ConfigError("give --config FILE or --preset, not both (flags modify either)")
    start = read_config_file(args.config) if hasattr(args, "config") else PRESETS[getattr(args, "preset", "seed")]
    given = given_options(args)
    if "dataset" in given and given["dataset"] not in DATASETS:  # a file: absolute, so a resume finds it too
        given["dataset"] = str(Path(given["dataset"]).expanduser().resolve())
    return {**start, **given}


def config_from_args(args: argparse.Namespace, **overrides: Any) -> Config:
    """:func:`config_options` with ``overrides``, as a :class:`Config`.

    The one place the command line becomes a :class:`Config`: validated here, once.
    """
    return Config(**{**config_options(args), **overrides})
