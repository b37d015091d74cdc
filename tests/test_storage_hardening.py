"""Model files, checkpoints and config files that lie: refused by name, before they can do harm.

- every array of a model is checked (finite, shape, dtype), not only W and b;
- a member that would inflate to more than its header declares, or to more
  than the model needs, is refused before it is inflated (zip bombs);
- a checkpoint that is a well-formed npz but carries a lying trainer state is
  refused with the field named;
- a FIFO, device or directory given as any of these files is refused at once.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from autonet.cli import main
from autonet.config import Config
from autonet.errors import ConfigError, ModelFileError
from autonet.net import init_params
from autonet.run import load_data, read_json, run
from autonet.storage.checkpoints import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from autonet.storage.models import Model, load_model, save_model
from autonet.sweep.space import load_space
from capped import CappedWorker
from fakedata import make_fake_cifar

# ----- models -----


def _model(tmp_path, name="m.npz", **change) -> os.PathLike:
    params = init_params([6, 4, 3], rng=0)
    path = save_model(tmp_path / "good.npz", Model(params, np.zeros(6), ["a", "b", "c"]))
    with np.load(path) as z:
        arrays = dict(z)
    arrays.update(change)
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("mean_image", np.full(6, np.nan), "mean_image holds NaN or infinite values"),
        (
            "mean_image",
            np.array([0, 0, np.inf, 0, 0, 0]),
            r"mean_image holds NaN or infinite values \(1 of 6, first inf at",
        ),
        ("mean_image", np.full(6, 1e30), r"mean_image holds 1e\+30 at index 0; a mean image must lie within"),
        ("b2", np.array([0.0, np.nan, 0.0]), "b2 holds NaN or infinite values"),
        ("W1", np.full((6, 4), -np.inf), "W1 holds NaN or infinite values"),
        ("mean_image", np.zeros(5), r"mean_image has shape \(5,\), expected \(6,\)"),
        ("class_names", np.array(["a", "b"]), "2 class names for 3 outputs"),
        ("W2", np.zeros((4, 3), np.int64), r"parameters must be float arrays, got \['int64'\]"),
        ("extra", np.zeros((100, 100)), r"unexpected array extra \(float64\[100, 100\]\) in a model for 6 inputs"),
        ("extra", np.array([1.0, np.nan]), "extra holds NaN or infinite values"),
        (
            "W1",
            np.full((6, 4), 3e38),
            r"W1 holds 3e\+38 at flat index 0; a weight or bias must lie within \+-1e\+06 \(a trained net's",
        ),
        ("b2", np.array([0.0, 0.0, -2e6]), r"b2 holds -2e\+06 at flat index 2; a weight or bias must lie within"),
    ],
)
def test_every_array_of_a_model_is_checked_by_name(tmp_path, name, value, message):
    with pytest.raises(ModelFileError, match=message) as e:
        load_model(_model(tmp_path, **{name: value}))
    assert str(tmp_path / "m.npz") in str(e.value) and "\n" not in str(e.value)


def test_evaluate_refuses_a_model_with_a_poisoned_mean_image(tmp_path, capsys):
    data = make_fake_cifar(tmp_path / "d", n_per_batch=20).parent
    params = init_params([3072, 4, 10], rng=0, dtype=np.float32)
    path = save_model(tmp_path / "m.npz", Model(params, np.full(3072, 1e30, np.float32), [str(i) for i in range(10)]))
    assert main(["evaluate", str(path), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("autonet evaluate: error: ") and "mean_image holds 1e+30 at index 0" in err[-1]
    assert not any("Traceback" in line for line in err)


def _zip(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in members.items():
            z.writestr(name, blob)


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def test_a_member_inflating_past_its_header_is_refused_before_inflating(tmp_path):
    members = _members(_model(tmp_path))
    # b1.npy: a header for 4 floats followed by 200 MB of zeros (compresses to ~200 KB)
    members["b1.npy"] = members["b1.npy"] + bytes(200 << 20)
    _zip(tmp_path / "bomb.npz", members)
    assert os.path.getsize(tmp_path / "bomb.npz") < 1 << 20
    tracemalloc.start()
    start = time.monotonic()
    try:
        with pytest.raises(
            ModelFileError,
            match=r"member b1 declares float64\[4\] \(32 bytes\) but inflates to "
            r"209,715,232 bytes of data; refused before inflating",
        ):
            load_model(tmp_path / "bomb.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20 and time.monotonic() - start < 2


def test_a_header_declaring_a_huge_shape_is_refused_before_allocating(tmp_path):
    members = _members(_model(tmp_path))
    # a real header that declares 10**10 float64 (80 GB) for a 192-byte member
    big = io.BytesIO()
    np.lib.format.write_array_header_1_0(big, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
    members["W1.npy"] = big.getvalue() + bytes(192)
    _zip(tmp_path / "liar.npz", members)
    with pytest.raises(
        ModelFileError,
        match=r"member W1 declares float64\[100000, 100000\] "
        r"\(80,000,000,000 bytes\) but inflates to 192 bytes",
    ):
        load_model(tmp_path / "liar.npz")


def test_a_consistent_but_oversized_member_is_refused_by_the_layer_sizes(tmp_path):
    members = _members(_model(tmp_path))
    members["W1.npy"] = _npy(np.zeros((6, 400)))  # 19 KB, honest header, not what layer_sizes [6, 4, 3] needs
    _zip(tmp_path / "big.npz", members)
    with pytest.raises(ModelFileError, match=r"layer 1 expects W1\(6, 4\) and b1\(4,\), got \(6, 400\) and \(4,\)"):
        load_model(tmp_path / "big.npz")


# ----- checkpoints that lie -----


@pytest.fixture(scope="module")
def resumable(tmp_path_factory):
    """A run directory stopped at iteration 13 with an Adam checkpoint, and its config."""
    root = tmp_path_factory.mktemp("ck")
    folder = make_fake_cifar(root / "data", n_per_batch=20).parent
    cfg = Config(
        data_dir=str(folder),
        hidden=(8,),
        num_val=10,
        batch_size=10,
        dtype="float64",
        std=1e-2,
        learning_rate=1e-3,
        num_iters=30,
        update="adam",
        sampling="epoch",
    )
    data = load_data(cfg, quiet=True)
    run(cfg, root / "run", data=data, quiet=True, checkpoint_every=13)
    return cfg, data, root / "run"


def _lie(state: dict, field: str, value) -> None:
    *parents, last = field.split("/")
    for p in parents:
        state = state[p]
    if value is KeyError:
        del state[last]
    else:
        state[last] = value


LIES = [
    ("perm", lambda s: s["perm"] + 1000, r"perm: not a permutation of the 90 training rows"),
    ("perm", lambda s: s["perm"].reshape(9, 10), r"perm: expected a 1-D integer array of length 90"),
    ("perm", lambda s: s["perm"].astype(np.float64), r"perm: expected a 1-D integer array"),
    ("iteration", lambda s: -1, r"iteration: expected an integer in \[0, 30\] \(num_iters\), got int -1"),
    ("iteration", lambda s: 10**12, r"iteration: expected an integer in \[0, 30\]"),
    ("iteration", lambda s: float("inf"), r"iteration: expected an integer in \[0, 30\] \(num_iters\), got float inf"),
    ("pos", lambda s: 10**9, r"pos: expected an integer in \[0, 90\] \(the length of perm\)"),
    ("pos", lambda s: -3, r"pos: expected an integer in \[0, 90\]"),
    ("opt_state/W1/m", lambda s: np.zeros((2, 2)), r"opt_state/W1/m: expected a float64 array of shape \(3072, 8\)"),
    ("opt_state/W1/m", lambda s: s["opt_state"]["W1"]["m"].astype(np.float32), r"opt_state/W1/m: expected a float64"),
    ("opt_state/b2/t", lambda s: "7", r"opt_state/b2/t: expected an integer, got str '7'"),
    ("opt_state/b2/t", lambda s: -5, r"opt_state/b2/t: must be >= 0, got -5"),
    ("opt_state/W2/v", lambda s: np.full_like(s["opt_state"]["W2"]["v"], np.nan), r"opt_state/W2/v: holds NaN"),
    ("opt_state/W2/velocity", lambda s: np.zeros(3), r"opt_state/W2/velocity: unknown to the adam optimizer"),
    ("opt_state/W2/beta1", lambda s: float("nan"), r"opt_state/W2/beta1: expected a finite number"),
    ("rng", KeyError, r"field rng: missing"),
    ("history", KeyError, r"field history: missing"),
    ("rng/bit_generator", lambda s: "MT19937", r"rng: expected a PCG64 generator state, got 'MT19937'"),
    ("rng/state", lambda s: {"state": "x", "inc": 1}, r"rng: not a valid PCG64 state"),
    ("history/loss", lambda s: ["1.0", "2.0"], r"history/loss: expected numbers, found str '1.0' at index 0"),
    ("history/val_acc", lambda s: "high", r"history/val_acc: expected a list, got str"),
    ("train_seconds", lambda s: -1.0, r"train_seconds: expected a finite number >= 0"),
    # a history longer than the iteration: a resumed 40-iteration run ended with 60 losses
    (
        "history/loss",
        lambda s: list(s["history"]["loss"]) + [1.0] * 20,
        r"history/loss: expected one loss per iteration",
    ),
    (
        "history/loss",
        lambda s: [1.0] * 2_000_000,
        r"history/loss: expected one loss per iteration \(\d+\), got 2000000",
    ),
    ("history/epoch_iteration", lambda s: [10**6], r"history/epoch_iteration: expected increasing iterations in \[1, "),
    (
        "history/train_acc",
        lambda s: [0.5] * 7,
        r"history/train_acc: expected one entry per finished epoch \(\d+\), got 7",
    ),
    ("surprise", lambda s: 1, r"field surprise: unknown to this trainer"),
]


@pytest.mark.parametrize("field, lie, message", LIES, ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(LIES)])
def test_a_lying_checkpoint_is_refused_naming_the_field(resumable, tmp_path, field, lie, message):
    cfg, data, run_dir = resumable
    state, meta = load_checkpoint(run_dir / CHECKPOINT_NAME)
    _lie(state, field, lie if lie is KeyError else lie(state))
    path = tmp_path / CHECKPOINT_NAME
    save_checkpoint(path, state, meta)
    with pytest.raises(ModelFileError, match=message) as e:
        run(cfg, tmp_path, data=data, quiet=True, checkpoint_every=13, resume=True)
    assert str(e.value).startswith(f"{path}: checkpoint field ") and "\n" not in str(e.value)


def test_the_unaltered_checkpoint_passes_the_same_checks(resumable, tmp_path):
    cfg, data, run_dir = resumable
    state, meta = load_checkpoint(run_dir / CHECKPOINT_NAME)
    save_checkpoint(tmp_path / CHECKPOINT_NAME, state, meta)
    assert run(cfg, tmp_path, data=data, quiet=True, checkpoint_every=13, resume=True)["num_train"] == 90


def test_a_lying_checkpoint_via_the_cli_is_one_line_and_exit_2(resumable, tmp_path, capsys):
    cfg, data, run_dir = resumable
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text((run_dir / "config.json").read_text())
    state, meta = load_checkpoint(run_dir / CHECKPOINT_NAME)
    state["perm"] = state["perm"][::-1].reshape(-1, 1)
    save_checkpoint(out / CHECKPOINT_NAME, state, meta)
    assert main(["train", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"autonet train: error: {out / CHECKPOINT_NAME}: checkpoint field perm: expected a 1-D integer "
        "array of length 90 (or 0), got a 2-D int64 array of shape (90, 1)"
    ]


class _Stop(Exception):
    """Stands for a killed process: the run stops after its checkpoint at iteration 13."""


def _stop_at_15(event: str, trainer) -> None:
    if event == "iteration" and trainer.iteration == 15:
        raise _Stop


@pytest.fixture(scope="module", params=["adam", "rmsprop", "momentum"])
def unfinished(request, tmp_path_factory):
    """An UNFINISHED run (checkpoint at iteration 13 of 30) of each kind of optimizer state, and its config.

    Resuming it takes 17 more steps, so the update rule really uses whatever the checkpoint holds.
    """
    root = tmp_path_factory.mktemp(f"unfinished-{request.param}")
    folder = make_fake_cifar(root / "data", n_per_batch=20).parent
    cfg = Config(
        data_dir=str(folder),
        hidden=(8,),
        num_val=10,
        batch_size=10,
        dtype="float64",
        std=1e-2,
        learning_rate=1e-3,
        num_iters=30,
        update=request.param,
        sampling="epoch",
        progress=False,
    )
    data = load_data(cfg, quiet=True)
    with pytest.raises(_Stop):
        run(cfg, root / "run", data=data, quiet=True, checkpoint_every=13, callbacks=[_stop_at_15])
    state, _ = load_checkpoint(root / "run" / CHECKPOINT_NAME)
    assert state["iteration"] == 13 and not (root / "run" / "summary.json").exists()
    return cfg, data, root / "run"


OPTIMIZER_LIES = {
    "adam": [
        ("opt_state/W2/beta2", 2.0, r"opt_state/W2/beta2: beta2 must be in \[0, 1\), got 2.0"),
        ("opt_state/b2/beta2", 1.0, r"opt_state/b2/beta2: beta2 must be in \[0, 1\), got 1.0"),
        ("opt_state/W1/beta1", 1.0, r"opt_state/W1/beta1: beta1 must be in \[0, 1\), got 1.0"),
        ("opt_state/W1/beta1", -3.0, r"opt_state/W1/beta1: beta1 must be in \[0, 1\), got -3.0"),
        ("opt_state/W1/beta1", 1e10, r"opt_state/W1/beta1: beta1 must be in \[0, 1\)"),
        ("opt_state/W2/epsilon", -1e-8, r"opt_state/W2/epsilon: epsilon must be > 0, got -1e-08"),
        ("opt_state/W2/epsilon", 0.0, r"opt_state/W2/epsilon: epsilon must be > 0, got 0.0"),
        ("opt_state/W1/t", 10**400, r"opt_state/W1/t: must equal the checkpoint's iteration 13 \(one step per"),
        ("opt_state/b1/t", 10**25, r"opt_state/b1/t: must equal the checkpoint's iteration 13"),
        ("opt_state/b1/t", 0, r"opt_state/b1/t: must equal the checkpoint's iteration 13 .*got int 0"),
        ("opt_state/W1/m", KeyError, r"opt_state/W1/m: missing \(the optimizer has taken 13 steps\)"),
        ("opt_state/W1/v", -1.0, r"opt_state/W1/v: holds negative values \(min -1\)"),
        ("opt_state/W1/learning_rate", -1.0, r"opt_state/W1/learning_rate: learning_rate must be >= 0, got -1.0"),
        ("learning_rate", -1.0, r"field learning_rate: learning_rate must be >= 0, got -1.0"),
    ],
    "rmsprop": [
        ("opt_state/W1/cache", -1.0, r"opt_state/W1/cache: holds negative values"),
        ("opt_state/W1/cache", KeyError, r"opt_state/W1/cache: missing \(the optimizer has taken 13 steps\)"),
        ("opt_state/b1/decay_rate", 1.5, r"opt_state/b1/decay_rate: decay_rate must be in \[0, 1\), got 1.5"),
        ("opt_state/b1/epsilon", float("inf"), r"opt_state/b1/epsilon: expected a finite number, got float inf"),
    ],
    "momentum": [
        ("opt_state/W2/velocity", KeyError, r"opt_state/W2/velocity: missing \(the optimizer has taken 13"),
        ("opt_state/W2/momentum", 1.0, r"opt_state/W2/momentum: momentum must be in \[0, 1\), got 1.0"),
        ("opt_state/W2/momentum", -0.5, r"opt_state/W2/momentum: momentum must be in \[0, 1\), got -0.5"),
    ],
}


def _lie_about(state: dict, field: str, value) -> None:
    """Set ``field``; a float meant for an array fills the array with it."""
    *parents, last = field.split("/")
    target = state
    for p in parents:
        target = target[p]
    if value is KeyError:
        del target[last]
    elif isinstance(target.get(last), np.ndarray):
        target[last] = np.full_like(target[last], value)
    else:
        target[last] = value


def test_an_unfinished_checkpoint_resumes_and_every_optimizer_lie_is_refused(unfinished, tmp_path, capsys):
    cfg, data, run_dir = unfinished
    good = tmp_path / "good"
    good.mkdir()
    state, meta = load_checkpoint(run_dir / CHECKPOINT_NAME)
    save_checkpoint(good / CHECKPOINT_NAME, state, meta)
    (good / "config.json").write_text((run_dir / "config.json").read_text())
    assert main(["train", "--resume", str(good), "--quiet"]) == 0  # 17 steps taken from the honest state
    assert read_json(good / "summary.json")["iterations"] == 30
    capsys.readouterr()
    for i, (field, value, message) in enumerate(OPTIMIZER_LIES[cfg.update]):
        out = tmp_path / f"lie{i}"
        out.mkdir()
        (out / "config.json").write_text((run_dir / "config.json").read_text())
        state, meta = load_checkpoint(run_dir / CHECKPOINT_NAME)
        _lie_about(state, field, value)
        save_checkpoint(out / CHECKPOINT_NAME, state, meta)
        status = main(["train", "--resume", str(out), "--quiet"])
        err = capsys.readouterr().err
        assert status == 2, (field, value, err)
        assert err.count("\n") == 1 and err.startswith(
            f"autonet train: error: {out / CHECKPOINT_NAME}: checkpoint field "
        ), err
        assert re.search(message, err), (message, err)
        assert not (out / "summary.json").exists()


def test_a_checkpoint_larger_than_the_run_can_need_is_refused_before_inflating(resumable, tmp_path):
    cfg, data, run_dir = resumable
    members = _members(run_dir / CHECKPOINT_NAME)
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": (100 << 17,)})
    members["a999.npy"] = head.getvalue() + bytes(100 << 20)  # an honest 100 MiB member; deflates to ~100 KB
    _zip(tmp_path / CHECKPOINT_NAME, members)
    tracemalloc.start()
    try:
        with pytest.raises(
            ModelFileError,
            match=r"checkpoint's arrays would inflate to [\d,]+ bytes, more than the "
            r"[\d,]+ bytes it can need; refused before inflating",
        ):
            run(cfg, tmp_path, data=data, quiet=True, checkpoint_every=13, resume=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


# ----- files that are not regular files -----


@pytest.fixture(scope="module")
def worker():
    w = CappedWorker()
    yield w
    w.close()


@pytest.mark.parametrize(
    "kind, name, what",
    [
        ("model", "model.npz", "model file"),
        ("checkpoint", CHECKPOINT_NAME, "checkpoint"),
        ("space", "space.toml", "space file"),
        ("json", "config.json", "JSON file"),
        ("config", "my-config.json", "config file"),
        ("run-json", "history.json", "run file"),
    ],
)
def test_a_fifo_is_refused_at_once_wherever_a_file_is_read(worker, tmp_path, kind, name, what):
    os.mkfifo(tmp_path / name)
    assert worker.load(kind, tmp_path / name, timeout=10) == (
        "error",
        f"{tmp_path / name}: is a FIFO, not a regular file; refusing to read it as a {what}",
    )
    folder = tmp_path / f"folder{os.path.splitext(name)[1]}"
    folder.mkdir()
    assert worker.load(kind, folder) == (
        "error",
        f"{folder}: is a directory, not a regular file; refusing to read it as a {what}",
    )


def test_config_and_space_files_with_hostile_content_are_one_line_errors(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ConfigError, match=r"deep.json: not valid JSON \(RecursionError"):
        read_json(tmp_path / "deep.json")
    (tmp_path / "big.json").write_text("1" * 100_000)
    with pytest.raises(ConfigError, match=r"big.json: not valid JSON \(ValueError: Exceeds the limit"):
        read_json(tmp_path / "big.json")
    with open(tmp_path / "huge.toml", "wb") as f:
        f.truncate(2 << 20)  # sparse: 2 MiB of zeros without writing them
    with pytest.raises(ConfigError, match=r"space file of 2,097,152 bytes is larger than the 1,048,576 bytes"):
        load_space(tmp_path / "huge.toml")


def test_the_run_directory_files_still_read(resumable):
    _, _, run_dir = resumable
    assert read_json(run_dir / "config.json")["update"] == "adam"
    assert json.loads((run_dir / "summary.json").read_text()) == read_json(run_dir / "summary.json")


def test_an_npz_dataset_whose_header_lies_is_refused_before_allocating(tmp_path):
    from autonet.data.npz import load_npz_dataset
    from autonet.errors import DataError

    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})
    _zip(tmp_path / "liar.npz", {"X_train.npy": head.getvalue() + bytes(800), "y_train.npy": _npy(np.arange(10) % 2)})
    with pytest.raises(
        DataError,
        match=r"member X_train declares float64\[100000, 100000\] \(80,000,000,000 bytes\) "
        r"but inflates to 800 bytes of data; refused before inflating",
    ):
        load_npz_dataset(tmp_path / "liar.npz", num_val=1)
