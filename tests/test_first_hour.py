"""A newcomer's first hour: no silent wrong answer, defaults that fit the data, errors that say what to do next.

Each test is one thing a new user did, from a fresh clone, that went wrong before.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autonet.cli import main
from fakedata import make_fake_cifar


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory) -> Path:
    """scikit-learn's digits (1,797 rows of 8x8 pixels in 0..16) saved as X_train/y_train, as a user would."""
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, X_train=X, y_train=y)
    return path


def test_evaluate_scores_the_rows_the_run_scored(digits_npz, tmp_path, capsys):
    """After ``--num-val 200``, ``evaluate --split val`` scores those 200 rows, not the last 1,000."""
    out = tmp_path / "run"
    args = ["train", "--dataset", str(digits_npz), "--num-val", "200", "--num-iters", "60", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--split", "val", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 200 == summary["num_val"]
    assert result["accuracy"] == pytest.approx(summary["val_acc"])
    assert main(["evaluate", str(out / "model.npz")]) == 0
    assert "on 200 images: the last 200 training rows of digits.npz" in capsys.readouterr().out


def test_evaluate_reads_the_run_s_data_folder(tmp_path, monkeypatch, capsys):
    """A run trained with ``--data-dir`` is evaluated on that folder, never a download elsewhere."""
    make_fake_cifar(tmp_path / "data", n_per_batch=20, with_test=True)
    monkeypatch.setenv("AUTONET_DATA", str(tmp_path / "empty"))
    out = tmp_path / "run"
    small = ["--hidden", "8", "--num-iters", "12", "--batch-size", "10", "--num-val", "10", "--quiet"]
    assert main(["train", "--data-dir", str(tmp_path / "data"), "--out", str(out), *small]) == 0
    summary = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 10 and result["accuracy"] == pytest.approx(summary["val_acc"])
    assert str(tmp_path / "data") in result["rows"]
    assert not (tmp_path / "empty").exists()


@pytest.mark.filterwarnings("error::UserWarning")
def test_an_npz_run_with_default_flags_learns_digits(digits_npz, tmp_path, capsys):
    """``autonet train --dataset digits.npz``: the defaults follow the data (not CIFAR-10's recipe) and learn."""
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(digits_npz), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert summary["val_acc"] >= 0.90
    assert config["num_val"] == 180 and config["batch_size"] == 200  # 10% of 1,797 rows; min(200, 1,617)
    assert (config["init"], config["update"], config["learning_rate"]) == ("he", "adam", 1e-3)
    out_text = capsys.readouterr().out
    assert "test acc n/a (digits.npz has no test split)" in out_text and "test_batch" not in out_text


def test_flags_given_and_presets_are_kept_on_other_data(digits_npz, tmp_path):
    """The rule fills only what the user left unset: a flag or a preset wins."""
    out = tmp_path / "run"
    flags = ["--num-val", "300", "--learning-rate", "2e-3", "--num-iters", "20", "--quiet"]
    assert main(["train", "--dataset", str(digits_npz), "--out", str(out), *flags]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["num_val"], config["learning_rate"], config["batch_size"]) == (300, 2e-3, 200)
    out = tmp_path / "exercise"
    assert main(["train", "--dataset", str(digits_npz), "--out", str(out), "--preset", "seed", "--num-iters", "5"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["num_val"], config["batch_size"], config["init"]) == (1000, 400, "std")


def test_a_run_that_cannot_learn_is_flagged_loudly(digits_npz, tmp_path):
    """The exercise's CIFAR-10 recipe on 397 digit rows: batch > rows, loss stuck at ln(10), lr decayed to nothing."""
    out = tmp_path / "run"
    args = ["train", "--dataset", str(digits_npz), "--out", str(out), "--preset", "seed", "--num-val", "1400"]
    with pytest.warns(UserWarning) as record:
        assert main([*args, "--num-iters", "200", "--quiet"]) == 0
    err = "\n".join(str(w.message) for w in record)
    assert "batch_size 400 is larger than the 397 training rows" in err
    assert "the loss has stayed at ln(10) = 2.3026" in err
    assert "the learning rate has decayed to" in err and "cannot change the weights" in err
