"""``autonet`` command line: one subcommand per module of this package.

Each command module (``autonet.cli.train``, ``.evaluate``, ``.gradcheck``, ``.check``,
``.grade``, ``.plot``, ``.sweep``, ``.download``) exposes ``register(subparsers)``, which adds its parser
and sets ``func`` to a function ``(args) -> int`` (the exit status); flags and
argument types shared by several commands live in :mod:`autonet.cli.common`.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from autonet import __version__
from autonet.errors import AutonetError

COMMANDS = ("train", "evaluate", "gradcheck", "check", "grade", "plot", "sweep", "download")


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, with a "did you mean" for a mistyped flag or command.

    No wall of usage before the line that matters. Python >= 3.14 suggests
    close choices itself (``suggest_on_error``); before, :mod:`difflib` does.
    """

    def __init__(self, *args, **kwargs) -> None:
        if sys.version_info >= (3, 14):
            kwargs.setdefault("suggest_on_error", True)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}{self.suggestion(message)} (see {self.prog} --help)\n")

    def suggestion(self, message: str) -> str:
        """``"; did you mean X?"`` for an unknown flag or an invalid choice in ``message``, else ``""``."""
        match = re.search(r"invalid choice: '?([^' ]*)'? \(choose from (.*)\)", message) or re.search(
            r"(?:unrecognized arguments|ambiguous option): (--?[\w-]+)()", message
        )
        if "maybe you meant" in message or match is None:  # argparse suggested already, or nothing to suggest
            return ""
        candidates = match[2].replace("'", "").split(", ") if match[2] else list(self._option_string_actions)
        close = difflib.get_close_matches(match[1], candidates, n=1, cutoff=0.6)
        return f"; did you mean {close[0]}?" if close else ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="autonet", description="Fully-connected nets on CIFAR-10, with hand-derived and autograd gradients."
    )
    parser.add_argument("--version", action="version", version=f"autonet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"autonet.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the subcommand's parser, which knows its flags
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
        commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for "resume with: ..." hints
    formatwarning = warnings.formatwarning
    warnings.formatwarning = lambda message, *_: f"autonet {args.command}: warning: {message}\n"  # no source line
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
