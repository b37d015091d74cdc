"""Argument types and flags shared by several subcommands."""

from __future__ import annotations

import argparse
import math


def _number_type(parse, accept, expected: str):
    """An argparse ``type=``: ``parse(text)``, refused with "expected <expected>" unless ``accept(value)``."""

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
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


def int_list(text: str) -> tuple[int, ...]:
    """``"1024,512"`` -> ``(1024, 512)``; every entry a positive integer."""
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not parts:
        raise argparse.ArgumentTypeError("expected comma-separated positive integers, e.g. 300 or 1024,512")
    return tuple(positive_int(p) for p in parts)


DATASET_HELP = ("cifar10, mnist, fashion-mnist (the official files, downloaded and checksum-verified on first "
                "use), or FILE.npz holding X_train, y_train and optionally X_test, y_test, class_names")


def add_dataset_argument(parser: argparse.ArgumentParser, default_help: str) -> None:
    """``--dataset NAME_OR_FILE`` (absent from the namespace's meaning: see ``default_help``)."""
    parser.add_argument("--dataset", default=None, metavar="NAME_OR_FILE", help=f"{DATASET_HELP} ({default_help})")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="folder holding (or being) cifar-10-batches-py, or holding mnist/ or "
                             "fashion-mnist/; default: $AUTONET_DATA, else the user cache (downloaded on first use)")
    parser.add_argument("--num-val", type=positive_int, default=1000,
                        help="validation split = the last NUM_VAL training images (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or chatter")
