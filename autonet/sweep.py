"""Hyperparameter search: grid and random trials, each an ordinary run directory.

A sweep directory holds::

    sweep.json       what was asked: mode, space, search seed, base config
    results.csv      one row per trial (pending / ok / diverged), rewritten
                     atomically after every finished trial
    best_model.npz   a copy of the best trial's model.npz (best.json: its row)
    heatmap.png      validation accuracy over (learning_rate, reg)
    trials/<name>/   one run directory per trial, as written by ``autonet train``

The space
---------
A mapping from :class:`~autonet.run.RunConfig` field names (plus
``epochs``) to one of:

- a scalar: the value is fixed, e.g. ``num_iters = 1600``;
- a list: a grid iterates over it, a random search picks uniformly from it,
  e.g. ``reg = [1e-4, 1e-3, 1e-2]``; for ``hidden`` each entry is a size or a
  list of sizes (``[300, [1024, 512]]``);
- ``{log_uniform = [low, high]}`` or ``{uniform = [low, high]}``: random search
  only. Scale parameters (learning rate, reg, std) want ``log_uniform``.
  Samples are rounded to 3 significant digits, integers (``num_iters``,
  ``batch_size``, ``hidden``) to the nearest integer.

``epochs = E`` sets ``num_iters = round(E * max(N_train // batch_size, 1))``.
The keys that shape the data (``data_dir``, ``num_val``, ``num_train``,
``dtype``) cannot be searched: a sweep loads the data once per process.

Trials and resuming
-------------------
A grid is the Cartesian product in the order the keys are given (the last key
varies fastest); a random search draws ``n`` points from a
``numpy.random.default_rng(seed)``, key by key in order, so the same space and
seed give the same trials. A trial is named after its searched values plus a
hash of its whole config (``data_dir`` excepted), e.g.
``lr=0.0016_reg=0.01-3fa2c1d9``. A trial whose run directory holds
``summary.json`` (finished) or ``diverged.json`` (non-finite loss) is not run
again, so re-running a sweep resumes it.

Executors
---------
Trials run one after another in this process, in ``jobs`` joblib worker
processes (BLAS threads per worker capped with threadpoolctl so that
``jobs * threads <= cores``), or on a Dask distributed cluster. All three call
:func:`run_trial` and hand its result to the same recorder. Each process loads
the data once (:func:`shared_data`); Dask workers read it from the config's
``data_dir`` (or their own ``$AUTONET_DATA``), which must exist on them, and
send the run directory's files back, so results land in the sweep directory
even without a shared file system.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from autonet.errors import ConfigError, DivergenceError
from autonet.run import RunConfig, load_data, read_json, run
from autonet.storage.files import atomic_write_bytes, atomic_write_json, atomic_write_text

DATA_KEYS = ("data_dir", "num_val", "num_train", "dtype")
EXTRA_KEYS = ("epochs",)
RANGES = ("log_uniform", "uniform")
SUMMARY_FILE = "summary.json"
DIVERGED_FILE = "diverged.json"
METRICS = ("train_acc", "val_acc", "final_loss", "iterations", "train_seconds")
_SHORT = {"learning_rate": "lr", "learning_rate_decay": "decay", "batch_size": "bs", "num_iters": "iters"}
_RUN_DEFAULTS = RunConfig()


# ----- the search space -----


def _kind(key: str) -> str:
    """How values of ``key`` are read: sizes (hidden) | tuple | int | float | str | bool."""
    if key == "epochs":
        return "float"
    if key == "hidden":
        return "sizes"
    default = getattr(_RUN_DEFAULTS, key)
    if isinstance(default, tuple):
        return "tuple"  # e.g. augment: names, "flip+crop" on the command line
    for kind in (bool, int, float, str):  # bool before int: bool is an int subclass
        if isinstance(default, kind):
            return kind.__name__
    return "str"


def _check_key(key: str, source: str) -> None:
    names = [f.name for f in fields(RunConfig)]
    if key in DATA_KEYS:
        raise ConfigError(f"{source}: {key} shapes the data, which a sweep loads once; set it with a flag "
                          f"(--{key.replace('_', '-')}), not in the space")
    if key not in names and key not in EXTRA_KEYS:
        allowed = sorted(set(names) - set(DATA_KEYS)) + list(EXTRA_KEYS)
        raise ConfigError(f"{source}: unknown key {key!r}; searchable keys: {', '.join(allowed)}")


def _coerce(key: str, value: Any, source: str) -> Any:
    """One value of ``key`` from TOML/JSON or a flag string, checked by RunConfig."""
    kind = _kind(key)
    try:
        if kind == "sizes":
            if isinstance(value, str):
                value = [int(v) for v in value.lower().split("x")]
            sizes = (value,) if not isinstance(value, (list, tuple)) else tuple(value)
            if not sizes or any(isinstance(h, bool) or not isinstance(h, int) for h in sizes):
                raise ValueError
            value = sizes
        elif kind == "tuple":
            if isinstance(value, str):
                value = [v.strip() for v in value.split("+") if v.strip()]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ValueError
            value = tuple(value)
        elif kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ValueError
            number = float(value)
            if kind == "int":
                if number != int(number):
                    raise ValueError
                value = int(number)
            else:
                value = number
        elif kind == "bool":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            elif not isinstance(value, bool):
                raise ValueError
        elif not isinstance(value, str):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        example = {"sizes": "300 or [1024, 512]", "tuple": 'a list of names or "a+b"',
                   "int": "an integer", "float": "a number",
                   "bool": "true or false", "str": "a string"}[kind]
        raise ConfigError(f"{source}: {key} = {value!r} is not {example}") from None
    if key == "epochs":
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{source}: epochs must be > 0, got {value!r}")
        return value
    try:
        RunConfig.from_dict({key: value}).validate()
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    return value


@dataclass(frozen=True)
class Dim:
    """One searched key: a list of values, or a ``log_uniform``/``uniform`` range."""

    key: str
    kind: str  # "values" | "log_uniform" | "uniform"
    values: tuple = ()
    low: float = 0.0
    high: float = 0.0

    def sample(self, rng: np.random.Generator) -> Any:
        """One draw: a uniform choice of value, or ``exp(U(log low, log high))`` / ``U(low, high)``."""
        if self.kind == "values":
            return self.values[int(rng.integers(len(self.values)))]
        if self.kind == "log_uniform":
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            x = rng.uniform(self.low, self.high)
        kind = _kind(self.key)
        if kind in ("int", "sizes"):
            x = min(max(round(x), math.ceil(self.low)), math.floor(self.high))
            return (int(x),) if kind == "sizes" else int(x)
        return min(max(float(f"{x:.3g}"), self.low), self.high)

    def describe(self) -> Any:
        """JSON-able form, the same as the space file's."""
        if self.kind == "values":
            vals = [list(v) if isinstance(v, tuple) else v for v in self.values]
            return vals[0] if len(vals) == 1 else vals
        return {self.kind: [self.low, self.high]}


def make_dim(key: str, spec: Any, source: str) -> Dim:
    """Parse one space entry (scalar, list, or ``{log_uniform|uniform|choice: ...}``)."""
    _check_key(key, source)
    where = f"{source}: {key}"
    if isinstance(spec, Mapping):
        if len(spec) != 1:
            raise ConfigError(f"{where}: a distribution is a table with one key "
                              f"(log_uniform, uniform or choice), got {sorted(spec)}")
        (name, arg), = spec.items()
        if name == "choice":
            return make_dim(key, list(arg) if isinstance(arg, (list, tuple)) else arg, source)
        if name not in RANGES:
            raise ConfigError(f"{where}: unknown distribution {name!r}; use log_uniform, uniform or choice")
        if _kind(key) not in ("int", "float", "sizes"):
            raise ConfigError(f"{where}: {name} needs a numeric key; give a list of values instead")
        if (not isinstance(arg, (list, tuple)) or len(arg) != 2
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in arg)):
            raise ConfigError(f"{where}: {name} takes [low, high], got {arg!r}")
        low, high = float(arg[0]), float(arg[1])
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"{where}: {name} needs finite low < high, got [{arg[0]}, {arg[1]}]")
        if name == "log_uniform" and low <= 0:
            raise ConfigError(f"{where}: log_uniform needs low > 0, got {arg[0]}")
        dim = Dim(key, name, low=low, high=high)
        for end in (low, high):  # both ends must be valid values of the key
            _coerce(key, (round(end),) if _kind(key) == "sizes" else end, where + " range")
        return dim
    values = spec if isinstance(spec, (list, tuple)) else [spec]
    if not values:
        raise ConfigError(f"{where}: empty list of values")
    return Dim(key, "values", values=tuple(_coerce(key, v, source) for v in values))


@dataclass
class Space:
    """Searched keys in order; see the module docstring for the format."""

    dims: dict  # key -> Dim, in the order given

    @property
    def is_grid(self) -> bool:
        return all(d.kind == "values" for d in self.dims.values())

    def grid(self) -> list[dict]:
        """Every combination, the last key varying fastest."""
        ranged = [k for k, d in self.dims.items() if d.kind != "values"]
        if ranged:
            raise ConfigError(f"{', '.join(ranged)}: a range can only be sampled; add --random N, "
                              "or give a list of values for a grid")
        keys = list(self.dims)
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.dims[k].values for k in keys))]

    def sample(self, n: int, seed: int) -> list[dict]:
        """``n`` points drawn with ``default_rng(seed)``, key by key in order."""
        if n < 1:
            raise ConfigError(f"the number of random trials must be >= 1, got {n}")
        rng = np.random.default_rng(seed)
        return [{k: d.sample(rng) for k, d in self.dims.items()} for _ in range(n)]

    def describe(self) -> dict:
        return {k: d.describe() for k, d in self.dims.items()}


def parse_space(obj: Any, source: str = "space") -> Space:
    """A :class:`Space` from a mapping (a parsed TOML/JSON file)."""
    if not isinstance(obj, Mapping):
        raise ConfigError(f"{source}: a space is a table of key = values, got {type(obj).__name__}")
    if not obj:
        raise ConfigError(f"{source}: the space is empty; give at least one key, e.g. reg = [1e-4, 1e-3]")
    dims = {key: make_dim(key, spec, source) for key, spec in obj.items()}
    if "epochs" in dims and "num_iters" in dims:
        raise ConfigError(f"{source}: give num_iters or epochs, not both")
    return Space(dims)


def load_space(path: str | os.PathLike) -> Space:
    """Read a space file: ``.toml`` (tomllib) or ``.json``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"space file {path}: expected a .toml or .json file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"space file {path}: cannot read it ({e.strerror or e})") from None
    try:
        if suffix == ".toml":
            import tomllib

            obj = tomllib.loads(raw.decode("utf-8"))
        else:
            obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:  # tomllib.TOMLDecodeError and JSONDecodeError are ValueErrors
        raise ConfigError(f"space file {path}: not valid {suffix[1:].upper()}: {e}") from None
    return parse_space(obj, source=str(path))


def parse_grid_flag(text: str) -> tuple[str, Dim]:
    """``"learning_rate=1e-3,1.2e-3"`` -> (key, Dim); ``hidden=300,1024x512`` for depths."""
    key, sep, rest = text.partition("=")
    key = key.strip().replace("-", "_")
    values = [v.strip() for v in rest.split(",") if v.strip()]
    if not sep or not key or not values:
        raise ConfigError(f"--grid {text!r}: expected KEY=V1,V2,... e.g. --grid reg=1e-4,1e-3")
    return key, make_dim(key, values, f"--grid {key}")


def build_space(space_file: str | None = None, grid_flags: Sequence[str] = ()) -> Space:
    """The space file's keys, then ``--grid`` entries (which replace a file key of the same name)."""
    dims = dict(load_space(space_file).dims) if space_file else {}
    for text in grid_flags:
        key, dim = parse_grid_flag(text)
        dims[key] = dim
    if not dims:
        raise ConfigError("nothing to sweep: give --grid KEY=V1,V2,... or --space FILE")
    if "epochs" in dims and "num_iters" in dims:
        raise ConfigError("give num_iters or epochs in the space, not both")
    return Space(dims)


# ----- trials -----


@dataclass(frozen=True)
class Trial:
    """One point of the space: its searched ``params`` and full ``config`` (RunConfig dict + epochs)."""

    index: int
    name: str
    params: dict
    config: dict


def _fmt(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ("x" if all(isinstance(v, int) for v in value) else "+").join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def trial_name(params: Mapping, config: Mapping) -> str:
    """``<key=value_...>-<8 hex digits of sha1(config without data_dir)>``; ``params``: the varied keys."""
    canon = json.dumps({k: v for k, v in config.items() if k != "data_dir"}, sort_keys=True, default=list)
    digest = hashlib.sha1(canon.encode()).hexdigest()[:8]
    slug = "_".join(f"{_SHORT.get(k, k)}={_fmt(v)}" for k, v in params.items())
    slug = "".join(c if c.isalnum() or c in "=_.+-x" else "-" for c in slug)[:80]
    return f"{slug}-{digest}" if slug else f"trial-{digest}"


def make_trials(base: RunConfig, points: Iterable[Mapping], name_keys: Sequence[str] | None = None) -> list[Trial]:
    """Trials from searched points on top of ``base``; later duplicates are dropped.

    ``name_keys``: the keys that appear in trial names (default: every key of a point).
    """
    base_dict = base.to_dict()
    trials, seen = [], set()
    for point in points:
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in point.items()}
        config = {**base_dict, **params}
        if "epochs" in params:
            config.pop("num_iters")
        check = {k: v for k, v in config.items() if k != "epochs"}
        RunConfig.from_dict(check).validate()
        name = trial_name({k: v for k, v in params.items() if name_keys is None or k in name_keys}, config)
        if name not in seen:
            seen.add(name)
            trials.append(Trial(len(trials), name, params, config))
    return trials


def plan(space: Space, base: RunConfig, random: int | None = None, seed: int = 0) -> list[Trial]:
    """The grid of ``space`` (``random`` None) or ``random`` points drawn with ``seed``."""
    points = space.grid() if random is None else space.sample(random, seed)
    varied = [k for k, d in space.dims.items() if d.kind != "values" or len(d.values) > 1]
    return make_trials(base, points, name_keys=varied)


def iterations_for(epochs: float, num_train: int, batch_size: int) -> int:
    """``round(epochs * max(num_train // batch_size, 1))``, at least 1 (the trainer's epoch)."""
    return max(1, round(epochs * max(num_train // batch_size, 1)))


# ----- running one trial (in whichever process the executor picks) -----

_DATA_LOCK = threading.Lock()
_DATA: list = []  # at most one (key, CIFAR10) pair per process


def shared_data(cfg: RunConfig):
    """The data ``cfg`` asks for, loaded once per process and reused by every trial in it."""
    key = (cfg.data_dir, os.environ.get("AUTONET_DATA"), cfg.num_val, cfg.num_train, cfg.dtype)
    with _DATA_LOCK:
        if not _DATA or _DATA[0][0] != key:
            _DATA.clear()  # free the previous data set before loading another
            _DATA.append((key, load_data(cfg, quiet=True)))
        return _DATA[0][1]


@contextmanager
def _blas_threads(n: int | None):
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield


def _metrics(summary: Mapping) -> dict:
    return {"status": "ok", **{k: summary.get(k) for k in METRICS}, "error": ""}


def run_trial(trial: Trial, run_dir: str | None, blas_threads: int | None = None, ship: bool = False) -> dict:
    """Train ``trial`` into ``run_dir`` and return its result row.

    ``ship=True`` (remote workers) trains into a temporary folder and returns
    its files as ``result["files"]`` (relative path -> bytes) for the caller to
    write. A :class:`DivergenceError` is recorded in ``diverged.json`` and the
    row's ``status`` is ``"diverged"``; any other error propagates.
    """
    out = Path(tempfile.mkdtemp(prefix="autonet-trial-")) if ship else Path(run_dir)
    try:
        config = dict(trial.config)
        epochs = config.pop("epochs", None)
        cfg = RunConfig.from_dict(config).validate()
        # Overflow is the expected way for a too-large learning rate to fail; the
        # trainer's finite check turns it into DivergenceError, recorded below.
        with _blas_threads(blas_threads), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            data = shared_data(cfg)
            if epochs is not None:
                cfg.num_iters = iterations_for(epochs, len(data.y_train), cfg.batch_size)
            try:
                result = _metrics(run(cfg, out, data=data, quiet=True))
            except DivergenceError as e:
                result = {"status": "diverged", **{k: None for k in METRICS}, "error": str(e)}
                atomic_write_json(out / DIVERGED_FILE, {"error": str(e), "iteration": e.iteration,
                                                        "name": e.name})
        result["name"] = trial.name
        if ship:
            result["files"] = {p.relative_to(out).as_posix(): p.read_bytes()
                               for p in sorted(out.rglob("*")) if p.is_file()}
        return result
    finally:
        if ship:
            shutil.rmtree(out, ignore_errors=True)


def finished_result(run_dir: Path) -> dict | None:
    """The result row of a trial already run in ``run_dir``, or None."""
    if (run_dir / SUMMARY_FILE).is_file():
        return _metrics(read_json(run_dir / SUMMARY_FILE))
    if (run_dir / DIVERGED_FILE).is_file():
        return {"status": "diverged", **{k: None for k in METRICS},
                "error": read_json(run_dir / DIVERGED_FILE).get("error", "")}
    return None


def _write_shipped(run_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write a worker's run-dir files, the completion markers last."""
    root = run_dir.resolve()
    last = (SUMMARY_FILE, DIVERGED_FILE)
    for rel in sorted(files, key=lambda r: (r in last, r)):
        target = (run_dir / rel).resolve()
        if root not in target.parents:
            raise ConfigError(f"worker sent a file outside its run directory: {rel!r}")
        atomic_write_bytes(target, files[rel])


# ----- executors: each yields (trial, result) as trials finish -----


def _serial(pending, trials_dir, blas_threads):
    for t in pending:
        yield t, run_trial(t, str(trials_dir / t.name), blas_threads)


def _joblib(pending, trials_dir, jobs, blas_threads):
    from joblib import Parallel, delayed

    by_name = {t.name: t for t in pending}
    parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator")
    for result in parallel(delayed(run_trial)(t, str(trials_dir / t.name), blas_threads) for t in pending):
        yield by_name[result["name"]], result


def _dask(pending, scheduler, blas_threads):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'autonet[dask]'") from None
    by_name = {t.name: t for t in pending}
    token = hashlib.sha1(f"{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:8]
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as e:
        raise ConfigError(f"--scheduler {scheduler}: cannot connect ({e})") from None
    with client:
        futures = [client.submit(run_trial, t, None, blas_threads, True, key=f"autonet-{t.name}-{token}",
                                 pure=False) for t in pending]
        for future in as_completed(futures):
            result = future.result()
            yield by_name[result["name"]], result


def local_blas_threads(jobs: int) -> int:
    """BLAS threads per worker so that ``jobs * threads <= cores``."""
    from joblib import cpu_count

    cores = cpu_count()
    if jobs > cores:
        raise ConfigError(f"--jobs {jobs} exceeds the {cores} CPU cores available here")
    return max(1, cores // jobs)


# ----- the sweep: run what is pending, record every result -----


class SweepRecorder:
    """Keeps the results table of a sweep directory current.

    After every recorded trial: ``results.csv`` rewritten atomically (every
    trial, finished or pending), and ``best_model.npz``/``best.json`` updated
    when the best validation accuracy improves.
    """

    def __init__(self, trials: Sequence[Trial], sweep_dir: Path, keys: Sequence[str]) -> None:
        self.trials = list(trials)
        self.dir = sweep_dir
        self.keys = list(keys)
        self.results: dict[str, dict] = {}
        self.best: Trial | None = None

    def run_dir(self, trial: Trial) -> Path:
        return self.dir / "trials" / trial.name

    def record(self, trial: Trial, result: dict) -> None:
        files = result.pop("files", None)
        if files is not None:
            _write_shipped(self.run_dir(trial), files)
        self.results[trial.name] = result
        self.write_csv()
        if result["status"] == "ok" and (self.best is None or self._better(trial)):
            self.best = trial
            src = self.run_dir(trial) / "model.npz"
            atomic_write_bytes(self.dir / "best_model.npz", src.read_bytes())
            atomic_write_json(self.dir / "best.json", self.row(trial))

    def _better(self, trial: Trial) -> bool:
        """Higher val accuracy; on a tie the earlier trial (the same winner in any completion order)."""
        best, new = self.results[self.best.name]["val_acc"], self.results[trial.name]["val_acc"]
        return new > best or (new == best and trial.index < self.best.index)

    def row(self, trial: Trial) -> dict:
        result = self.results.get(trial.name, {"status": "pending"})
        row = {"trial": trial.name, "status": result["status"]}
        row.update({k: trial.params.get(k, trial.config.get(k)) for k in self.keys})
        row.update({k: result.get(k) for k in METRICS})
        row["learning_rate"] = trial.config["learning_rate"]
        row["reg"] = trial.config["reg"]
        row["error"] = result.get("error", "")
        return row

    def rows(self) -> list[dict]:
        return [self.row(t) for t in self.trials]

    def write_csv(self) -> None:
        columns = ["trial", "status", *self.keys, *METRICS, "error"]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for row in self.rows():
            w.writerow(["" if row.get(c) is None else _fmt(row[c]) if c in self.keys else row[c]
                        for c in columns])
        atomic_write_text(self.dir / "results.csv", buf.getvalue())


def run_sweep(trials: Sequence[Trial], sweep_dir: str | os.PathLike, keys: Sequence[str], *,
              jobs: int = 1, scheduler: str | None = None, blas_threads: int | None = None,
              meta: Mapping | None = None, log: Callable[[str], None] | None = print,
              on_result: Callable[[Trial, dict], None] | None = None) -> list[dict]:
    """Run every trial not yet finished in ``sweep_dir``; return all rows (trial order).

    Parameters
    ----------
    trials : from :func:`plan` / :func:`make_trials`
    sweep_dir : created; trial ``t`` runs in ``sweep_dir/trials/<t.name>``
    keys : the searched keys (columns of results.csv)
    jobs : local worker processes (joblib); 1 runs in this process
    scheduler : ``tcp://HOST:PORT`` of a Dask scheduler (excludes ``jobs > 1``)
    blas_threads : BLAS threads per trial; default ``cores // jobs`` for
        ``jobs > 1``, else unlimited (Dask workers keep their own setting)
    meta : written to ``sweep.json`` (what was asked, for the record)
    log : one line per finished trial (None: silent)
    on_result : called after each trial is recorded (tests, progress hooks)
    """
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}")
    if scheduler and jobs > 1:
        raise ConfigError("give --jobs N or --scheduler, not both (Dask workers set the parallelism)")
    if jobs > 1 and blas_threads is None:
        blas_threads = local_blas_threads(jobs)
    out = Path(sweep_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "sweep.json", {**(meta or {}), "keys": list(keys), "trials": [t.name for t in trials]})
    rec = SweepRecorder(trials, out, keys)
    pending = []
    for t in trials:
        done = finished_result(rec.run_dir(t))
        if done is None:
            pending.append(t)
        else:
            rec.record(t, done)
    rec.write_csv()
    if log and len(pending) < len(trials):
        log(f"resuming: {len(trials) - len(pending)} of {len(trials)} trials already finished, skipped")
    if scheduler:
        results = _dask(pending, scheduler, blas_threads)
    elif jobs > 1:
        results = _joblib(pending, out / "trials", jobs, blas_threads)
    else:
        results = _serial(pending, out / "trials", blas_threads)
    for k, (trial, result) in enumerate(results, start=1):
        rec.record(trial, result)
        if log:
            log(f"[{k}/{len(pending)}] {trial.name}: {_one_line(result)}")
        if on_result:
            on_result(trial, result)
    rows = rec.rows()
    finished = [r for r in rows if r["status"] != "pending"]
    if any(r["status"] == "ok" for r in finished):
        from autonet.plots import plot_sweep_heatmap

        plot_sweep_heatmap(finished, out / "heatmap.png", title=f"Sweep {out.name}: validation accuracy")
    return rows


def _one_line(result: Mapping) -> str:
    if result["status"] != "ok":
        return f"{result['status']} ({result.get('error', '')})"
    return (f"val acc {result['val_acc']:.4f}, train acc {result['train_acc']:.4f}, "
            f"{result['train_seconds']:.1f} s")


def format_table(rows: Sequence[Mapping], keys: Sequence[str]) -> str:
    """Rows sorted by validation accuracy (best first; diverged and pending last) as text."""
    def order(r):
        return (r["status"] != "ok", -(r["val_acc"] or 0.0))

    varying = [k for k in keys if len({_fmt(r[k]) for r in rows}) > 1] or list(keys)
    header = [*varying, "train acc", "val acc", "time (s)", "status"]
    body = []
    for r in sorted(rows, key=order):
        ok = r["status"] == "ok"
        body.append([*(_fmt(r[k]) for k in varying),
                     f"{r['train_acc']:.4f}" if ok else "-", f"{r['val_acc']:.4f}" if ok else "-",
                     f"{r['train_seconds']:.1f}" if ok else "-", r["status"]])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(lines)
