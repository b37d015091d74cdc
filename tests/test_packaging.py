"""The wheel beside the PyPI distributions whose import names it could meet.

PyPI's ``manual`` (0.0.2) ships a top-level ``manual/__init__.py`` and ``autonet-api`` (0.2.1) a
top-level ``autonet/``; pip does not notice two distributions writing the same files. autonet-mlp
installs its hand-derived gradients as ``autonet.manual`` (no top-level ``manual`` of its own), so
``manual`` can come and go beside it. Local stand-in wheels with the same names and top-level files
are built here and installed with autonet-mlp's wheel into one fresh virtual environment, offline
(``--no-index --no-deps``): the stand-ins first, then autonet-mlp, as a user adds autonet-mlp to an
environment that already holds them. ``autonet-api`` shares the import name ``autonet`` itself, which
no packaging can avoid: autonet-mlp's files replace its ``autonet/__init__.py`` (checked below), and
uninstalling ``autonet-api`` afterwards would delete that shared file; the README says to keep the
two in separate environments.

The wheel is ``$AUTONET_WHEEL`` when set (``.ci/run`` builds it once), else built here from the
checkout. The new environment reaches numpy and the other dependencies through a ``.pth`` file naming
this interpreter's site-packages (so nothing is downloaded); that file does not run the checkout's
editable-install hook, and every command runs outside the checkout, so what is imported is the wheel.
"""

from __future__ import annotations

import base64
import hashlib
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

STAND_INS = {  # distribution, version -> files (top-level names as on PyPI)
    ("manual", "0.0.2"): {"manual/__init__.py": "STAND_IN = 'manual'\n"},
    ("autonet_api", "0.2.1"): {
        "autonet/__init__.py": "STAND_IN = 'autonet-api'\n",
        "autonet/api.py": "STAND_IN = 'autonet-api'\n",
    },
}

TRAIN = """
import numpy as np
import autonet, autonet.manual
from autonet import TwoLayerNet
rng = np.random.default_rng(0)
X, y = rng.standard_normal((60, 5)), rng.integers(0, 3, 60)
history = TwoLayerNet(5, 8, 3, std=0.1, seed=0).train(X, y, X, y, learning_rate=0.1, num_iters=20, batch_size=20)
assert len(history["loss_history"]) == 20 and np.isfinite(history["loss_history"]).all(), history
loss, grads = autonet.get_backend("manual")(
    {"W1": rng.standard_normal((5, 4)), "b1": np.zeros(4), "W2": rng.standard_normal((4, 3)), "b2": np.zeros(3)},
    X, y, reg=0.1)
assert np.isfinite(loss) and set(grads) == {"W1", "b1", "W2", "b2"}
print(autonet.__file__)
print(autonet.manual.__file__)
"""


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def write_wheel(directory: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal pure-Python wheel (PEP 427) holding ``files``; no build backend needed."""
    info = f"{name}-{version}.dist-info"
    members = {path: text.encode() for path, text in files.items()}
    members[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    members[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests/test_packaging.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [_record_line(path, data) for path, data in members.items()] + [f"{info}/RECORD,,"]
    members[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in members.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """autonet-mlp's wheel: ``$AUTONET_WHEEL``, else built from the checkout."""
    given = os.environ.get("AUTONET_WHEEL")
    if given:
        return Path(given)
    directory = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(directory), str(ROOT)],
        check=True,
    )
    (wheel,) = directory.glob("autonet_mlp-*.whl")
    return wheel


@pytest.fixture(scope="module")
def env(tmp_path_factory, wheel):
    """A fresh venv holding the two stand-ins, then autonet-mlp's wheel (pip's install order)."""
    tmp = tmp_path_factory.mktemp("packaging")
    wheels = [write_wheel(tmp, name, version, files) for (name, version), files in STAND_INS.items()]
    wheels.append(wheel)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    (purelib / "_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    for wheel in wheels:  # one at a time, in this order, as they would arrive over time
        pip(python, tmp, "install", "--no-index", "--no-deps", "--ignore-installed", str(wheel))
    return python, purelib, tmp


def pip(python: Path, cwd: Path, *args: str) -> None:
    subprocess.run([python, "-m", "pip", "--quiet", *args], check=True, cwd=cwd)


def run(python: Path, cwd: Path, code: str) -> str:
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_autonet_works_beside_the_stand_ins(env):
    python, purelib, cwd = env
    autonet_file, manual_file = run(python, cwd, TRAIN).split()
    assert Path(autonet_file) == purelib / "autonet" / "__init__.py"
    assert Path(manual_file) == purelib / "autonet" / "manual" / "__init__.py"  # the wheel's, not the stand-in's
    assert run(python, cwd, "import manual; print(manual.STAND_IN)").strip() == "manual"
    version = subprocess.run([python.parent / "autonet", "--version"], capture_output=True, text=True, cwd=cwd)
    assert version.returncode == 0 and version.stdout.startswith("autonet 0.1"), version


def test_the_wheel_has_no_top_level_but_autonet(wheel):
    with zipfile.ZipFile(wheel) as zf:
        tops = {name.split("/")[0] for name in zf.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"autonet"}


def test_uninstalling_the_manual_stand_in_leaves_every_file_of_ours(env):
    python, purelib, cwd = env
    (record,) = purelib.glob("autonet_mlp-*.dist-info/RECORD")
    ours = [purelib / line.split(",")[0] for line in record.read_text().splitlines() if line]
    pip(python, cwd, "uninstall", "--yes", "manual")
    assert not (purelib / "manual").exists()  # the stand-in is gone ...
    missing = [str(path) for path in ours if not path.exists() and path.suffix != ".pyc"]
    assert missing == []  # ... and nothing of autonet-mlp went with it
    run(python, cwd, TRAIN)
