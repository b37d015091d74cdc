"""``autonet sweep``: spaces, trial planning, resume, divergence, executors (on fake data)."""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autonet.cli import main
from autonet.config import Config
from autonet.errors import ConfigError
from autonet.sweep import build_space, load_space, make_trials, parse_space, plan, run_sweep
from fakedata import make_fake_cifar

ROOT = Path(__file__).resolve().parents[1]
# tiny nets, few iterations, float64 so that every executor gives bit-identical results
TINY = [
    "--hidden",
    "8",
    "--num-iters",
    "12",
    "--batch-size",
    "10",
    "--num-val",
    "10",
    "--std",
    "1e-2",
    "--dtype",
    "float64",
]


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fake")
    make_fake_cifar(root, n_per_batch=20, with_test=True)
    return root


def tiny_base(data_dir) -> Config:
    return Config(
        hidden=(8,), num_iters=12, batch_size=10, num_val=10, std=1e-2, dtype="float64", data_dir=str(data_dir)
    )


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def sweep(fake_dir, out, *extra) -> int:
    return main(["sweep", "--data-dir", str(fake_dir), "--out", str(out), "--quiet", *TINY, *extra])


# ----- the space -----


def test_grid_has_every_combination_with_the_last_key_fastest():
    space = build_space(grid_flags=["learning_rate=1e-3 | 2e-3", "reg=1e-4|1e-3|1e-2"])
    trials = plan(space, Config())
    assert len(trials) == 6
    assert [(t.params["learning_rate"], t.params["reg"]) for t in trials] == [
        (1e-3, 1e-4),
        (1e-3, 1e-3),
        (1e-3, 1e-2),
        (2e-3, 1e-4),
        (2e-3, 1e-3),
        (2e-3, 1e-2),
    ]
    assert len({t.name for t in trials}) == 6


def test_seed_grid_file_is_the_seeds_15_trials_in_its_order():
    trials = plan(load_space(ROOT / "examples" / "seed_grid.toml"), Config())
    assert len(trials) == 15
    assert [(t.config["learning_rate"], t.config["reg"]) for t in trials][:4] == [
        (1e-3, 1e-4),
        (1e-3, 1e-3),
        (1e-3, 1e-2),
        (1.2e-3, 1e-4),
    ]
    c = trials[0].config
    assert (c["hidden"], c["num_iters"], c["batch_size"], c["learning_rate_decay"], c["std"]) == (
        [300],
        1600,
        400,
        0.90,
        1e-4,
    )


def test_hidden_values_from_flags_and_files():
    flag = build_space(grid_flags=["hidden=300 | 1024,512"])  # 1024,512: two layers, as in train --hidden
    file = parse_space({"hidden": [300, [1024, 512]]})
    text = parse_space({"hidden": [300, "1024,512"]})
    assert (
        flag.dims["hidden"].values == file.dims["hidden"].values == text.dims["hidden"].values == ((300,), (1024, 512))
    )
    assert build_space(grid_flags=["hidden=1024,512"]).dims["hidden"].values == ((1024, 512),)


def test_name_lists_are_spelled_as_on_the_train_command_line():
    flag = build_space(grid_flags=["augment=flip | flip,crop | none"])
    file = parse_space({"augment": ["flip", ["flip", "crop"], []]})
    text = parse_space({"augment": ["flip", "flip,crop", "none"]})
    assert (
        flag.dims["augment"].values
        == file.dims["augment"].values
        == text.dims["augment"].values
        == (("flip",), ("flip", "crop"), ())
    )
    assert plan(flag, Config())[1].name.startswith("augment=flip+crop-")
    with pytest.raises(ConfigError, match="--grid augment: augment must be"):
        build_space(grid_flags=["augment=spin"])
    with pytest.raises(ConfigError, match="'flip\\+crop'"):  # the old --grid spelling is refused by name
        build_space(grid_flags=["augment=flip+crop"])


def test_aliases_are_accepted_in_the_grid_and_in_space_files():
    assert build_space(grid_flags=["lr=1e-3 | 2e-3"]).dims["learning_rate"].values == (1e-3, 2e-3)
    assert parse_space({"lr": [1e-3], "num-iters": 10}).dims.keys() == {"learning_rate", "num_iters"}
    with pytest.raises(ConfigError, match="learning_rate given twice"):
        parse_space({"lr": 1e-3, "learning_rate": 2e-3})
    with pytest.raises(ConfigError, match=r"separate grid values with \|"):
        build_space(grid_flags=["lr=1e-3,2e-3"])


def test_random_search_is_reproducible_by_seed_and_log_uniform_in_range():
    space = parse_space(
        {
            "learning_rate": {"log_uniform": [1e-5, 1e-1]},
            "reg": [0.0, 1e-3],
            "hidden": {"log_uniform": [50, 2000]},
            "learning_rate_decay": {"uniform": [0.8, 0.99]},
        }
    )
    a, b, c = space.sample(2000, seed=3), space.sample(2000, seed=3), space.sample(2000, seed=4)
    assert a == b and a != c
    lr = np.array([p["learning_rate"] for p in a])
    assert lr.min() >= 1e-5 and lr.max() <= 1e-1
    # log-uniform: each decade holds about a quarter of the draws (uniform would put ~90% in the top one)
    decade_share = np.histogram(np.log10(lr), bins=[-5, -4, -3, -2, -1])[0] / len(lr)
    assert np.all(np.abs(decade_share - 0.25) < 0.05), decade_share
    assert all(
        isinstance(p["hidden"], tuple)
        and len(p["hidden"]) == 1
        and 50 <= p["hidden"][0] <= 2000
        and isinstance(p["hidden"][0], int)
        for p in a
    )
    assert {p["reg"] for p in a} == {0.0, 1e-3}
    assert all(0.8 <= p["learning_rate_decay"] <= 0.99 for p in a)
    assert all(float(f"{p['learning_rate']:.3g}") == p["learning_rate"] for p in a)  # 3 significant digits
    names = [t.name for t in plan(space, Config(), random=5, seed=3)]
    assert names == [t.name for t in plan(space, Config(), random=5, seed=3)]


def test_toml_and_json_space_files_agree(tmp_path):
    (tmp_path / "s.toml").write_text(
        'learning_rate = {log_uniform = [1e-4, 1e-2]}\nreg = [1e-4, 1e-3]\nhidden = 300\nsampling = "epoch"\n'
    )
    (tmp_path / "s.json").write_text(
        json.dumps(
            {"learning_rate": {"log_uniform": [1e-4, 1e-2]}, "reg": [1e-4, 1e-3], "hidden": 300, "sampling": "epoch"}
        )
    )
    toml, js = load_space(tmp_path / "s.toml"), load_space(tmp_path / "s.json")
    assert toml.dims == js.dims
    assert toml.sample(4, seed=0) == js.sample(4, seed=0)
    assert not toml.is_grid


@pytest.mark.parametrize(
    "space, message",
    [
        ({"learning_rte": [1e-3]}, "unknown key 'learning_rte'"),
        ({"num_val": [10, 20]}, "num_val shapes the data"),
        ({"reg": []}, "reg: empty list"),
        ({"reg": {"gaussian": [0, 1]}}, "unknown distribution 'gaussian'"),
        ({"reg": {"log_uniform": [1e-2, 1e-4]}}, "low < high"),
        ({"reg": {"log_uniform": [0, 1e-2]}}, "log_uniform needs low > 0"),
        ({"reg": {"uniform": [1e-3]}}, r"takes \[low, high\]"),
        ({"reg": {"uniform": [0, 1], "log_uniform": [1, 2]}}, "one key"),
        ({"learning_rate": "fast"}, "learning_rate must be > 0, got 'fast'"),
        ({"learning_rate_decay": [0.9, 1.5]}, "learning_rate_decay must be in"),
        ({"learning_rate_decay": {"uniform": [0.5, 1.5]}}, "learning_rate_decay must be in"),
        ({"num_iters": 12.5}, r"num_iters must be an integer in \[1, .*\], got 12.5"),
        ({"hidden": [[300, "wide"]]}, "hidden"),
        ({"sampling": {"uniform": [0, 1]}}, "needs a numeric key"),
        ({"epochs": 2, "num_iters": 100}, "not both"),
        ({}, "the space is empty"),
    ],
)
def test_bad_spaces_are_one_line_config_errors(space, message):
    with pytest.raises(ConfigError, match=message):
        parse_space(space, "space.toml")


def test_space_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("reg = [1e-4, \n")
    with pytest.raises(ConfigError, match=r"bad.toml: not valid TOML"):
        load_space(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_space(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        load_space(tmp_path / "space.yaml")
    with pytest.raises(ConfigError, match="a range can only be sampled; add --random N"):
        plan(parse_space({"reg": {"log_uniform": [1e-4, 1e-2]}}), Config())
    with pytest.raises(ConfigError, match=r"expected KEY=V1\|V2"):
        build_space(grid_flags=["reg"])
    with pytest.raises(ConfigError, match="nothing to sweep"):
        build_space()


def test_cli_reports_a_bad_space_and_exits_2(fake_dir, tmp_path, capsys):
    assert sweep(fake_dir, tmp_path / "s", "--grid", "learning_rate=1e-3 | oops") == 2
    assert (
        "autonet sweep: error: --grid learning_rate: learning_rate: expected a number, got 'oops'"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "s").exists()


def test_trial_names_hash_the_whole_config_but_not_the_data_location(tmp_path):
    space = build_space(grid_flags=["reg=1e-3 | 1e-2", "hidden=50"])
    a = plan(space, Config(data_dir="/x"))[0].name
    assert a == plan(space, Config(data_dir="/elsewhere"))[0].name
    assert a != plan(space, Config(num_iters=99))[0].name
    assert a.startswith("reg=0.001-")  # only varied keys in the name; fixed hidden=50 is in the hash


# ----- running sweeps -----


def test_csv_is_complete_after_every_trial_and_best_model_copied(fake_dir, tmp_path):
    trials = make_trials(tiny_base(fake_dir), [{"learning_rate": lr} for lr in (1e-4, 1e-3, 1e-2)])
    seen = []

    def check(trial, result):
        rows = read_csv(tmp_path / "s" / "results.csv")
        assert [r["trial"] for r in rows] == [t.name for t in trials]  # every trial, always
        done = [r for r in rows if r["status"] == "ok"]
        assert len(done) == len(seen) + 1
        assert all(r["val_acc"] and r["train_acc"] and r["train_seconds"] for r in done)
        assert all(r["status"] == "pending" and r["val_acc"] == "" for r in rows if r not in done)
        seen.append(trial.name)

    rows = run_sweep(trials, tmp_path / "s", ["learning_rate"], log=None, on_result=check)
    assert seen == [t.name for t in trials]
    best = max(rows, key=lambda r: r["val_acc"])
    assert json.loads((tmp_path / "s" / "best.json").read_text())["trial"] == best["trial"]
    assert (tmp_path / "s" / "best_model.npz").read_bytes() == (
        tmp_path / "s" / "trials" / best["trial"] / "model.npz"
    ).read_bytes()
    assert (tmp_path / "s" / "heatmap.png").stat().st_size > 0
    for t in trials:
        for name in ("config.json", "history.json", "summary.json", "model.npz", "plots/training.png"):
            assert (tmp_path / "s" / "trials" / t.name / name).is_file()


def test_a_diverged_trial_is_marked_and_the_sweep_goes_on(fake_dir, tmp_path, capsys):
    out = tmp_path / "s"
    blow_up = ["--grid", "learning_rate=1e6 | 1e-3", "--dtype", "float32", "--std", "1e-4"]
    assert sweep(fake_dir, out, *blow_up) == 0
    rows = read_csv(out / "results.csv")
    assert [r["status"] for r in rows] == ["diverged", "ok"]
    assert "non-finite" in rows[0]["error"] and rows[0]["val_acc"] == ""
    diverged_dir = out / "trials" / rows[0]["trial"]
    assert (diverged_dir / "diverged.json").is_file() and not (diverged_dir / "summary.json").exists()
    printed = capsys.readouterr().out
    assert "1 finished, 1 diverged" in printed and printed.index(" ok") < printed.index("diverged")
    # resuming does not retry a diverged trial either
    mtime = (diverged_dir / "diverged.json").stat().st_mtime_ns
    assert sweep(fake_dir, out, *blow_up) == 0
    assert (diverged_dir / "diverged.json").stat().st_mtime_ns == mtime


def test_rerunning_the_command_resumes_without_retraining(fake_dir, tmp_path, capsys):
    out = tmp_path / "s"
    args = ["--grid", "learning_rate=1e-3 | 2e-3", "--grid", "reg=0 | 1e-3"]
    assert sweep(fake_dir, out, *args) == 0
    first = read_csv(out / "results.csv")
    stamps = {r["trial"]: (out / "trials" / r["trial"] / "model.npz").stat().st_mtime_ns for r in first}
    capsys.readouterr()

    assert main(["sweep", "--data-dir", str(fake_dir), "--out", str(out), *TINY, *args]) == 0
    assert "4 of 4 trials already finished" in capsys.readouterr().out
    assert {t: (out / "trials" / t / "model.npz").stat().st_mtime_ns for t in stamps} == stamps
    assert read_csv(out / "results.csv") == first

    # a crash mid-trial leaves a run dir without summary.json: only that trial runs again
    victim = first[2]["trial"]
    (out / "trials" / victim / "summary.json").unlink()
    assert sweep(fake_dir, out, *args) == 0
    again = {t: (out / "trials" / t / "model.npz").stat().st_mtime_ns for t in stamps}
    assert [t for t in stamps if again[t] != stamps[t]] == [victim]
    assert _results(out) == {
        r["trial"]: (r["status"], r["train_acc"], r["val_acc"], r["final_loss"]) for r in first
    }  # same seed, same numbers


def test_epochs_set_the_number_of_iterations(fake_dir, tmp_path):
    trials = make_trials(tiny_base(fake_dir), [{"epochs": 2.0}])
    rows = run_sweep(trials, tmp_path / "s", ["epochs"], log=None)
    assert rows[0]["iterations"] == 2 * (90 // 10)
    assert json.loads((tmp_path / "s" / "trials" / trials[0].name / "config.json").read_text())["num_iters"] == 18


def test_a_trial_without_a_run_directory_leaves_no_temporary_folder(fake_dir, tmp_path, monkeypatch):
    from autonet.sweep import run_trial

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    (trial,) = make_trials(tiny_base(fake_dir), [{}])
    row = run_trial(trial, None)
    assert row["status"] == "ok" and "files" not in row
    assert not list(tmp_path.glob("autonet-trial-*"))


def _results(out: Path) -> dict:
    rows = read_csv(out / "results.csv")
    return {r["trial"]: (r["status"], r["train_acc"], r["val_acc"], r["final_loss"]) for r in rows}


def _models_equal(a: Path, b: Path, names) -> bool:
    for name in names:
        with np.load(a / "trials" / name / "model.npz") as za, np.load(b / "trials" / name / "model.npz") as zb:
            if not all(np.array_equal(za[k], zb[k]) for k in za.files):
                return False
    return True


def test_two_jobs_give_the_same_results_as_one(fake_dir, tmp_path):
    grid = ["--grid", "learning_rate=1e-3 | 3e-3", "--grid", "reg=0 | 1e-2"]
    assert sweep(fake_dir, tmp_path / "one", *grid, "--jobs", "1") == 0
    assert sweep(fake_dir, tmp_path / "two", *grid, "--jobs", "2") == 0
    one, two = _results(tmp_path / "one"), _results(tmp_path / "two")
    assert len(one) == 4 and one == two
    assert _models_equal(tmp_path / "one", tmp_path / "two", one)


def test_executor_arguments_are_checked(fake_dir, tmp_path):
    trials = make_trials(tiny_base(fake_dir), [{"reg": 0.0}])
    with pytest.raises(ConfigError, match="exceeds the"):
        run_sweep(trials, tmp_path / "a", ["reg"], jobs=10_000, log=None)
    with pytest.raises(ConfigError, match="not both"):
        run_sweep(trials, tmp_path / "b", ["reg"], jobs=2, scheduler="tcp://127.0.0.1:1", log=None)


def test_dask_cluster_runs_the_trials_into_the_sweep_directory(fake_dir, tmp_path):
    distributed = pytest.importorskip("distributed")
    grid = ["--grid", "learning_rate=1e-3 | 3e-3", "--grid", "reg=1e-2"]
    assert sweep(fake_dir, tmp_path / "local", *grid) == 0
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        assert sweep(fake_dir, tmp_path / "dask", *grid, "--scheduler", cluster.scheduler_address) == 0
    local, remote = _results(tmp_path / "local"), _results(tmp_path / "dask")
    assert len(remote) == 2 and remote == local
    assert _models_equal(tmp_path / "local", tmp_path / "dask", remote)
    for name in remote:
        assert (tmp_path / "dask" / "trials" / name / "plots" / "training.png").is_file()


def test_heatmap_cells_and_scatter(tmp_path):
    from autonet.plots import plot_sweep_heatmap, save_figure

    grid_rows = [
        {"learning_rate": lr, "reg": reg, "val_acc": 0.1 * i, "status": "ok"}
        for i, (lr, reg) in enumerate([(1e-3, 1e-4), (1e-3, 1e-2), (2e-3, 1e-4)])
    ]
    grid_rows.append({"learning_rate": 1e3, "reg": 1e-4, "val_acc": None, "status": "diverged"})
    assert save_figure(plot_sweep_heatmap(grid_rows), tmp_path / "grid.png").stat().st_size > 0
    rng = np.random.default_rng(0)
    scattered = [
        {
            "learning_rate": float(10 ** rng.uniform(-4, -2)),
            "reg": float(10 ** rng.uniform(-5, -1)),
            "val_acc": float(rng.uniform(0.3, 0.5)),
            "status": "ok",
        }
        for _ in range(20)
    ]
    assert save_figure(plot_sweep_heatmap(scattered), tmp_path / "scatter.png").stat().st_size > 0
    with pytest.raises(Exception, match="at least one finished trial"):
        plot_sweep_heatmap([])


# ----- the sweep directory: its own space, one writer, Ctrl-C -----


def test_a_different_space_is_refused_and_extend_adds_to_the_sweep(fake_dir, tmp_path, capsys):
    out = tmp_path / "s"
    first = ["--grid", "learning_rate=1e-3 | 2e-3"]
    assert sweep(fake_dir, out, *first) == 0
    kept = {name: (out / name).read_bytes() for name in ("results.csv", "best_model.npz", "best.json")}
    capsys.readouterr()

    other = ["--grid", "learning_rate=1e-5"]
    assert sweep(fake_dir, out, *other) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(
        f"autonet sweep: error: --out {out}: holds a sweep over another space (space.learning_rate="
    )
    assert "add --extend" in err
    assert {name: (out / name).read_bytes() for name in kept} == kept  # nothing replaced
    assert sweep(fake_dir, out, *first, "--hidden", "9") == 2  # another base config is another sweep too
    assert "base.hidden=[8] recorded there, [9] now" in capsys.readouterr().err

    assert sweep(fake_dir, out, *other, "--extend") == 0
    rows = read_csv(out / "results.csv")
    assert [r["learning_rate"] for r in rows] == ["0.001", "0.002", "1e-05"]
    assert all(r["status"] == "ok" for r in rows)
    best = json.loads((out / "best.json").read_text())["trial"]
    assert best == max(rows, key=lambda r: float(r["val_acc"]))["trial"]
    # both commands now resume the whole, extended sweep
    capsys.readouterr()
    for args in (first, other):
        assert main(["sweep", "--data-dir", str(fake_dir), "--out", str(out), *TINY, *args]) == 0
        assert "3 of 3 trials already finished" in capsys.readouterr().out


def test_a_sweep_refuses_a_directory_that_is_not_a_sweep(fake_dir, tmp_path, capsys):
    out = tmp_path / "s"
    out.mkdir()
    (out / "config.json").write_text("{}")
    assert sweep(fake_dir, out, "--grid", "reg=0 | 1e-3") == 2
    assert "not a sweep directory (no sweep.json; holds config.json)" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


def test_a_second_sweep_process_on_one_directory_is_refused(fake_dir, tmp_path, capsys):
    from autonet.storage.lock import RunLock

    out = tmp_path / "s"
    out.mkdir()
    code = (
        "import sys, time; from autonet.storage.lock import RunLock; RunLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        assert sweep(fake_dir, out, "--grid", "reg=0 | 1e-3") == 2
        assert f"in use by another autonet process (PID {holder.pid})" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    with RunLock(out):
        pass


SLOW_SWEEP = """
import sys, time
from autonet import train
_step = train.Trainer.step
def slow_step(self):
    time.sleep(0.05)
    return _step(self)
train.Trainer.step = slow_step
from autonet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_during_a_sweep_checkpoints_the_trial_says_how_to_resume_and_exits_130(fake_dir, tmp_path):
    import signal

    grid = ["--grid", "learning_rate=1e-3 | 2e-3", "--num-iters", "40"]
    argv = ["sweep", "--data-dir", str(fake_dir), "--quiet", *TINY, *grid]
    assert main([*argv, "--out", str(tmp_path / "reference")]) == 0
    out = tmp_path / "s"
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SWEEP, *argv, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.monotonic() + 120
    while not list(out.glob("trials/*/config.json")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.5)  # some iterations into the first trial
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    notice, hint = err.splitlines()
    assert notice.startswith("SIGINT received: stopping after this iteration to write a checkpoint")
    assert hint.startswith("autonet sweep: interrupted by SIGINT; ") and "resume with: autonet sweep " in hint
    (trial,) = [p for p in (out / "trials").iterdir()]
    from autonet.storage.checkpoints import load_checkpoint

    state, _ = load_checkpoint(trial / "checkpoint.npz")
    assert 0 < state["iteration"] < 40, "the running trial's progress is in its checkpoint"
    assert not (trial / "summary.json").exists()
    resume = shlex.split(hint.split("resume with: ")[1])
    assert resume[0] == "autonet" and main(resume[1:]) == 0
    assert _results(out) == _results(tmp_path / "reference")  # resumed trials end bit for bit the same
    assert _models_equal(out, tmp_path / "reference", _results(out))


# ----- re-read records are checked like input; --extend keeps one base -----


@pytest.mark.parametrize(
    ("field", "value"),
    [("val_acc", "NaN"), ("train_acc", 1.5), ("iterations", -1), ("train_seconds", None), ("final_loss", [1])],
)
def test_a_tampered_trial_summary_is_one_line_naming_file_and_field(fake_dir, tmp_path, capsys, field, value):
    out = tmp_path / "s"
    grid = ["--grid", "learning_rate=1e-3 | 2e-3"]
    assert sweep(fake_dir, out, *grid) == 0
    summary = next((out / "trials").iterdir()) / "summary.json"
    record = json.loads(summary.read_text())
    record[field] = value
    summary.write_text(json.dumps(record))
    capsys.readouterr()
    assert sweep(fake_dir, out, *grid) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"autonet sweep: error: {summary}: field {field}: expected")
    assert f"delete {summary.parent} to run the trial again" in err


def test_a_tampered_divergence_record_is_named(fake_dir, tmp_path, capsys):
    out = tmp_path / "s"
    assert sweep(fake_dir, out, "--grid", "learning_rate=1e-3") == 0
    trial = next((out / "trials").iterdir())
    (trial / "summary.json").unlink()
    (trial / "diverged.json").write_text('{"error": {"nested": 1}}')
    capsys.readouterr()
    assert sweep(fake_dir, out, "--grid", "learning_rate=1e-3") == 2
    assert f"{trial / 'diverged.json'}: field error: expected" in capsys.readouterr().err


def test_extend_with_other_base_settings_is_refused_and_nothing_is_mixed(fake_dir, tmp_path, capsys):
    out = tmp_path / "s"
    assert sweep(fake_dir, out, "--grid", "reg=1e-4 | 1e-3") == 0
    kept = (out / "results.csv").read_bytes()
    capsys.readouterr()
    assert sweep(fake_dir, out, "--learning-rate", "0.5", "--grid", "reg=1e-2", "--extend") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a sweep with other base settings (base.learning_rate=" in err
    assert "add --extend" not in err  # not advised: it would be refused the same way
    assert (out / "results.csv").read_bytes() == kept


def test_a_damaged_trial_list_is_one_line(fake_dir, tmp_path, capsys):
    out = tmp_path / "s"
    assert sweep(fake_dir, out, "--grid", "learning_rate=1e-3") == 0
    record = json.loads((out / "sweep.json").read_text())
    record["trial_records"][0]["name"] = 7
    (out / "sweep.json").write_text(json.dumps(record))
    capsys.readouterr()
    assert sweep(fake_dir, out, "--grid", "learning_rate=1e-3") == 2
    assert "sweep.json: damaged trial list" in capsys.readouterr().err
