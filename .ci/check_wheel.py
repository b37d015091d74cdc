"""Check that a built wheel holds exactly autonet's package files.

Usage: ``python .ci/check_wheel.py dist/autonet_mlp-*.whl`` (from the repository root).

Expected: every file under ``autonet/`` and, as ``autonet/manual/``, under ``manual/`` (sources,
``py.typed`` and any package data), byte for byte, plus the ``.dist-info`` metadata. A file missing
from the wheel (a new subpackage not listed in pyproject.toml, a data file not declared) and a file
that should not be there (tests, notebooks, data, runs, a second top-level package) both fail, each
named. Exit status 1 on a mismatch.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {"autonet": ROOT / "autonet", "autonet/manual": ROOT / "manual"}  # wheel folder -> checkout folder


def expected_files() -> dict[str, bytes]:
    files = {}
    for prefix, folder in SOURCES.items():
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                files[f"{prefix}/{path.relative_to(folder).as_posix()}"] = path.read_bytes()
    return files


def main(wheel: str) -> int:
    with zipfile.ZipFile(wheel) as zf:
        held = {name: zf.read(name) for name in zf.namelist() if not name.endswith("/")}
    metadata = {name for name in held if name.split("/")[0].endswith(".dist-info")}
    expected = expected_files()
    problems = [f"missing from the wheel: {name}" for name in sorted(expected.keys() - held.keys())]
    problems += [f"not a package file: {name}" for name in sorted(held.keys() - expected.keys() - metadata)]
    problems += [
        f"differs from the checkout: {n}" for n in sorted(expected.keys() & held.keys()) if held[n] != expected[n]
    ]
    for problem in problems:
        print(f"check_wheel: {problem}", file=sys.stderr)
    if not problems:
        print(
            f"check_wheel: {Path(wheel).name}: {len(expected)} package files, {len(metadata)} metadata files, nothing else"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python .ci/check_wheel.py WHEEL")
    sys.exit(main(sys.argv[1]))
