"""What a person at the command line expects: progress, clear data errors, one-line warnings, no orphans."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from autonet.cli import main
from autonet.data import download as fetch
from fakedata import make_fake_cifar

SMALL = ["--hidden", "8", "--num-iters", "12", "--batch-size", "10", "--num-val", "10", "--learning-rate", "1e-3"]


@pytest.fixture
def fake_dir(tmp_path):
    make_fake_cifar(tmp_path / "data", n_per_batch=20, with_test=True)
    return tmp_path / "data"


@pytest.fixture
def no_download(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a download was started")

    monkeypatch.setattr(fetch, "download_cifar10", refuse)


# ----- data: an explicit folder without data is an error, not a download -----


def test_an_explicit_data_dir_without_data_fails_at_once_and_says_how_to_get_it(tmp_path, capsys, no_download):
    empty, out = tmp_path / "empty", tmp_path / "run"
    empty.mkdir()
    assert main(["train", "--data-dir", str(empty), "--out", str(out), *SMALL]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(empty) in err[0] and f"autonet download {empty}" in err[0], err
    assert not out.exists()  # no orphan run directory


def test_autonet_data_without_data_is_not_filled_either(tmp_path, capsys, monkeypatch, no_download):
    monkeypatch.setenv("AUTONET_DATA", str(tmp_path / "env"))
    assert main(["train", "--out", str(tmp_path / "run"), *SMALL]) == 2
    assert "(chosen by $AUTONET_DATA)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_default_cache_still_downloads_on_first_use(tmp_path, monkeypatch):
    from autonet.data import locate_cifar10

    monkeypatch.delenv("AUTONET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(fetch, "download_cifar10", lambda place, **kw: calls.append(place) or place / "x")
    assert locate_cifar10(quiet=True) == tmp_path / "cache" / "autonet" / "x"
    assert calls == [tmp_path / "cache" / "autonet"]


def test_autonet_download_fetches_into_the_named_folder(tmp_path, monkeypatch, capsys):
    calls = []

    def fake(place, **kw):
        calls.append(place)
        make_fake_cifar(place, n_per_batch=5)
        return place / "cifar-10-batches-py"

    monkeypatch.setattr(fetch, "download_cifar10", fake)
    assert main(["download", str(tmp_path / "d"), "--quiet"]) == 0
    assert calls == [tmp_path / "d"] and "cifar10: " in capsys.readouterr().out
    assert main(["download", str(tmp_path / "d"), "--quiet"]) == 0  # present: nothing fetched
    assert len(calls) == 1


# ----- progress -----


def test_piped_output_gets_one_line_per_epoch_and_quiet_gets_none(fake_dir, tmp_path, capsys):
    # 80 training rows / batch 10 = 8 iterations per epoch; 24 iterations = 3 epochs
    args = [
        "train",
        "--data-dir",
        str(fake_dir),
        "--hidden",
        "8",
        "--num-iters",
        "24",
        "--batch-size",
        "10",
        "--num-val",
        "20",
        "--num-train",
        "80",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("epoch ")]
    assert len(lines) == 3, lines
    assert lines[0].startswith("epoch 1 (iteration 8/24): loss ")
    assert all(k in lines[-1] for k in ("train acc", "val acc", "lr ", " s"))
    assert main([*args, "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert not [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("epoch ")]


def test_a_terminal_or_a_notebook_gets_a_bar(monkeypatch):
    from autonet import progress
    from autonet.config import Config
    from autonet.net import init_params
    from autonet.train import Trainer

    X, y = np.zeros((20, 4)), np.arange(20) % 3
    trainer = Trainer(lambda *a, **k: None, init_params([4, 3, 3], rng=0), X, y, config=Config(batch_size=5))

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    bar = progress.progress_reporter(trainer, Terminal())
    assert isinstance(bar, progress.BarProgress)
    bar.close()
    assert isinstance(progress.progress_reporter(trainer, io.StringIO()), progress.EpochLines)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    bar = progress.progress_reporter(trainer, io.StringIO())
    assert isinstance(bar, progress.BarProgress)
    bar.close()


# ----- warnings, history -----


def test_a_warning_is_one_line_without_the_source(tmp_path):
    data = make_fake_cifar(tmp_path / "d", n_per_batch=20, with_test=False).parent
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autonet",
            "train",
            "--data-dir",
            str(data),
            "--out",
            str(tmp_path / "run"),
            *SMALL,
            "--init",  # a net that departs from uniform guessing: no "not learning" warning beside the one
            "he",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("autonet train: warning: ") and "no test_batch" in lines[0], lines


def test_history_csv_carries_the_mean_loss_of_each_epoch(fake_dir, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--data-dir", str(fake_dir), "--out", str(out), *SMALL, "--num-train", "40", "--quiet"]) == 0
    history = json.loads((out / "history.json").read_text())
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "iteration", "learning_rate", "loss", "train_acc", "val_acc"]
    ends = [0, *history["epoch_iteration"]]
    for row, a, b in zip(rows, ends, ends[1:], strict=False):
        assert float(row["loss"]) == pytest.approx(np.mean(history["loss"][a:b]))
    assert len(rows) == len(history["epoch_iteration"]) == 3
