"""Execute the notebooks of ``notebooks/``: in place for the repository, fresh for the tests.

``python notebooks/run_notebooks.py`` re-executes every notebook top to bottom in a
kernel running this interpreter, with the small data budget
(``AUTONET_NB_BUDGET=small``), and writes each back with its outputs (numbers
and figures), so they read on a repository page. ``--budget full`` runs the
full-length versions; ``NAME ...`` picks notebooks. Needs the ``[notebooks]``
extra (nbclient, nbformat, ipykernel). The test suite calls
:func:`execute_notebook`, which never writes.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from autonet.storage.files import atomic_write_text

NOTEBOOK_DIR = Path(__file__).resolve().parent
KERNEL = "autonet-this-python"
BUDGETS = ("small", "full")
TIMEOUT = 600  # seconds per cell


@contextmanager
def this_python_kernel() -> Iterator[str]:
    """A kernel spec that runs *this* interpreter, found first via ``JUPYTER_PATH``.

    A user-level ``python3`` kernel could point at another Python without autonet.
    """
    from ipykernel.kernelspec import write_kernel_spec

    old = os.environ.get("JUPYTER_PATH")
    with tempfile.TemporaryDirectory(prefix="autonet-kernel-") as root:
        write_kernel_spec(Path(root) / "kernels" / KERNEL, overrides={"display_name": "autonet"})
        os.environ["JUPYTER_PATH"] = root if old is None else os.pathsep.join([root, old])
        try:
            yield KERNEL
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


def execute_notebook(path: Path, kernel_name: str, budget: str = "small"):
    """Run the notebook at ``path`` top to bottom and return it executed (the file is not touched).

    The kernel sees ``AUTONET_NB_BUDGET=budget`` and starts in ``notebooks/``.
    A failing cell raises ``nbclient.exceptions.CellExecutionError``.
    """
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    kernelspec = nb.metadata.get("kernelspec")
    old = os.environ.get("AUTONET_NB_BUDGET")
    os.environ["AUTONET_NB_BUDGET"] = budget
    try:
        # no timings and one output per stream: a re-execution changes only what the code changed
        nbclient.NotebookClient(
            nb,
            kernel_name=kernel_name,
            timeout=TIMEOUT,
            record_timing=False,
            coalesce_streams=True,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    finally:
        if old is None:
            os.environ.pop("AUTONET_NB_BUDGET", None)
        else:
            os.environ["AUTONET_NB_BUDGET"] = old
    if kernelspec is not None:  # a reader's Jupyter opens it with their python3, not our temporary kernel
        nb.metadata["kernelspec"] = kernelspec
    return nb


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python notebooks/run_notebooks.py",
        description=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="notebooks to run (default: all in notebooks/)")
    parser.add_argument("--budget", choices=BUDGETS, default="small", help="data budget (default: %(default)s)")
    args = parser.parse_args(argv)
    paths = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if args.names:
        by_name = {p.name: p for p in paths} | {p.stem: p for p in paths}
        unknown = [n for n in args.names if n not in by_name]
        if unknown:
            parser.exit(2, f"{parser.prog}: error: no notebook {unknown[0]!r} in {NOTEBOOK_DIR}\n")
        paths = [by_name[n] for n in args.names]
    try:
        import nbformat
    except ImportError:
        parser.exit(2, f"{parser.prog}: error: needs the notebooks extra: pip install -e '.[notebooks]'\n")
    with this_python_kernel() as kernel:
        for path in paths:
            print(f"executing {path.name} (budget {args.budget}) ...", file=sys.stderr, flush=True)
            atomic_write_text(path, nbformat.writes(execute_notebook(path, kernel, args.budget)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
