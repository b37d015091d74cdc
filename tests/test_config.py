"""The one config schema: validated once, one spelling per value, re-runs from config.json."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest

import autonet.config
from autonet.cli import main
from autonet.config import PRESETS, Config, canonical, option, parse_value, preset
from autonet.errors import ConfigError
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
    "--dtype",
    "float64",
]


@pytest.fixture
def fake_dir(tmp_path):
    make_fake_cifar(tmp_path / "data", n_per_batch=20, with_test=True)
    return tmp_path / "data"


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)


@pytest.fixture
def validations(monkeypatch) -> list:
    """Every whole-config validation (one per Config built), counted."""
    calls: list = []
    real = autonet.config._validate
    monkeypatch.setattr(autonet.config, "_validate", lambda cfg: calls.append(1) or real(cfg))
    return calls


# ----- validated once -----


def test_one_autonet_train_validates_its_config_once(fake_dir, tmp_path, validations):
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(fake_dir),
                "--out",
                str(tmp_path / "run"),
                *SMALL,
                "--augment",
                "flip,crop",
                "--preset",
                "seed",
            ]
        )
        == 0
    )
    assert len(validations) == 1


def test_a_sweep_validates_its_base_once_and_each_trial_once(fake_dir, tmp_path, validations, capsys):
    assert (
        main(
            [
                "sweep",
                "--data-dir",
                str(fake_dir),
                "--out",
                str(tmp_path / "s"),
                *SMALL,
                "--grid",
                "lr=1e-3 | 2e-3",
                "--grid",
                "reg=0 | 1e-3",
            ]
        )
        == 0
    )
    assert len(validations) == 1 + 4


def test_a_config_is_valid_by_construction_and_immutable():
    cfg = Config(hidden=[1024, 512], augment="flip,crop", num_iters=1e3)
    assert (cfg.hidden, cfg.augment, cfg.num_iters) == ((1024, 512), ("flip", "crop"), 1000)
    with pytest.raises(AttributeError):
        cfg.learning_rate = 1.0  # type: ignore[misc]
    with pytest.raises(ConfigError, match="learning_rate must be > 0, got -1"):
        cfg.replace(lr=-1)


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(preprocess="pca", augment="flip"), "augment needs image rows"),
        (dict(num_val=0), r"num_val must be an integer in \[1, "),
        (dict(whiten_eps=0), "whiten_eps must be > 0"),
        (dict(init="orthogonal"), "init must be one of std, he, xavier"),
        (dict(activation="swish"), "activation must be one of"),
    ],
)
def test_each_rule_lives_in_the_schema(bad, message):
    with pytest.raises(ConfigError, match=message):
        Config(**bad)


def test_every_option_has_help_and_a_default_its_kind_accepts():
    for f in fields(Config):
        opt = option(f.name)
        assert opt.help and opt.kind.check(f.name, f.default) == f.default, f.name
        assert parse_value(f.name, opt.kind.to_text(f.default)) == f.default or f.default is None, f.name
    for name, recipe in PRESETS.items():
        assert preset(name) == Config(**recipe)


# ----- one spelling per value -----


def test_text_spellings_are_the_same_everywhere():
    assert parse_value("hidden", "1024,512") == (1024, 512) == Config.from_dict({"hidden": "1024,512"}).hidden
    assert (
        parse_value("augment", "flip,crop")
        == ("flip", "crop")
        == Config.from_dict({"augment": ["flip", "crop"]}).augment
    )
    assert parse_value("augment", "none") == () == Config(augment="none").augment
    assert parse_value("seed", "none") is None
    assert canonical("lr") == canonical("learning-rate") == "learning_rate"
    assert Config.from_dict({"lr": 0.1}).learning_rate == 0.1


@pytest.mark.parametrize(
    "flag, value",
    [
        (flag, value)
        for flag, values in {
            "--seed": ["-1", "99999999999999999999", "1e309", "nan", "1.5", "\u0661\u0662", "", "1" * 5000],
            "--num-iters": ["99999999999999999999", "1e308", "inf", "nan", "0", "\u0663", ""],
            "--lr": ["1e309", "inf", "-inf", "nan", "0", "", "\u0661e-3", "0x10"],
            "--hidden": ["99999999999999999999", "1e308", "300,", ",", "", "\u0663\u0660\u0660", "300,-5"],
            "--warmup": ["1e308", "1e309", "-1"],
            "--batch-size": ["1e308", "99999999999999999999"],
            "--crop-padding": ["99999999999999999999"],
            "--num-val": ["99999999999999999999", "0"],
            "--dropout": ["1", "nan"],
            "--whiten-eps": ["inf", "0"],
            "--batchnorm": [],
        }.items()
        for value in values
    ],
)
def test_hostile_numbers_are_one_line_errors_naming_the_option(fake_dir, tmp_path, capsys, flag, value):
    out = tmp_path / "run"
    code = exit_code(["train", "--data-dir", str(fake_dir), "--out", str(out), *SMALL, f"{flag}={value}"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    last = err.strip().splitlines()[-1]
    name = canonical(flag[2:])
    assert last.startswith("autonet train: error:"), last
    assert name in last or flag in last or "--" + name.replace("_", "-") in last, last
    assert not out.exists()


def test_hostile_numbers_in_a_config_file_are_refused(tmp_path, capsys):
    path = tmp_path / "config.json"
    for text, name in [
        ('{"learning_rate": 1e309}', "learning_rate"),
        ('{"reg": NaN}', "reg"),
        ('{"seed": -1}', "seed"),
        ('{"num_iters": 1e400}', "num_iters"),
        ('{"hidden": [300, true]}', "hidden"),
        ('{"batch_size": "400"}', "batch_size"),
    ]:
        path.write_text(text)
        assert exit_code(["train", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert name in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_unknown_keys_in_a_config_file_are_an_error_naming_the_key(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**Config().to_dict(), "learning_rte": 0.1}))
    assert main(["train", "--config", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'learning_rte'" in err and str(path) in err
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        Config.from_dict({"bogus": 1})


# ----- re-running and varying a saved run -----


def test_config_file_reruns_a_run_bit_identically_and_flags_vary_it(fake_dir, tmp_path):
    first, again, varied = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(fake_dir),
                "--out",
                str(first),
                *SMALL,
                "--seed",
                "7",
                "--augment",
                "flip",
                "--activation",
                "tanh",
            ]
        )
        == 0
    )
    assert main(["train", "--config", str(first / "config.json"), "--out", str(again), "--quiet"]) == 0
    assert (first / "config.json").read_text() == (again / "config.json").read_text()
    assert json.loads((first / "history.json").read_text()) == json.loads((again / "history.json").read_text())
    with np.load(first / "model.npz") as a, np.load(again / "model.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            assert np.array_equal(a[k], b[k]), k
    assert main(["train", "--config", str(first / "config.json"), "--out", str(varied), "--quiet", "--lr", "2e-3"]) == 0
    config = json.loads((varied / "config.json").read_text())
    assert config["learning_rate"] == 2e-3 and config["seed"] == 7 and config["activation"] == "tanh"
    assert json.loads((first / "history.json").read_text()) != json.loads((varied / "history.json").read_text())


def test_config_and_preset_together_are_refused(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(Config().to_dict()))
    assert main(["train", "--config", str(path), "--preset", "best", "--out", str(tmp_path / "r")]) == 2
    assert "not both" in capsys.readouterr().err


def test_a_config_json_of_the_previous_version_loads(tmp_path):
    """config.json as RunConfig.to_dict wrote it before the one schema (no activation, train_acc_samples)."""
    old = {
        "backend": "manual",
        "hidden": [300],
        "init": "std",
        "std": 0.0001,
        "dtype": "float32",
        "num_val": 1000,
        "num_train": None,
        "data_dir": None,
        "learning_rate": 0.0016,
        "learning_rate_decay": 0.9,
        "reg": 0.01,
        "num_iters": 1600,
        "batch_size": 400,
        "sampling": "replacement",
        "update": "sgd",
        "seed": 0,
        "batchnorm": False,
        "preprocess": "mean",
        "whiten_eps": 0.1,
        "pca_components": 256,
        "schedule": "decay",
        "step_epochs": 10,
        "warmup": 0.0,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "dropout": 0.0,
        "label_smoothing": 0.0,
        "bn_momentum": 0.9,
        "augment": [],
        "crop_padding": 4,
    }
    cfg = Config.from_dict(old)
    assert cfg.whiten_eps == 0.1 and cfg.activation == "relu"
    assert autonet.config.identity(cfg.to_dict()) == {k: v for k, v in old.items() if k != "data_dir"}


# ----- activation end to end -----


def test_activation_is_saved_in_the_model_and_used_by_evaluate(fake_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["train", "--data-dir", str(fake_dir), "--out", str(out), *SMALL, "--activation", "tanh", "--std", "0.1"])
        == 0
    )
    assert json.loads((out / "config.json").read_text())["activation"] == "tanh"
    with np.load(out / "model.npz") as z:
        assert str(z["activation"]) == "tanh"
    summary = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--data-dir", str(fake_dir), "--num-val", "10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == summary["val_acc"]


def test_help_shows_each_default_once_in_plain_words(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "(seed:" not in text and "about an hour" not in text
    assert text.count("(default: 0.0016)") == 1 and "--lr" in text and "--activation" in text
    assert "(default: seed on CIFAR-10; on other data, the rule in the description above)" in " ".join(text.split())
