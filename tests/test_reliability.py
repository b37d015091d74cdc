"""The catalogue of faults and bad inputs in docs/reliability.md, one test per row.

Training runs here are tiny (fake CIFAR folders of 100 images, hidden 8,
float64) so that resumed and uninterrupted runs can be compared bit for bit.
Processes that must really be killed run the CLI in a subprocess whose
``Trainer.step`` sleeps a little per iteration, so there is time to hit it
mid-run; the sleep changes nothing numerically.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autonet.backends import get_backend
from autonet.cli import main
from autonet.config import Config
from autonet.data import download as fetch
from autonet.errors import ConfigError, DataError, DivergenceError, ModelFileError
from autonet.facade import TwoLayerNet
from autonet.interrupts import Interrupted, InterruptGuard
from autonet.net import init_params
from autonet.run import load_data, run
from autonet.storage import checkpoints
from autonet.storage.checkpoints import (
    CHECKPOINT_NAME,
    Checkpointer,
    check_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from autonet.storage.models import Model, save_model
from autonet.train import Trainer
from fakedata import make_fake_cifar

ITERS = 60
EVERY = 10


# ----- helpers -----


@pytest.fixture(scope="module")
def fake_dir(tmp_path_factory) -> Path:
    return make_fake_cifar(tmp_path_factory.mktemp("data"), n_per_batch=20, with_test=True).parent


def train_args(fake_dir: Path, out: Path, every: int = EVERY) -> list[str]:
    return [
        "train",
        "--data-dir",
        str(fake_dir),
        "--out",
        str(out),
        "--hidden",
        "8",
        "--num-val",
        "10",
        "--batch-size",
        "10",
        "--dtype",
        "float64",
        "--std",
        "1e-2",
        "--learning-rate",
        "1e-3",
        "--sampling",
        "epoch",
        "--num-iters",
        str(ITERS),
        "--checkpoint-every",
        str(every),
        "--quiet",
    ]


@pytest.fixture(scope="module")
def reference(fake_dir, tmp_path_factory) -> Path:
    """An uninterrupted run of :func:`train_args`."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert main(train_args(fake_dir, out)) == 0
    return out


def assert_same_run(a: Path, b: Path) -> None:
    """Bit-for-bit equal final parameters and loss history."""
    with np.load(a / "model.npz") as za, np.load(b / "model.npz") as zb:
        keys = [k for k in za.files if k[0] in "Wb" and k[1:].isdigit()]
        assert keys and za["W1"].dtype == np.float64
        for k in keys:
            np.testing.assert_array_equal(za[k], zb[k], err_msg=k)
    ha, hb = (json.loads((p / "history.json").read_text()) for p in (a, b))
    assert ha["loss"] == hb["loss"] and len(ha["loss"]) == ITERS


SLOW_CLI = """
import sys, time
from autonet import train
_step = train.Trainer.step
def slow_step(self):
    time.sleep(float(sys.argv[1]))
    return _step(self)
train.Trainer.step = slow_step
from autonet.cli import main
sys.exit(main(sys.argv[2:]))
"""


def start_slow_cli(args: list[str], delay: float, log: Path) -> subprocess.Popen:
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    with open(log, "wb") as f:
        return subprocess.Popen([sys.executable, "-c", SLOW_CLI, str(delay), *args], stdout=f, stderr=f, env=env)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, "the training process ended before the test could interrupt it"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def checkpoint_iteration(path: Path) -> int:
    return int(load_checkpoint(path)[0]["iteration"])


def exit_code(argv: list[str]) -> int:
    """``main(argv)``, with argparse's SystemExit turned into its code."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code)


# ----- kill, interrupt, resume -----


def test_sigkill_mid_run_then_resume_matches_uninterrupted_run(fake_dir, reference, tmp_path):
    out = tmp_path / "run"
    proc = start_slow_cli(train_args(fake_dir, out), 0.02, tmp_path / "log")
    wait_for(lambda: (out / CHECKPOINT_NAME).is_file(), proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not (out / "summary.json").exists(), "the run was not killed mid-run"
    assert 0 < checkpoint_iteration(out / CHECKPOINT_NAME) < ITERS
    stale = out / f".{CHECKPOINT_NAME}.killedwhilewriting.tmp"  # what a kill during a write leaves
    stale.write_bytes(b"PK\x03\x04 half a zip")

    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)
    assert not stale.exists()
    assert checkpoint_iteration(out / CHECKPOINT_NAME) == ITERS


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_writes_checkpoint_prints_resume_hint_and_exits_nonzero(fake_dir, reference, tmp_path, sig, code):
    out = tmp_path / "run"
    log = tmp_path / "log"
    proc = start_slow_cli(train_args(fake_dir, out), 0.02, log)
    wait_for(lambda: (out / CHECKPOINT_NAME).is_file(), proc)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    text = log.read_text()
    assert f"interrupted by {sig.name}" in text
    assert f"resume with: autonet train --resume {out}" in text
    saved = checkpoint_iteration(out / CHECKPOINT_NAME)
    assert f"(iteration {saved})" in text and 0 < saved < ITERS
    assert not (out / "summary.json").exists()
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)


def test_second_ctrl_c_exits_at_once_without_a_new_checkpoint(fake_dir, tmp_path):
    out = tmp_path / "run"
    log = tmp_path / "log"
    proc = start_slow_cli(train_args(fake_dir, out, every=2), 0.3, log)
    wait_for(lambda: (out / CHECKPOINT_NAME).is_file(), proc)
    before = (out / CHECKPOINT_NAME).read_bytes()
    time.sleep(0.1)  # past the iteration that wrote it (its interrupt check included), into the next 0.3 s step
    proc.send_signal(signal.SIGINT)
    wait_for(lambda: "SIGINT received" in log.read_text(), proc)
    proc.send_signal(signal.SIGINT)  # arrives while the 0.3 s step is still running
    assert proc.wait(timeout=60) == 130
    assert "SIGINT again: exiting at once" in log.read_text()
    assert "resume with" not in log.read_text()
    iteration = checkpoint_iteration(out / CHECKPOINT_NAME)
    assert iteration % 2 == 0 and (out / CHECKPOINT_NAME).read_bytes() == before
    assert [p.name for p in out.iterdir() if p.suffix == ".tmp"] == []


def test_interrupt_guard_defers_the_first_signal_and_exits_on_the_second():
    """In-process, deterministic: the first SIGINT only sets a flag; check() raises; a second exits 130."""
    said = io.StringIO()
    with InterruptGuard(stream=said) as guard:
        with guard.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.01)  # the handler runs here, and must not raise
            assert guard.signum == signal.SIGINT
            with pytest.raises(Interrupted) as e:
                guard.check("iteration", None)
            assert e.value.exit_code == 130
            with pytest.raises(SystemExit) as e2:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.5)
            assert e2.value.code == 130
    assert "stopping after this iteration" in said.getvalue() and "again" in said.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_interrupt_outside_training_is_immediate(fake_dir, tmp_path, monkeypatch, capsys):
    """Before training starts (here: while data loads) the first Ctrl-C stops at once."""
    import autonet.run

    real_load = autonet.run.load_data

    def ctrl_c_while_loading(cfg, quiet=False):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)  # the handler raises in here
        return real_load(cfg, quiet=quiet)

    monkeypatch.setattr(autonet.run, "load_data", ctrl_c_while_loading)
    assert main(train_args(fake_dir, tmp_path / "run")) == 130
    err = capsys.readouterr().err
    assert "autonet train: interrupted by SIGINT before the first checkpoint; nothing to resume" in err
    assert not (tmp_path / "run" / CHECKPOINT_NAME).exists()
    assert not (tmp_path / "run").exists()  # the directory it had just made is gone again


def _small_cfg(**kw) -> Config:
    base = dict(hidden=(8,), num_val=10, batch_size=10, dtype="float64", std=1e-2, learning_rate=1e-3, num_iters=30)
    return Config(**{**base, **kw})


class StopAt:
    """Callback that interrupts the run like a Ctrl-C would, after ``n`` iterations."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, event, trainer) -> None:
        if event == "iteration" and trainer.iteration == self.n:
            raise Interrupted(signal.SIGINT)


@pytest.mark.parametrize("sampling, update", [("replacement", "sgd"), ("epoch", "adam"), ("epoch", "momentum")])
def test_resume_through_the_api_is_bit_exact(fake_dir, tmp_path, sampling, update):
    cfg = _small_cfg(data_dir=str(fake_dir), sampling=sampling, update=update)
    d = load_data(cfg, quiet=True)
    full = run(cfg, tmp_path / "full", data=d, quiet=True)
    with pytest.raises(Interrupted) as e:
        run(cfg, tmp_path / "cut", data=d, quiet=True, checkpoint_every=7, callbacks=[StopAt(13)])
    assert e.value.checkpoint.endswith("(iteration 13)")
    resumed = run(cfg, tmp_path / "cut", data=d, quiet=True, checkpoint_every=7, resume=True)
    assert resumed["final_loss"] == full["final_loss"]
    h_full = json.loads((tmp_path / "full" / "history.json").read_text())
    h_res = json.loads((tmp_path / "cut" / "history.json").read_text())
    assert h_res == h_full
    with np.load(tmp_path / "full" / "model.npz") as a, np.load(tmp_path / "cut" / "model.npz") as b:
        for k in ("W1", "b1", "W2", "b2"):
            np.testing.assert_array_equal(a[k], b[k])


# ----- atomic checkpoint files -----


def _state(value: float) -> dict:
    return {"iteration": int(value), "params": {"W1": np.full((3, 2), value), "b1": np.zeros(2)}}


@pytest.mark.parametrize("where", ["mid-write", "before-rename"])
def test_crash_during_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, where):
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, _state(1.0))
    if where == "mid-write":

        def crash(f, arrays):
            f.write(b"PK\x03\x04" + b"\0" * 100)  # the start of a zip, then the process "dies"
            raise KeyboardInterrupt

        monkeypatch.setattr(checkpoints, "_write_arrays", crash)
        expected = KeyboardInterrupt
    else:

        def no_rename(src, dst):
            raise OSError("disk full")

        monkeypatch.setattr("autonet.storage.files.os.replace", no_rename)
        expected = OSError
    with pytest.raises(expected):
        save_checkpoint(path, _state(2.0))
    state, _ = load_checkpoint(path)
    assert state["iteration"] == 1 and (state["params"]["W1"] == 1.0).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]  # no temporary left


def test_state_of_any_structure_round_trips_exactly(tmp_path):
    """New trainer state needs no checkpoint code: nested dicts, lists, numpy scalars, big ints."""
    rng = np.random.default_rng(5)
    state = {
        "iteration": 7,
        "flag": True,
        "nothing": None,
        "name": "adam",
        "rng": rng.bit_generator.state,  # 128-bit ints
        "loss": [float(x) for x in rng.standard_normal(40)] + [float("nan")],
        "short": [0.1, 0.2],
        "opt_state": {
            "W1": {"t": np.int64(3), "beta": np.float32(0.9), "m": rng.standard_normal((4, 3)).astype(np.float32)}
        },
        "later": {"added": {"by": {"someone": [np.arange(3), (1, 2.5, "x")]}}},
    }
    path = save_checkpoint(tmp_path / "c.npz", state, meta={"config": {"hidden": [8]}})
    back, meta = load_checkpoint(path)
    assert meta == {"config": {"hidden": [8]}}
    assert back["rng"] == state["rng"] and back["iteration"] == 7 and back["flag"] is True and back["nothing"] is None
    assert back["loss"][:40] == state["loss"][:40] and np.isnan(back["loss"][40]) and back["short"] == [0.1, 0.2]
    w = back["opt_state"]["W1"]
    assert type(w["t"]) is np.int64 and type(w["beta"]) is np.float32 and w["beta"] == np.float32(0.9)
    np.testing.assert_array_equal(w["m"], state["opt_state"]["W1"]["m"]) and w["m"].dtype == np.float32
    got = back["later"]["added"]["by"]["someone"]
    np.testing.assert_array_equal(got[0], np.arange(3))
    assert got[1] == [1, 2.5, "x"]  # tuples come back as lists
    with pytest.raises(TypeError, match="object array"):
        save_checkpoint(tmp_path / "bad.npz", {"x": np.array([{}], dtype=object)})
    with pytest.raises(TypeError, match="set"):
        save_checkpoint(tmp_path / "bad.npz", {"x": {1, 2}})
    assert not (tmp_path / "bad.npz").exists()


def test_non_finite_state_is_never_saved(tmp_path):
    ck = Checkpointer(tmp_path / CHECKPOINT_NAME, every=1)

    class T:
        iteration = 4
        params = {"W1": np.ones((2, 2)), "b1": np.zeros(2)}

        def state_dict(self):
            return {"iteration": self.iteration, "params": self.params}

    t = T()
    assert ck.save(t) and checkpoint_iteration(ck.path) == 4
    t.iteration, t.params = 5, {"W1": np.array([[1.0, np.inf], [0, 0]]), "b1": np.zeros(2)}
    assert ck.save(t) is False
    assert checkpoint_iteration(ck.path) == 4 and ck.describe().endswith("(iteration 4)")


def test_periodic_saves_take_at_most_max_overhead_of_the_time(tmp_path, monkeypatch):
    # a fake clock: every step takes 1 s, every save 10 s; every=1 asks for a save after each step
    clock = [0.0]
    monkeypatch.setattr(checkpoints.time, "perf_counter", lambda: clock[0])
    saved = []

    def slow_save(path, state, meta=None):
        clock[0] += 10.0
        saved.append(state["iteration"])

    monkeypatch.setattr(checkpoints, "save_checkpoint", slow_save)
    ck = Checkpointer(tmp_path / CHECKPOINT_NAME, every=1, max_overhead=0.02)

    class T:
        iteration = 0
        params = {"W1": np.ones((2, 2))}

        def state_dict(self):
            return {"iteration": self.iteration}

    t = T()
    for _ in range(3000):
        clock[0] += 1.0
        t.iteration += 1
        ck("iteration", t)
    assert saved[0] == 1 and 5 <= len(saved) < 10  # saves k+1 waits until 500 (k+1) s: 2% of the time
    assert ck.save_seconds <= 0.02 * clock[0] + 10.0  # the budget, give or take the last save
    ck("end", t)
    assert saved[-1] == 3000  # the end is always saved
    unlimited = Checkpointer(tmp_path / "other.npz", every=1, max_overhead=0)
    saved.clear()
    for _ in range(5):
        t.iteration += 1
        unlimited("iteration", t)
    assert len(saved) == 5


# ----- damaged, foreign and mismatched checkpoints -----


@pytest.fixture
def good_checkpoint(tmp_path) -> Path:
    state = {
        "iteration": 3,
        "params": init_params([6, 4, 3], rng=0),
        "history": {"loss": [float(i) for i in range(50)]},
    }
    return save_checkpoint(tmp_path / CHECKPOINT_NAME, state, meta={"config": {"hidden": [4]}})


def test_bit_flip_in_checkpoint_is_reported_as_corrupted(good_checkpoint):
    blob = bytearray(good_checkpoint.read_bytes())
    start = blob.index(b"\x93NUMPY")  # first array member's header; its data follows
    blob[start + 200] ^= 0xFF
    good_checkpoint.write_bytes(bytes(blob))
    with pytest.raises(ModelFileError, match=r"corrupted.*CRC|CRC.*corrupted|corrupted"):
        load_checkpoint(good_checkpoint)


@pytest.mark.parametrize("keep", [0, 30, 0.5, -1], ids=["empty", "header", "half", "last-byte"])
def test_truncated_checkpoint_is_refused(good_checkpoint, keep):
    blob = good_checkpoint.read_bytes()
    cut = {0: 0, 30: 30, 0.5: len(blob) // 2, -1: len(blob) - 1}[keep]
    good_checkpoint.write_bytes(blob[:cut])
    with pytest.raises(ModelFileError, match=str(good_checkpoint.name)):
        load_checkpoint(good_checkpoint)


def test_checkpoint_with_pickled_objects_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch '{marker}'",)

    path = tmp_path / CHECKPOINT_NAME
    header = np.frombuffer(
        json.dumps(
            {"format": "autonet-checkpoint", "version": 1, "tree": {"state": {"x": {"__ndarray__": "a0"}}, "meta": {}}}
        ).encode(),
        dtype=np.uint8,
    )
    np.savez(path, a0=np.array([Payload()], dtype=object), header=header)
    with pytest.raises(ModelFileError, match="holds pickled objects; refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_model_file_is_not_a_checkpoint(tmp_path):
    path = save_model(tmp_path / "model.npz", Model(init_params([6, 4, 3], rng=0), np.zeros(6), list("abc")))
    with pytest.raises(ModelFileError, match="not an autonet checkpoint"):
        load_checkpoint(path)


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "nope.npz")


def test_checkpoint_of_another_architecture_names_both(good_checkpoint):
    state, meta = load_checkpoint(good_checkpoint)
    with pytest.raises(ModelFileError, match=r"architecture mismatch.*\[6, 4, 3\].*\[6, 5, 3\]"):
        check_checkpoint(good_checkpoint, state, meta, {}, init_params([6, 5, 3], rng=0))
    with pytest.raises(ModelFileError, match="float64, this run uses float32"):
        check_checkpoint(good_checkpoint, state, meta, {}, init_params([6, 4, 3], rng=0, dtype=np.float32))
    check_checkpoint(good_checkpoint, state, meta, {"config": {"hidden": [4]}}, init_params([6, 4, 3], rng=0))


def test_resume_with_edited_config_names_the_difference(fake_dir, reference, tmp_path, capsys):
    out = tmp_path / "run"
    _copy_run(reference, out)
    cfg = json.loads((out / "config.json").read_text())
    cfg["learning_rate"] = 0.5
    (out / "config.json").write_text(json.dumps(cfg))
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "config.learning_rate=0.001 in the checkpoint, 0.5 in the run" in err


def test_resume_on_other_data_is_refused(reference, tmp_path, capsys):
    other = make_fake_cifar(tmp_path / "other", n_per_batch=20, with_test=True, seed=9).parent
    out = tmp_path / "run"
    _copy_run(reference, out)
    assert main(["train", "--resume", str(out), "--data-dir", str(other), "--quiet"]) == 2
    assert "data.labels_crc32=" in capsys.readouterr().err


def _copy_run(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for name in ("config.json", CHECKPOINT_NAME):
        (dst / name).write_bytes((src / name).read_bytes())


@pytest.mark.parametrize("case", ["no-config", "no-checkpoint", "run-flags"])
def test_resume_usage_errors(reference, tmp_path, capsys, case):
    out = tmp_path / "run"
    out.mkdir()
    argv = ["train", "--resume", str(out), "--quiet"]
    if case != "no-config":
        (out / "config.json").write_bytes((reference / "config.json").read_bytes())
    if case == "run-flags":
        (out / CHECKPOINT_NAME).write_bytes((reference / CHECKPOINT_NAME).read_bytes())
        argv += ["--lr", "0.1", "--hidden", "9"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    want = {
        "no-config": "no config.json there",
        "no-checkpoint": "no checkpoint.npz there",
        "run-flags": "drop --hidden, --learning-rate",
    }[case]
    assert want in err and err.count("\n") == 1


# ----- divergence -----


def test_divergence_exits_3_with_one_line_and_keeps_the_last_good_checkpoint(fake_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--data-dir",
        str(fake_dir),
        "--out",
        str(out),
        "--hidden",
        "8",
        "--num-val",
        "10",
        "--batch-size",
        "10",
        "--std",
        "1",
        "--learning-rate",
        "3",
        "--num-iters",
        "200",
        "--checkpoint-every",
        "1",
        "--quiet",
    ]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("autonet train: error: non-finite")
    assert "at iteration" in err and "parameter W" in err and "last good checkpoint" in err
    state, _ = load_checkpoint(out / CHECKPOINT_NAME)
    assert f"(iteration {state['iteration']})" in err
    assert all(np.isfinite(v).all() for v in state["params"].values())
    assert not (out / "summary.json").exists()


def test_divergence_through_the_api_names_iteration_and_parameter(rng):
    X = rng.standard_normal((40, 5)) * 1e3
    y = rng.integers(0, 3, 40)
    t = Trainer(
        get_backend("manual"),
        init_params([5, 4, 3], std=1.0, rng=rng),
        X,
        y,
        config=Config(learning_rate=1e6, num_iters=50, batch_size=20, progress=False),
    )
    with np.errstate(all="ignore"), pytest.raises(DivergenceError) as e:
        t.fit()
    assert f"at iteration {e.value.iteration}" in str(e.value)
    named = e.value.name if e.value.name != "loss" else str(e.value).split("parameter ")[1][:2]
    assert named in t.params


# ----- API inputs: validated once, up front -----


def _bad_inputs(case: str, rng) -> tuple:
    X, y = rng.standard_normal((30, 6)), rng.integers(0, 3, 30)
    return {
        "X-1d": (X[:, 0], y, "must be 2-D"),
        "X-wrong-D": (X[:, :5], y, "expects D=6"),
        "X-nan": (np.where(np.arange(6) == 2, np.nan, X), y, "NaN or infinite"),
        "X-inf": (np.where(np.arange(6) == 2, -np.inf, X), y, "NaN or infinite"),
        "X-strings": (X.astype(str), y, "real numbers"),
        "y-out-of-range": (X, np.where(np.arange(30) == 4, 3, y), r"labels must be in \[0, 3\)"),
        "y-negative": (X, np.where(np.arange(30) == 4, -1, y), r"labels must be in \[0, 3\)"),
        "y-float": (X, y.astype(float), "integer labels"),
        "N-mismatch": (X, y[:29], r"must have shape \(30,\)"),
    }[case]


CASES = ["X-1d", "X-wrong-D", "X-nan", "X-inf", "X-strings", "y-out-of-range", "y-negative", "y-float", "N-mismatch"]


@pytest.mark.parametrize("case", CASES)
def test_trainer_refuses_bad_inputs_by_name(rng, case):
    X, y, match = _bad_inputs(case, rng)
    params = init_params([6, 4, 3], rng=rng)
    cfg = Config(num_iters=2, batch_size=5, progress=False)
    with pytest.raises(DataError, match="X_train|y_train") as e:
        Trainer(get_backend("manual"), params, X, y, config=cfg)
    assert e.match(match)
    good_X, good_y = rng.standard_normal((30, 6)), rng.integers(0, 3, 30)
    with pytest.raises(DataError, match="X_val|y_val") as e:
        Trainer(get_backend("manual"), params, good_X, good_y, X, y, config=cfg)
    assert e.match(match)


@pytest.mark.parametrize("case", CASES)
def test_two_layer_net_refuses_bad_inputs_by_name(rng, case):
    X, y, match = _bad_inputs(case, rng)
    net = TwoLayerNet(6, 4, 3, seed=0)
    with pytest.raises(DataError, match=match):
        net.loss(X, y)
    with pytest.raises(DataError, match=match):
        net.train(X, y, X, y, num_iters=2, batch_size=5)
    if case.startswith("X"):
        with pytest.raises(DataError, match=match):
            net.predict(X)


def test_val_data_must_come_in_pairs(rng):
    with pytest.raises(DataError, match="X_val and y_val must be given together"):
        Trainer(
            get_backend("manual"),
            init_params([6, 4, 3], rng=rng),
            rng.standard_normal((30, 6)),
            rng.integers(0, 3, 30),
            X_val=rng.standard_normal((5, 6)),
            config=Config(progress=False),
        )


def test_inputs_are_checked_once_not_per_iteration(rng, monkeypatch):
    import autonet.train

    calls = []
    real = autonet.train.check_inputs
    monkeypatch.setattr(autonet.train, "check_inputs", lambda *a, **k: calls.append(1) or real(*a, **k))
    X, y = rng.standard_normal((30, 6)), rng.integers(0, 3, 30)
    Trainer(
        get_backend("manual"),
        init_params([6, 4, 3], rng=rng),
        X,
        y,
        X,
        y,
        config=Config(num_iters=25, batch_size=5, progress=False),
    ).fit()
    assert len(calls) == 2  # train and val, once each; not 25 times


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(input_size="3072", hidden_size=4, output_size=3), "layer sizes"),
        (dict(input_size=6, hidden_size=0, output_size=3), "layer sizes"),
        (dict(input_size=6, hidden_size=4, output_size=3, std=float("inf")), "std"),
        (dict(input_size=6, hidden_size=4, output_size=3, backend="torch"), "unknown backend"),
    ],
    ids=["size-str", "size-0", "std-inf", "backend"],
)
def test_two_layer_net_constructor_refuses_bad_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TwoLayerNet(**kwargs)


def _net_loss(reg):
    net = TwoLayerNet(6, 4, 3, seed=0)
    X, y = np.ones((2, 6)), np.array([0, 1])
    return net.loss(X, y, reg=reg)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: TwoLayerNet(3072, 10, 10, seed=-1), r"seed must be an integer in \[0, 2\*\*64 - 1\] or none, got -1$"),
        (
            lambda: TwoLayerNet(6, 4, 3, seed=10**400),
            r"seed must be an integer in \[0, 2\*\*64 - 1\] or none, got 1000",
        ),
        (lambda: TwoLayerNet(3072, 10**400, 10), r"hidden_size must be an integer in \[1, 100_000_000\], got 1000"),
        (lambda: TwoLayerNet(10**400, 10, 10), r"input_size must be an integer in \[1, 100_000_000\], got 1000"),
        (
            lambda: TwoLayerNet(6, 4, 3, std=10**400),
            r"std must be a finite number > 0 \(this one is beyond float64's range\), got 1000",
        ),
        (lambda: _net_loss(10**400), r"reg must be a finite number >= 0 \(this one is beyond float64's range\)"),
        (lambda: _net_loss(-1.0), r"reg must be >= 0, got -1.0"),
        (
            lambda: Config(learning_rate=10**400),
            r"learning_rate must be a finite number > 0 \(this one is beyond float64's range\), got 1000",
        ),
    ],
    ids=["seed-neg", "seed-huge", "hidden-huge", "input-huge", "std-huge", "reg-huge", "reg-neg", "config-lr-huge"],
)
def test_two_layer_net_refuses_negative_seeds_and_huge_numbers_with_the_schemas_message(call, message):
    with pytest.raises(ConfigError, match=message) as e:
        call()
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "bad",
    [
        dict(seed=-1),
        dict(seed=1.5),
        dict(learning_rate_decay="0.9"),
        dict(reg="0"),
        dict(update=["sgd"]),
        dict(train_acc_samples=0),
        dict(learning_rate=True),
    ],
)
def test_train_config_refuses_wrong_types_by_name(bad):
    name = next(iter(bad))
    with pytest.raises(ConfigError, match=name):
        Config(**bad)


# ----- CLI values -----


@pytest.mark.parametrize(
    "flag, value, message",
    [
        ("--lr=-1e-3", None, r"learning_rate must be > 0, got -0.001"),
        ("--num-iters", "0", r"num_iters must be an integer in \[1, .*\], got 0"),
        ("--hidden", "300,0", r"hidden must be positive integers .*, got \(300, 0\)"),
        ("--update", "lbfgs", "update must be one of .*, got 'lbfgs'"),
        ("--seed", "-1", r"seed must be an integer in \[0, .*\] or none, got -1"),
        ("--learning-rate-decay", "1.5", r"learning_rate_decay must be in \(0, 1\]"),
        ("--checkpoint-every", "-1", "expected an integer >= 0"),
        ("--num-val", "100", r"num_val must be an integer in \[0, 100\)"),
    ],
    ids=["lr-negative", "num-iters-0", "hidden-0", "update", "seed", "decay", "checkpoint-every", "num-val"],
)
def test_cli_values_are_refused_by_name(fake_dir, tmp_path, capsys, flag, value, message):
    code = exit_code(
        [
            "train",
            "--data-dir",
            str(fake_dir),
            "--out",
            str(tmp_path / "r"),
            "--quiet",
            "--num-val",
            "10",
            flag,
            *([] if value is None else [value]),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(("autonet train: error:", "autonet: error:"))
    assert re.search(message, err), err


# ----- other untrusted input: downloads and model files -----


def test_ctrl_c_during_download_leaves_no_partial_file(tmp_path, monkeypatch):
    def interrupted_fetch(url, out, timeout, quiet, **limits):  # limits: deadline, max_bytes
        out.write(b"\x1f\x8b" + b"\0" * 1000)  # part of an archive, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch, "_fetch", interrupted_fetch)
    target = tmp_path / "cache" / "autonet"
    with pytest.raises(KeyboardInterrupt):
        fetch.download_cifar10(target, url="http://127.0.0.1:9/x.tar.gz", quiet=True)
    assert not (tmp_path / "cache").exists()  # nothing left, not even the folders it made


def test_model_for_other_inputs_is_a_clear_error(fake_dir, tmp_path, capsys):
    path = save_model(
        tmp_path / "model.npz", Model(init_params([6, 4, 10], rng=0), np.zeros(6), [str(i) for i in range(10)])
    )
    assert main(["evaluate", str(path), "--data-dir", str(fake_dir), "--num-val", "10"]) == 2
    assert "model expects 6 inputs, data has 3072" in capsys.readouterr().err


def test_a_pickle_posing_as_a_checkpoint_is_refused_unread(tmp_path):
    """A pickle where a checkpoint is expected: refused without unpickling."""
    marker = tmp_path / "pwned"
    path = tmp_path / CHECKPOINT_NAME

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch '{marker}'",)

    path.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelFileError):
        load_checkpoint(path)
    assert not marker.exists()


# ----- one writer per run directory; --out never clobbers; finished runs stay finished -----


def test_a_second_writer_is_refused_naming_the_pid_and_a_killed_holder_leaves_no_stale_lock(
    fake_dir, reference, tmp_path, capsys
):
    out = tmp_path / "run"
    proc = start_slow_cli(train_args(fake_dir, out), 0.05, tmp_path / "log")
    wait_for(lambda: (out / CHECKPOINT_NAME).is_file(), proc)
    # a resume while the run is live, and a fresh run forced onto its directory: both refused, nothing touched
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != CHECKPOINT_NAME}
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"in use by another autonet process (PID {proc.pid})" in err
    assert exit_code([*train_args(fake_dir, out), "--overwrite"]) == 2
    assert f"(PID {proc.pid})" in capsys.readouterr().err
    assert proc.poll() is None, "the first writer must not be disturbed"
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name in before} == before
    proc.send_signal(signal.SIGKILL)  # the kernel drops a flock with its process: no stale lock
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert (out / ".lock").read_text().strip() == str(proc.pid)  # the file stays, the lock does not
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)


def test_run_lock_in_process_names_the_holder(tmp_path):
    from autonet.errors import RunDirBusy
    from autonet.storage.lock import RunLock

    code = (
        "import sys, time; from autonet.storage.lock import RunLock; RunLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(RunDirBusy, match=f"PID {holder.pid}") as e:
            RunLock(tmp_path).acquire()
        assert e.value.pid == holder.pid
    finally:
        holder.kill()
        holder.wait()
    with RunLock(tmp_path) as lock:  # free again once the holder is gone
        assert lock.held and (tmp_path / ".lock").read_text().strip() == str(os.getpid())


@pytest.mark.parametrize("case", ["finished", "checkpointed", "other-files"])
def test_out_refuses_a_directory_that_holds_anything_unless_overwrite(fake_dir, reference, tmp_path, capsys, case):
    out = tmp_path / "run"
    out.mkdir()
    if case == "other-files":
        (out / "notes.txt").write_text("mine")
    else:
        names = ["config.json", CHECKPOINT_NAME] + (["summary.json"] if case == "finished" else [])
        for name in names:
            (out / name).write_bytes((reference / name).read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    argv = train_args(fake_dir, out)
    argv[argv.index("--hidden") + 1] = "9"  # another run's settings
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ("refusing to overwrite it" in err) != (case == "other-files")
    assert ("not empty (1 entry: notes.txt)" in err) == (case == "other-files")
    assert "--overwrite" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != ".lock"} == before  # config.json intact
    if case == "checkpointed":
        assert f"resume it with --resume {out}" in err
        assert main(["train", "--resume", str(out), "--quiet"]) == 0  # the original run can still be resumed
        assert_same_run(out, reference)
    assert main([*argv, "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["hidden"] == [9]
    if case == "other-files":
        assert (out / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("where", ["file", "dev-null", "below-a-file"])
def test_out_that_is_a_file_is_one_line_exit_2(fake_dir, tmp_path, capsys, where):
    (tmp_path / "f").write_text("x")
    out = {"file": tmp_path / "f", "dev-null": Path(os.devnull), "below-a-file": tmp_path / "f" / "run"}[where]
    assert main(train_args(fake_dir, out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"autonet train: error: --out {out}:")
    assert (tmp_path / "f").read_text() == "x"


def test_resuming_a_finished_run_says_so_and_changes_nothing(fake_dir, reference, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    for p in reference.rglob("*"):
        if p.is_file():
            (out / p.relative_to(reference)).parent.mkdir(parents=True, exist_ok=True)
            (out / p.relative_to(reference)).write_bytes(p.read_bytes())
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"{out}: this run has already finished ({ITERS} iterations, val acc ")
    assert "nothing to resume, nothing changed" in said
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before


# ----- disk full, read-only output -----


def test_disk_full_mid_run_is_one_line_keeps_the_last_checkpoint_and_says_how_to_resume(
    fake_dir, reference, tmp_path, capsys, monkeypatch
):
    import errno

    out = tmp_path / "run"
    real = checkpoints._write_arrays
    calls = []

    def full_after_one(f, arrays):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(f, arrays)

    monkeypatch.setattr(checkpoints, "_write_arrays", full_after_one)
    assert main(train_args(fake_dir, out)) == 74
    err = capsys.readouterr().err
    saved = checkpoint_iteration(out / CHECKPOINT_NAME)
    assert 0 < saved < ITERS and len(calls) >= 2
    assert err.count("\n") == 1
    assert err.startswith(
        f"autonet train: error: cannot write {out / CHECKPOINT_NAME}: No space left on device; "
        f"last good checkpoint: {out / CHECKPOINT_NAME} (iteration {saved}); "
    )
    assert err.rstrip().endswith(f"resume with: autonet train --resume {out}")
    assert [p.name for p in out.iterdir() if p.suffix == ".tmp"] == []
    monkeypatch.setattr(checkpoints, "_write_arrays", real)  # space freed
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_same_run(out, reference)


def test_disk_full_while_writing_results_keeps_the_checkpoint(fake_dir, tmp_path, capsys, monkeypatch):
    import errno

    import autonet.storage.files as files

    real = files.atomic_write

    def full(f):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def full_for_models(path, write):  # the disk fills up just as the model is written
        return real(path, full if Path(path).name == "model.npz" else write)

    monkeypatch.setattr(files, "atomic_write", full_for_models)
    out = tmp_path / "run"
    assert main(train_args(fake_dir, out)) == 74
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.npz: No space left on device" in err
    assert f"last good checkpoint: {out / CHECKPOINT_NAME} (iteration {ITERS})" in err
    assert checkpoint_iteration(out / CHECKPOINT_NAME) == ITERS


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_directory_is_one_line(fake_dir, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(train_args(fake_dir, ro / "run")) == 74
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Permission denied" in err
    finally:
        ro.chmod(0o755)


def test_read_only_file_system_is_one_line(fake_dir, tmp_path, capsys, monkeypatch):
    """What a read-only mount says (EROFS), simulated: the first file written is refused."""
    import errno

    def read_only(*a, **k):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("autonet.storage.files.tempfile.mkstemp", read_only)
    assert main(train_args(fake_dir, tmp_path / "run")) == 74
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.json: Read-only file system" in err


# ----- memory, divergence causes -----


@pytest.mark.parametrize(
    "flags, part",
    [
        (["--hidden", "1000000"], "parameters"),
        (["--batch-size", "1000000000", "--sampling", "replacement"], "batch"),
        (["--hidden", "99999999999999999999"], "hidden must be positive integers up to"),  # the schema's bound
        (["--hidden", "100000,100000,100000", "--update", "adam"], "optimizer state"),
    ],
    ids=["hidden", "batch", "huge-int", "adam-state"],
)
def test_a_run_that_cannot_fit_in_memory_is_refused_up_front(fake_dir, tmp_path, capsys, monkeypatch, flags, part):
    import autonet.memory

    monkeypatch.setattr(autonet.memory, "available_bytes", lambda: (8 * 2**30, "MemAvailable in /proc/meminfo"))
    out = tmp_path / "run"
    argv = train_args(fake_dir, out)
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and part in err, err
    if "must be" not in part:
        assert re.search(r"needs about [\d.e+]+ [KMGTP]iB of memory \(", err), err
        assert "this machine has 8.0 GiB available (MemAvailable in /proc/meminfo)" in err
    assert not out.exists()  # refused before the run directory was made


def test_the_memory_estimate_respects_the_process_limit_ulimit_v(fake_dir, tmp_path):
    out = tmp_path / "run"
    argv = train_args(fake_dir, out)
    argv[argv.index("--hidden") + 1] = "300000"
    argv[argv.index("--dtype") + 1] = "float32"
    command = " ".join([sys.executable, "-m", "autonet", *argv])
    done = subprocess.run(["bash", "-c", f"ulimit -v 3000000; {command}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert "a 3072-300000-10 net with batch 10 (float32, sgd) needs about" in done.stderr
    assert re.search(r"this process has [\d.]+ [KMG]iB available \(RLIMIT_AS \(ulimit -v\) 2.9 GiB, ", done.stderr)
    assert not out.exists()


def test_a_cgroup_memory_max_is_read_and_the_smallest_budget_wins(tmp_path, monkeypatch):
    import autonet.memory

    (tmp_path / "memory.max").write_text("1073741824\n")
    (tmp_path / "memory.current").write_text("536870912\n")
    assert autonet.memory._cgroup_room(tmp_path) == (2**29, "cgroup memory.max 1.0 GiB, 512.0 MiB of it in use")
    (tmp_path / "memory.max").write_text("max\n")
    assert autonet.memory._cgroup_room(tmp_path) is None
    monkeypatch.setattr(autonet.memory, "available_bytes", lambda: (8 * 2**30, "MemAvailable in /proc/meminfo"))
    monkeypatch.setattr(autonet.memory, "_cgroup_room", lambda: (2**29, "cgroup memory.max 1.0 GiB, 512 MiB in use"))
    assert autonet.memory.memory_budget() == (2**29, "cgroup memory.max 1.0 GiB, 512 MiB in use")
    with pytest.raises(ConfigError, match=r"needs about 1.0 GiB .*; this process has 512.0 MiB available \(cgroup"):
        autonet.memory.check_fits({"parameters": 2**30})


def test_float32_weights_are_drawn_without_a_float64_copy_of_the_matrix():
    import tracemalloc

    tracemalloc.start()
    try:
        params = init_params([3072, 2000, 10], rng=0, dtype=np.float32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    w1 = params["W1"].nbytes  # 24.6 MB; the whole-matrix float64 draw peaked at 2 * 2 * w1 on top
    assert peak < w1 + (40 << 20), peak  # the result plus one 32 MiB float64 block of rows


def test_a_memory_error_beyond_the_estimate_is_one_line_naming_the_estimate(fake_dir, tmp_path, capsys, monkeypatch):
    import autonet.run

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 6.87 GiB for an array with shape (3072, 300000) and data type float64")

    monkeypatch.setattr(autonet.run, "init_params", no_memory)
    assert main(train_args(fake_dir, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(
        "autonet train: error: ran out of memory (MemoryError: Unable to allocate 6.87 GiB for an array with "
        "shape (3072, 300000) and data type float64); the up-front estimate: a 3072-8-10 net with batch 10 "
        "(float64, sgd) needs about "
    ), err
    assert err.rstrip().endswith("; lower --hidden or --batch-size"), err
    monkeypatch.setattr(autonet.run, "load_data", no_memory)  # before any estimate: caught at the CLI boundary
    assert main(train_args(fake_dir, tmp_path / "run2")) == 2
    assert capsys.readouterr().err == (
        "autonet train: error: ran out of memory (MemoryError: Unable to allocate 6.87 GiB for an array with "
        "shape (3072, 300000) and data type float64)\n"
    )


def test_available_memory_is_read_from_proc_meminfo_or_sysconf():
    import autonet.memory

    have, source = autonet.memory.available_bytes()
    assert have > 0 and source in ("MemAvailable in /proc/meminfo", "free physical pages (sysconf)")
    parts = autonet.memory.training_bytes([3072, 300, 10], 400, 4, "adam")
    P = 3072 * 300 + 300 + 300 * 10 + 10
    assert parts["parameters"] == 4 * P and parts["optimizer state"] == 8 * P and parts["checkpoint"] == 12 * P
    assert parts["batch"] == 400 * (3072 + 4 * 300 + 30) * 4


def test_divergence_at_the_first_step_blames_the_init_scale_not_the_learning_rate(fake_dir, tmp_path, capsys):
    argv = train_args(fake_dir, tmp_path / "run")
    argv[argv.index("--std") + 1] = "1e200"
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at iteration 0" in err and "learning rate (now" not in err
    assert (
        "before any update, so not the learning rate: the initial weights are too large; lower the init "
        "std (--std)" in err
    )


def test_inputs_beyond_float32_are_refused_and_huge_inputs_are_named(rng):
    X, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    cfg = Config(num_iters=5, batch_size=20, progress=False)
    with pytest.raises(DataError, match=r"X_train holds values up to [\d.]+e\+300, beyond float32's range"):
        Trainer(get_backend("manual"), init_params([5, 4, 3], rng=0, dtype=np.float32), X * 1e300, y, config=cfg)
    t = Trainer(get_backend("manual"), init_params([5, 4, 3], rng=0, dtype=np.float32), X * 1e30, y, config=cfg)
    with np.errstate(all="ignore"), pytest.raises(DivergenceError, match=r"the inputs are very large \(max \|x\| ="):
        t.fit()


def test_an_npz_dataset_beyond_float32_is_named_not_called_infinite(fake_dir, tmp_path, capsys, rng):
    path = tmp_path / "big300.npz"
    X = rng.standard_normal((40, 12)) * 1e300  # finite in float64, inf once cast to float32
    np.savez(path, X_train=X, y_train=rng.integers(0, 3, 40))
    argv = ["train", "--dataset", str(path), "--num-val", "10", "--hidden", "8", "--batch-size", "10"]
    assert main([*argv, "--num-iters", "2", "--quiet", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN or infinite" not in err, err
    assert re.search(
        rf"error: {re.escape(str(path))}: X_train holds values up to [\d.]+e\+300, beyond float32's range "
        r"\(largest 3.4e\+38\): scale them, or train in float64 \(--dtype float64\)$",
        err.strip(),
    ), err


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--reg", "1e308", "--dtype", "float32"],
            r"at iteration 1 .*; the L2 term diverges: learning rate x reg = 1e\+305 > 1, so the decay step "
            r"w -= lr \* reg \* w overshoots and grows the weights; lower --reg \(now 1e\+308\) or the learning "
            r"rate \(now 0.001\)",
        ),
        (
            ["--reg", "1e308", "--std", "1"],
            r"at iteration 0 .*; before any update, so not the learning rate: the L2 term 0.5 \* reg \* sum "
            r"\|\|W\|\|\^2 = inf overflows float64; lower --reg \(now 1e\+308\)",
        ),
    ],
    ids=["after-a-step", "at-the-start"],
)
def test_divergence_from_a_huge_reg_blames_reg_not_the_learning_rate(fake_dir, tmp_path, capsys, flags, message):
    argv = train_args(fake_dir, tmp_path / "run")
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        if flag in argv:
            argv[argv.index(flag) + 1] = value
        else:
            argv += [flag, value]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "smaller learning rate" not in err, err
    assert re.search(message, err), err


# ----- plot, evaluate and API odds and ends: one line, exit 2 -----


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("history.json", '{"loss": [1.0', "history.json: not valid JSON"),
        ("history.json", "[1, 2]", "history.json: expected a JSON object, got list"),
        ("history.json", '{"loss": [1.0, "a"]}', "history.json: history 'loss'[1] must be a number, got 'a'"),
        ("history.json", '{"val_acc": [0.1]}', "history.json: history has no 'loss' list"),
        ("history.json", "[" * 100000 + "]" * 100000, "history.json: "),
        ("config.json", "{", "config.json: not valid JSON"),
        ("summary.json", '"s"', "summary.json: expected a JSON object, got str"),
    ],
    ids=["truncated", "list", "string-loss", "no-loss", "deep", "config", "summary"],
)
def test_plot_refuses_bad_run_files_in_one_line(reference, tmp_path, capsys, name, text, message):
    run = tmp_path / "run"
    run.mkdir()
    for f in ("config.json", "history.json", "summary.json"):
        (run / f).write_bytes((reference / f).read_bytes())
    (run / name).write_text(text)
    assert exit_code(["plot", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"autonet plot: error: {run / name}"[:40]) and message in err


@pytest.mark.parametrize(
    "change, warning",
    [
        (
            {"loss": [1e308]},
            "history 'loss': 1 of 1 values outside [-1e+100, 1e+100] left out of the plot (first 1e+308",
        ),
        ({"loss": [1e308, -1e308]}, "history 'loss': 2 of 2 values outside [-1e+100, 1e+100]"),
        (
            {"loss": [2.3, 10**400, 2.1]},
            "1 of 3 values outside [-1e+100, 1e+100] left out of the plot (first an integer",
        ),
        (
            {"train_acc": [0.5, 1e306]},
            "history 'train_acc': 1 of 2 values outside [0, 1] (not accuracies) left out of the plot (first 1e+306",
        ),
        ({"val_acc": [-3, 0.2]}, "history 'val_acc': 1 of 2 values outside [0, 1] (not accuracies)"),
        ({"learning_rate": [1e308, 1e308]}, None),  # recorded, not drawn
    ],
    ids=["loss-1e308", "loss-pm-1e308", "loss-10**400", "train-acc-1e306", "val-acc-negative", "lr-1e308"],
)
def test_plot_leaves_unplottable_history_values_out_with_a_one_line_warning(
    reference, tmp_path, capsys, change, warning
):
    run = tmp_path / "run"
    run.mkdir()
    for f in ("config.json", "summary.json"):
        (run / f).write_bytes((reference / f).read_bytes())
    history = json.loads((reference / "history.json").read_text())
    (run / "history.json").write_text(json.dumps({**history, **change}))
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert exit_code(["plot", str(run), "--out", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "training.png").stat().st_size > 0
    messages = [str(w.message) for w in caught]
    assert messages == ([] if warning is None else [messages[0]]), messages
    if warning is not None:
        assert warning in messages[0] and "\n" not in messages[0], messages
    if change.get("loss") == [1e308]:  # as a user sees it: one warning line on stderr, no traceback
        done = subprocess.run(
            [sys.executable, "-m", "autonet", "plot", str(run), "--out", str(tmp_path / "plots2")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and done.stderr == f"autonet plot: warning: {messages[0]}\n", done.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--dpi", "100000"], "argument --dpi: expected an integer in [1, 600], got '100000'"),
        (["--dpi", "0"], "argument --dpi: expected a positive integer, got '0'"),
        (["--out", os.devnull], f"--out {os.devnull}: exists and is not a directory"),
        (["--out", "FILE"], "exists and is not a directory"),
        (["--out", "FILE/plots"], "is a file, not a directory"),
    ],
    ids=["dpi-huge", "dpi-0", "dev-null", "file", "below-a-file"],
)
def test_plot_refuses_absurd_dpi_and_out(reference, tmp_path, capsys, argv, message):
    (tmp_path / "FILE").write_text("x")
    argv = [a.replace("FILE", str(tmp_path / "FILE")) for a in argv]
    assert exit_code(["plot", str(reference), *argv]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1].startswith(("autonet plot: error:", "autonet: error:")) and message in err
    assert (tmp_path / "FILE").read_text() == "x"


def test_a_model_of_other_classes_is_refused_by_evaluate_and_plot(fake_dir, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    save_model(run / "model.npz", Model(init_params([3072, 4, 5], rng=0), np.zeros(3072), list("abcde")))
    assert main(["evaluate", str(run / "model.npz"), "--data-dir", str(fake_dir), "--num-val", "10"]) == 2
    assert main(["plot", str(run), "--data-dir", str(fake_dir), "--num-val", "10"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"autonet {c}: error: model has 5 classes, cifar10 has 10" for c in ("evaluate", "plot")]


def test_empty_validation_set_int_dtype_and_whole_image_crop_are_refused(fake_dir, tmp_path, capsys, rng):
    net = TwoLayerNet(4, 3, 2, seed=0)
    X, y = rng.standard_normal((6, 4)), np.arange(6) % 2
    with pytest.raises(DataError, match=r"X_val is empty \(0 rows\)"):
        net.train(X, y, X[:0], y[:0], num_iters=2, batch_size=2)
    for dtype in (np.int32, "banana", np.float16):
        with pytest.raises(ConfigError, match="dtype must be a float type"):
            TwoLayerNet(4, 3, 2, dtype=dtype)
    out = tmp_path / "run"
    assert main([*train_args(fake_dir, out), "--augment", "crop", "--crop-padding", "32"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "crop_padding must be smaller than the image side (32 pixels), got 32" in err
    assert not out.exists()


def test_a_bias_of_another_shape_is_named_not_shown_as_equal_layer_sizes(good_checkpoint):
    state, meta = load_checkpoint(good_checkpoint)
    state["params"]["b1"] = np.zeros(7)  # the layer sizes (from the W's) still read [6, 4, 3]
    with pytest.raises(
        ModelFileError, match=r"the checkpoint holds b1 of shape \(7,\), this run builds b1 of shape \(4,\)$"
    ):
        check_checkpoint(good_checkpoint, state, meta, {}, init_params([6, 4, 3], rng=0))


def test_resume_with_an_empty_value_is_refused_not_a_fresh_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--resume=", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        "autonet train: error: --resume needs the run directory to continue (it was given an empty value)\n"
    )
    assert not (tmp_path / "runs").exists()


def test_a_run_killed_before_its_first_checkpoint_is_told_the_command_that_works(fake_dir, reference, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text((reference / "config.json").read_text())  # killed during the first checkpoint
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    command = err.split("start it again with: ", 1)[1].strip()
    assert err.count("\n") == 1 and command.startswith("autonet train --config ")
    assert main([*shlex.split(command)[1:], "--quiet"]) == 0  # the advice works as given
    assert_same_run(out, reference)


def test_a_live_writer_before_its_first_checkpoint_is_called_running_not_stopped(fake_dir, reference, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text((reference / "config.json").read_text())
    code = (
        "import sys, time; from autonet.storage.lock import RunLock; RunLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"locked"
        for argv in (["train", "--resume", str(out), "--quiet"], train_args(fake_dir, out)):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"in use by another autonet process (PID {holder.pid}), which is still running" in err
            assert "stopped" not in err
    finally:
        holder.kill()
        holder.wait()


def test_one_layer_limit_for_train_evaluate_and_plot(fake_dir, tmp_path, capsys):
    """What train accepts, evaluate and plot read back: 999 hidden layers trains and evaluates; 1,000 is refused
    by train at once (it used to train, then evaluate refused the model it wrote)."""
    deep = ",".join(["2"] * 999)
    out = tmp_path / "deep"
    argv = ["train", "--data-dir", str(fake_dir), "--out", str(out), "--hidden", deep, "--num-iters", "2"]
    assert main([*argv, "--batch-size", "10", "--num-val", "10", "--quiet"]) == 0
    assert main(["evaluate", str(out / "model.npz"), "--data-dir", str(fake_dir), "--num-val", "10"]) == 0
    assert main(["plot", str(out), "--out", str(tmp_path / "plots")]) == 0
    capsys.readouterr()
    assert main(["train", "--data-dir", str(fake_dir), "--out", str(tmp_path / "x"), "--hidden", deep + ",2"]) == 2
    assert capsys.readouterr().err == (
        "autonet train: error: hidden gives 1,000 hidden layers; at most 999 are supported "
        "(1000 weight layers, the most autonet evaluate and plot read back)\n"
    )
    (tmp_path / "c.json").write_text(json.dumps({"hidden": [1] * 100_000}))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--data-dir", str(fake_dir)]) == 2
    assert "100,000 hidden layers; at most 999" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_resume_of_a_finished_run_with_a_tampered_summary_is_one_line(fake_dir, reference, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    (out / "summary.json").write_text("[1, 2]")
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"autonet train: error: {out / 'summary.json'}: expected a JSON object, got list (edited?)\n"
    )
