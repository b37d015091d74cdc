"""The notebooks in ``notebooks/`` run top to bottom; committed ones are clean or fully executed.

Each notebook is executed in a fresh kernel by nbclient with the small data
budget (``AUTONET_NB_BUDGET=small``): every cell must finish without an
exception, and the notebooks assert their own numeric checks. A person running
them without that variable gets the full data. Deselect with ``-m "not notebooks"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL = "autonet-tests"
MAX_BYTES = 200_000  # a committed notebook, outputs included
EXECUTED = {"05_check_your_own.ipynb"}


@pytest.fixture(scope="module")
def kernel_name(tmp_path_factory):
    """A kernel spec that runs *this* interpreter, found first via JUPYTER_PATH.

    A user-level ``python3`` kernel could point at another Python without autonet.
    """
    pytest.importorskip("nbclient", reason="notebook tests need the [notebooks] extra")
    kernelspec = pytest.importorskip("ipykernel.kernelspec", reason="notebook tests need the [notebooks] extra")
    root = tmp_path_factory.mktemp("jupyter")
    kernelspec.write_kernel_spec(root / "kernels" / KERNEL, overrides={"display_name": "autonet tests"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root))
        yield KERNEL


def test_the_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS][:3] == [
        "01_derivation.ipynb", "02_two_layer_exercise.ipynb", "03_n_layer_recursion.ipynb"]


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path, kernel_name, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("AUTONET_NB_BUDGET", "small")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel_name, timeout=300,
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()  # a failing cell raises CellExecutionError with its source and traceback
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_committed_clean_or_fully_executed(path):
    """A committed notebook is either source only or executed top to bottom in one run: execution
    counts 1, 2, ..., n with no gap and no error output, so its outputs are what its code printed.
    The notebooks in EXECUTED must be executed (their outputs are what a reader sees on a repository page)."""
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in cells]
    if path.name not in EXECUTED and not any(counts) and not any(c["outputs"] for c in cells):
        return
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}: re-execute it top to bottom in a fresh kernel")
    errors = [i for i, c in enumerate(cells) if any(o["output_type"] == "error" for o in c["outputs"])]
    assert not errors, f"{path.name}: code cells {errors} end in an error"
