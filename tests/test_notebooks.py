"""The notebooks in ``notebooks/`` run top to bottom, and are committed executed.

Each notebook is executed afresh, in memory, in a kernel running this
interpreter (``notebooks/run_notebooks.py``'s ``execute_notebook``, nbclient) with the
small data budget (``AUTONET_NB_BUDGET=small``): every cell must finish without
an exception, and the notebooks assert their own numeric checks. The committed
files are never written here; ``python notebooks/run_notebooks.py`` re-executes them
in place. Deselect with ``-m "not notebooks"``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "notebooks"))  # the developers' notebook runner
from run_notebooks import NOTEBOOK_DIR  # noqa: E402

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
MAX_BYTES = 2_000_000  # executed, with PNG figures; a notebook beyond this is carrying something it should not
OUTSIDE = re.compile(r"\.\./shared|/work/|shared/seed|/home/|/tmp/")  # paths that exist on one machine only


@pytest.fixture(scope="module")
def kernel_name():
    pytest.importorskip("nbclient", reason="notebook tests need the [notebooks] extra")
    pytest.importorskip("ipykernel", reason="notebook tests need the [notebooks] extra")
    from run_notebooks import this_python_kernel

    with this_python_kernel() as name:
        yield name


def test_the_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS][:3] == [
        "01_derivation.ipynb",
        "02_two_layer_exercise.ipynb",
        "03_n_layer_recursion.ipynb",
    ]


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, kernel_name):
    from run_notebooks import execute_notebook

    for module in json.loads(path.read_text(encoding="utf-8"))["metadata"].get("autonet", {}).get("requires", []):
        pytest.importorskip(module, reason=f"{path.name} needs {module} (pip install -e '.[test]')")

    before = path.read_bytes()
    nb = execute_notebook(path, kernel_name, budget="small")  # a failing cell raises CellExecutionError
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert path.read_bytes() == before  # the committed notebook is not written by the tests


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_executed(path):
    """Every code cell ran, in order, in one kernel, without an error; numbers and figures are in the file."""
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts}; re-execute it top to bottom: python notebooks/run_notebooks.py {path.stem}"
    )
    outputs = [o for c in code for o in c["outputs"]]
    assert not [o for o in outputs if o["output_type"] == "error"], f"{path.name} was committed with an error"
    assert any(o["output_type"] in ("stream", "execute_result") for o in outputs), f"{path.name} shows no numbers"


def test_the_figures_are_committed():
    figures = {
        p.name: sum(
            "image/png" in o.get("data", {}) for c in _cells(p) if c["cell_type"] == "code" for o in c["outputs"]
        )
        for p in NOTEBOOKS
    }
    assert figures["02_two_layer_exercise.ipynb"] >= 6, figures


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_refer_to_nothing_outside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    hits = sorted({m.group(0) for m in OUTSIDE.finditer(text)})
    assert not hits, f"{path.name} refers to {hits}"
