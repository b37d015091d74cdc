"""``autonet`` command line: one subcommand per module of this package.

Each command module (``autonet.cli.train``, ``.evaluate``, ``.gradcheck``, ``.check``,
``.grade``, ``.plot``, ``.sweep``, ``.download``) exposes ``register(subparsers)``, which adds its parser
and sets ``func`` to a function ``(args) -> int`` (the exit status); flags and
argument types shared by several commands live in :mod:`autonet.cli.common`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Sequence

from autonet import __version__
from autonet.errors import AutonetError

COMMANDS = ("train", "evaluate", "gradcheck", "check", "grade", "plot", "sweep", "download")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autonet",
        description="Fully-connected nets on CIFAR-10, with hand-derived and autograd gradients.",
    )
    parser.add_argument("--version", action="version", version=f"autonet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"autonet.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for "resume with: ..." hints
    formatwarning = warnings.formatwarning
    warnings.formatwarning = _one_line_warning(args.command)
    try:
        return int(args.func(args) or 0)
    except AutonetError as e:
        print(f"autonet {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except MemoryError as e:  # beyond the up-front estimates (autonet.memory): still one line
        print(f"autonet {args.command}: error: ran out of memory ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a command's own handling (train and sweep checkpoint first)
        print(f"autonet {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = formatwarning


def _one_line_warning(command: str):
    """``warnings.formatwarning`` for the command line: ``autonet CMD: warning: MESSAGE``, no source line."""

    def format_warning(message, category, filename, lineno, line=None) -> str:
        return f"autonet {command}: warning: {message}\n"

    return format_warning
