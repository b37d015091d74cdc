"""Sphinx configuration of autonet's site: the Markdown of README and docs/, the notebooks with
their committed outputs, the API reference from the docstrings and the CLI reference from the parser.

Build (from the repository root, with the ``docs`` extra installed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import autonet  # the installed package: pip install -e ".[docs]"

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))  # cli_help: the CLI reference

project = "autonet"
author = "autonet contributors"
copyright = "autonet contributors"
release = version = autonet.__version__

extensions = [
    "myst_nb",  # Markdown (myst-parser) and notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "cli_help",  # the CLI reference: each command's --help, from autonet.cli.build_parser()
    "sphinx-mathjax-offline",  # MathJax 3 copied into the site: the pages typeset equations offline
]

# The notebooks live in notebooks/ (outside this source folder): copied in at build time and
# rendered with their committed outputs, never executed here (the test suite executes them).
NOTEBOOKS = ["01_derivation", "02_two_layer_exercise", "03_n_layer_recursion", "04_batchnorm",
             "05_check_your_own", "06_estimator"]  # fmt: skip
(DOCS / "notebooks").mkdir(exist_ok=True)
for name in NOTEBOOKS:
    source, copy = ROOT / "notebooks" / f"{name}.ipynb", DOCS / "notebooks" / f"{name}.ipynb"
    if not copy.exists() or copy.read_bytes() != source.read_bytes():
        shutil.copyfile(source, copy)
nb_execution_mode = "off"
nb_merge_streams = True

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}  # .rst: autosummary's pages
exclude_patterns = ["_build", "_templates", "_ext", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 4  # README's in-page links (#a-scikit-learn-estimator-...) resolve
# Pages that include a part of README.md start at its "##" or "###" level under their own title.
suppress_warnings = ["myst.header"]

autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types; signatures stay short
numpydoc_show_class_members = False  # autodoc's :members: documents them; no second stub table
numpydoc_validation_checks: set[str] = set()

html_theme = "alabaster"
html_theme_options = {"page_width": "1200px", "sidebar_width": "250px"}  # 80-column --help fits unscrolled
html_title = f"autonet {version}"
html_static_path: list[str] = []
nitpicky = False


def skip_type_aliases(app, what, name, obj, skip, options):
    """Aliases such as ``Headers = dict[str, ...]`` read as classes to autodoc, which cannot sign them; and
    members inherited from scikit-learn (``set_fit_request`` ...), documented by scikit-learn, whose
    docstrings point into its own glossary."""
    if isinstance(obj, types.GenericAlias) or (getattr(obj, "__module__", None) or "").startswith("sklearn"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_type_aliases)
    app.set_html_assets_policy("always")  # MathJax on every page: the sidebar has math in titles ("to $L$")
