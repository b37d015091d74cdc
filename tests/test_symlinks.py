"""No write follows a link autonet did not create: a symbolic link planted in a run or sweep directory
(as the lock, a checkpoint, a plot, a result, the model, the summary, a trial) is refused with exit 2
naming it, and the file it points at is left as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autonet.cli import main
from autonet.storage.lock import RunLock
from fakedata import make_fake_cifar

TINY = ["--hidden", "8", "--num-iters", "12", "--batch-size", "10", "--num-val", "10", "--dtype", "float64"]
# every file a run writes (autonet.run.RUN_FILES, the lock), and the one directory it makes
RUN_WRITES = [
    ".lock",
    "config.json",
    "checkpoint.npz",
    "history.json",
    "history.csv",
    "model.npz",
    "summary.json",
    "diverged.json",
    "plots/training.png",
    "plots",
]
SWEEP_WRITES = [".lock", "sweep.json", "results.csv", "best.json", "best_model.npz", "heatmap.png", "trials"]


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory) -> Path:
    return make_fake_cifar(tmp_path_factory.mktemp("data"), n_per_batch=20, with_test=True).parent


def plant(run: Path, name: str, tmp_path: Path) -> Path:
    """``run/name`` a link to a victim outside the run (a folder holding ``training.png`` for ``plots``)."""
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir(exist_ok=True)
    (victim_dir / "training.png").write_text("precious")
    victim = victim_dir if name == "plots" else victim_dir / "file"
    victim.joinpath("training.png").exists() if name == "plots" else victim.write_text("precious")
    link = run / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)
    return link


def untouched(tmp_path: Path) -> bool:
    files = sorted((tmp_path / "victim").iterdir())
    return all(f.read_text() == "precious" for f in files) and files


def refused_naming(err: str, link: Path) -> bool:
    return err.count("\n") == 1 and f"{link}: is a symbolic link" in err and f"rm {link}" in err


@pytest.mark.parametrize("name", RUN_WRITES)
def test_train_overwrite_never_writes_through_a_planted_link(fake_dir, tmp_path, capsys, name):
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(fake_dir), "--out", str(run), "--quiet", *TINY]) == 0
    if (run / name).is_dir():
        shutil.rmtree(run / name)
    else:
        (run / name).unlink(missing_ok=True)
    link = plant(run, name, tmp_path)
    capsys.readouterr()
    assert main(["train", "--data-dir", str(fake_dir), "--out", str(run), "--overwrite", "--quiet", *TINY]) == 2
    assert refused_naming(capsys.readouterr().err, link)
    assert untouched(tmp_path) and link.is_symlink()


@pytest.mark.parametrize("how", ["--out", "--resume"])
def test_a_lock_link_is_refused_and_its_target_keeps_its_bytes(fake_dir, tmp_path, capsys, how):
    run = tmp_path / "run"
    if how == "--resume":
        argv = ["train", "--data-dir", str(fake_dir), "--out", str(run), "--quiet", "--checkpoint-every", "4", *TINY]
        assert main(argv) == 0
        (run / "summary.json").unlink()  # an unfinished run, to be resumed
        (run / ".lock").unlink(missing_ok=True)  # a finished run removes its lock file; an interrupted one may not
    else:
        run.mkdir()
    link = plant(run, ".lock", tmp_path)
    argv = (
        ["train", "--resume", str(run), "--quiet"]
        if how == "--resume"
        else ["train", "--data-dir", str(fake_dir), "--out", str(run), "--quiet", *TINY]
    )
    capsys.readouterr()
    assert main(argv) == 2
    assert refused_naming(capsys.readouterr().err, link)
    assert untouched(tmp_path)


@pytest.mark.parametrize("name", SWEEP_WRITES)
def test_sweep_never_writes_through_a_planted_link(fake_dir, tmp_path, capsys, name):
    out = tmp_path / "sweep"
    argv = ["sweep", "--data-dir", str(fake_dir), "--out", str(out), "--quiet", *TINY, "--grid", "learning_rate=1e-3"]
    assert main(argv) == 0
    target = out / name
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    # the victim holds what the file held, so that reading it back succeeds and only a write could change it
    original = target.read_bytes() if target.is_file() else b"precious"
    (victim_dir / "file").write_bytes(original)
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    target.symlink_to(victim_dir if name == "trials" else victim_dir / "file")
    capsys.readouterr()
    assert main([*argv, "--overwrite"] if "--overwrite" in _sweep_flags() else argv) == 2
    assert refused_naming(capsys.readouterr().err, target)
    assert (victim_dir / "file").read_bytes() == original
    assert sorted(p.name for p in victim_dir.iterdir()) == ["file"]


def _sweep_flags() -> str:
    from autonet.cli import build_parser

    return build_parser().format_help()


def test_a_run_directory_that_is_itself_a_link_is_the_users_choice(fake_dir, tmp_path):
    real = tmp_path / "scratch" / "run1"
    real.mkdir(parents=True)
    (tmp_path / "latest").symlink_to(real)
    assert main(["train", "--data-dir", str(fake_dir), "--out", str(tmp_path / "latest"), "--quiet", *TINY]) == 0
    assert (real / "model.npz").is_file() and (real / "plots" / "training.png").is_file()
    with RunLock(tmp_path / "latest"):
        assert os.path.abspath(tmp_path / "latest") in __import__("autonet.storage.files").storage.files.LOCKED_DIRS


def test_plot_never_writes_through_a_planted_plots_link(fake_dir, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data-dir", str(fake_dir), "--out", str(run), "--quiet", *TINY]) == 0
    shutil.rmtree(run / "plots")
    link = plant(run, "plots", tmp_path)
    capsys.readouterr()
    assert main(["plot", str(run)]) == 2
    assert refused_naming(capsys.readouterr().err, link)
    assert untouched(tmp_path) and sorted(p.name for p in (tmp_path / "victim").iterdir()) == ["training.png"]
