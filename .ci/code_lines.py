"""Count the code lines of Python files: what a reader must hold in mind, without the prose.

A code line holds at least one token other than a comment; the lines of module,
class and function docstrings do not count, and blank lines never do. Strings
that are not docstrings (help texts, messages) count: they are code a reader
reads. Usage::

    python .ci/code_lines.py autonet            # one line per file, then the total
    python .ci/code_lines.py autonet --total    # the total only
"""

from __future__ import annotations

import argparse
import ast
import io
import tokenize
from pathlib import Path

_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def docstring_lines(source: str) -> set[int]:
    """Line numbers (1-based) of every module, class and function docstring in ``source``."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, _DOCUMENTED) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def code_lines(source: str) -> int:
    """How many lines of ``source`` hold code: a token other than a comment, outside docstrings."""
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in _NOT_CODE:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstring_lines(source))


def main() -> None:
    parser = argparse.ArgumentParser(description="Count the code lines of the Python files below each folder.")
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--total", action="store_true", help="print the total only")
    args = parser.parse_args()
    counts = {p: code_lines(p.read_text(encoding="utf-8")) for f in args.folders for p in sorted(f.rglob("*.py"))}
    if not args.total:
        for path, n in sorted(counts.items(), key=lambda item: item[1]):
            print(f"{n:6d} {path}")
    print(f"{sum(counts.values()):6d} total")


if __name__ == "__main__":
    main()
