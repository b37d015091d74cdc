"""``.. autonet-cli::``: the ``--help`` of ``autonet`` and of each subcommand, from the parser itself.

One section per command (label ``cli-COMMAND``), its help text verbatim in a literal block: exactly
what ``autonet COMMAND --help`` prints, at a fixed width, so the page cannot drift from the command
and no help text is read as reStructuredText.
"""

from __future__ import annotations

import argparse
import os
from unittest import mock

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

WIDTH = "82"  # columns argparse wraps the help to (it leaves 2): a terminal's 80, no scrolling


def command_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    from autonet.cli import build_parser

    parser = build_parser()
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [("autonet", parser), *((f"autonet {name}", p) for name, p in sub.choices.items())]


class AutonetCli(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        sections: list[nodes.Node] = []
        with mock.patch.dict(os.environ, {"COLUMNS": WIDTH}):
            for title, parser in command_parsers():
                label = "cli" if title == "autonet" else f"cli-{title.split()[1]}"
                section = nodes.section(ids=[label], names=[label])
                section += nodes.title(title, title)
                text = parser.format_help()
                section += nodes.literal_block(text, text, language="text")
                self.state.document.note_explicit_target(section)  # :ref:`cli-train` and so on
                sections.append(section)
        return sections


def setup(app: Sphinx) -> dict[str, object]:
    app.add_directive("autonet-cli", AutonetCli)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
