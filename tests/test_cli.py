"""The ``autonet`` command line on a small fake CIFAR folder (and, when set, the real one)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autonet.cli import main
from autonet.errors import ModelFileError
from autonet.storage.models import Model, load_model, save_model
from fakedata import make_fake_cifar

SMALL = [
    "--hidden",
    "8",
    "--num-iters",
    "12",
    "--batch-size",
    "10",
    "--num-val",
    "10",
    "--quiet",
    "--learning-rate",
    "1e-3",
]


@pytest.fixture
def fake_dir(tmp_path):
    make_fake_cifar(tmp_path / "data", n_per_batch=20, with_test=True)
    return tmp_path / "data"


@pytest.mark.parametrize("backend", ["manual", "autograd"])
def test_train_writes_a_complete_run_directory(fake_dir, tmp_path, backend, capsys):
    out = tmp_path / "run"
    assert main(["train", "--backend", backend, "--data-dir", str(fake_dir), "--out", str(out), *SMALL]) == 0
    for name in ("config.json", "history.json", "history.csv", "summary.json", "model.npz", "plots/training.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == backend
    assert summary["num_train"] == 90 and summary["num_val"] == 10
    assert 0 <= summary["val_acc"] <= 1 and summary["test_acc"] is not None and summary["train_seconds"] > 0
    config = json.loads((out / "config.json").read_text())
    assert config["hidden"] == [8] and config["num_iters"] == 12
    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 12
    with np.load(out / "model.npz", allow_pickle=False) as z:
        assert z["W1"].shape == (3072, 8) and z["class_names"].shape == (10,)
    assert "val acc" in capsys.readouterr().out

    assert main(["evaluate", str(out / "model.npz"), "--data-dir", str(fake_dir), "--num-val", "10", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(summary["val_acc"])
    assert (
        main(
            [
                "evaluate",
                str(out / "model.npz"),
                "--data-dir",
                str(fake_dir),
                "--split",
                "test",
                "--num-val",
                "10",
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(summary["test_acc"])


def test_evaluate_test_split_without_test_batch_is_a_clear_error(tmp_path, capsys):
    make_fake_cifar(tmp_path / "d", n_per_batch=20)
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="test"):
        main(["train", "--data-dir", str(tmp_path / "d"), "--out", str(out), *SMALL])
    assert json.loads((out / "summary.json").read_text())["test_acc"] is None
    code = main(
        ["evaluate", str(out / "model.npz"), "--data-dir", str(tmp_path / "d"), "--split", "test", "--num-val", "10"]
    )
    assert code == 2 and "no test split" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--learning-rate", "0"),
        ("--learning-rate", "-1e-3"),
        ("--batch-size", "0"),
        ("--hidden", "300,-5"),
        ("--num-iters", "ten"),
        ("--backend", "torch"),
        ("--reg", "nan"),
    ],
)
def test_bad_flags_name_the_argument(flag, value, capsys, tmp_path):
    try:
        code = main(["train", flag, value, "--out", str(tmp_path / "run")])
    except SystemExit as e:  # argparse: "-1e-3" reads as a flag, not a value (--learning-rate=-1e-3 does not)
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert re.search(flag.lstrip("-").replace("-", "[-_]"), err.strip().splitlines()[-1]), err
    assert not (tmp_path / "run").exists()


def test_console_script_and_module_help():
    for cmd in (["autonet", "--help"], [sys.executable, "-m", "autonet", "train", "--help"]):
        if cmd[0] == "autonet":
            exe = Path(sys.executable).with_name("autonet")
            if not exe.exists():
                continue
            cmd[0] = str(exe)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        assert "usage: autonet" in out
    out = subprocess.run([sys.executable, "-m", "autonet", "train", "--help"], capture_output=True, text=True).stdout
    for default in ("0.0016", "0.01", "1600", "400", "0.9"):
        assert default in out


def test_gradcheck_command_passes(capsys):
    assert main(["gradcheck", "--sizes", "5,4,3,2"]) == 0
    assert "ok" in capsys.readouterr().out


def test_model_file_errors_name_the_problem(tmp_path, rng):
    from autonet.net import init_params

    params = init_params([6, 4, 3], rng=rng)
    good = save_model(tmp_path / "m.npz", Model(params, np.zeros(6), ["a", "b", "c"]))
    assert load_model(good).layer_sizes == [6, 4, 3]
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ModelFileError, match="junk.npz"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(ModelFileError, match="no such"):
        load_model(tmp_path / "missing.npz")
    wrong = dict(np.load(good))
    wrong["W2"] = np.zeros((5, 3))
    np.savez(tmp_path / "wrong.npz", **wrong)
    with pytest.raises(ModelFileError, match="layer 2"):
        load_model(tmp_path / "wrong.npz")
    pickled = dict(np.load(good))
    pickled["W1"] = np.array([{"x": 1}], dtype=object)
    np.savez(tmp_path / "pickled.npz", **pickled)
    with pytest.raises(ModelFileError):
        load_model(tmp_path / "pickled.npz")


def test_real_data_train_default_recipe_quick(real_data_path, tmp_path):
    """A short run of the default recipe on real CIFAR-10: learns well above chance."""
    out = tmp_path / "run"
    assert main(["train", "--data-dir", str(real_data_path), "--out", str(out), "--num-iters", "150", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["num_train"] == 49000 and summary["num_val"] == 1000
    assert summary["val_acc"] > 0.30


def test_train_early_stopping_writes_the_best_model_and_the_stopping_epoch(tmp_path):
    from autonet.storage.models import load_model

    rng = np.random.default_rng(0)
    X = rng.standard_normal((700, 6)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    np.savez(tmp_path / "toy.npz", X_train=X, y_train=y)
    out = tmp_path / "run"
    flags = ["--dataset", str(tmp_path / "toy.npz"), "--num-val", "200", "--init", "he", "--update", "adam"]
    flags += ["--learning-rate", "0.05", "--batch-size", "50", "--num-iters", "2000", "--early-stopping", "2"]
    result = subprocess.run(
        [sys.executable, "-m", "autonet", "train", *flags, "--out", str(out), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert summary["stopped_early"] and summary["iterations"] < 2000
    assert summary["best_epoch"] == int(np.argmax(history["val_acc"])) + 1
    assert len(history["val_acc"]) == summary["best_epoch"] + 2
    best, final = load_model(out / "best_model.npz"), load_model(out / "model.npz")
    for k in final.params:
        np.testing.assert_array_equal(best.params[k], final.params[k])
