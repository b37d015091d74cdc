"""Running trials: one trial into a run directory, and the executors that run many.

Every executor (this process, joblib worker processes, a Dask cluster) calls
:func:`run_trial` and yields ``(trial, result)`` as trials finish; :func:`run_sweep`
hands each result to the same :class:`~autonet.sweep.record.SweepRecorder`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from threadpoolctl import threadpool_limits

from autonet.config import Config
from autonet.errors import ConfigError, DivergenceError
from autonet.interrupts import InterruptGuard
from autonet.run import CHECKPOINT_EVERY, load_data, make_dir, run
from autonet.storage.checkpoints import CHECKPOINT_NAME
from autonet.storage.files import atomic_write_json
from autonet.storage.lock import LOCK_NAME, RunLock
from autonet.sweep.record import SWEEP_FILE, SweepRecorder, diverged, finished_result, metrics, one_line, reconcile
from autonet.sweep.space import Trial, iterations_for

_DATA_LOCK = threading.Lock()
_DATA: list = []  # at most one (key, CIFAR10) pair per process


def shared_data(cfg: Config):
    """The data ``cfg`` asks for, loaded once per process and reused by every trial in it."""
    key = (cfg.dataset, cfg.data_dir, os.environ.get("AUTONET_DATA"), cfg.num_val, cfg.num_train, cfg.dtype)
    with _DATA_LOCK:
        if not _DATA or _DATA[0][0] != key:
            _DATA.clear()  # free the previous data set before loading another
            _DATA.append((key, load_data(cfg, quiet=True)))
        return _DATA[0][1]


def run_trial(
    trial: Trial,
    run_dir: str | None,
    blas_threads: int | None = None,
    ship: bool = False,
    interrupts: InterruptGuard | None = None,
) -> dict:
    """Train ``trial`` into ``run_dir`` and return its result row.

    The trial checkpoints like ``autonet train`` (every :data:`CHECKPOINT_EVERY`
    iterations); a run directory holding a checkpoint but no result is resumed
    from it, so a sweep stopped mid-trial loses at most that many iterations.
    ``ship=True`` (remote workers) trains into a temporary folder and returns
    its files as ``result["files"]`` (relative path -> bytes) for the caller to
    write; ``run_dir=None`` trains into a temporary folder too, deleted with
    everything in it once the row is returned. A :class:`DivergenceError` is recorded in ``diverged.json`` and the
    row's ``status`` is ``"diverged"``; any other error propagates, as does
    :class:`~autonet.interrupts.Interrupted` after the checkpoint is written
    (``interrupts``: the caller's entered guard).
    """
    temporary = ship or run_dir is None
    out = Path(run_dir if run_dir is not None and not ship else tempfile.mkdtemp(prefix="autonet-trial-"))
    try:
        with threadpool_limits(limits=blas_threads, user_api="blas"):  # None: no limit
            result = {**_train(trial, out, interrupts), "name": trial.name}
        if ship:
            files = [p for p in sorted(out.rglob("*")) if p.is_file() and p.name != LOCK_NAME]
            result["files"] = {p.relative_to(out).as_posix(): p.read_bytes() for p in files}
        return result
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)


def _train(trial: Trial, out: Path, interrupts: InterruptGuard | None) -> dict:
    """The result row of ``trial`` trained (or resumed) in ``out``; a divergence recorded in ``diverged.json``."""
    cfg, epochs = trial.cfg, trial.config.get("epochs")
    assert cfg is not None, "a trial to run is built by make_trials, which sets cfg"
    data = shared_data(cfg)
    if epochs is not None:
        cfg = cfg.replace(num_iters=iterations_for(epochs, len(data.y_train), cfg.batch_size))
    resume = (out / CHECKPOINT_NAME).is_file()  # else a partial directory (its own: named by its hash) is replaced
    try:
        summary = run(
            cfg,
            out,
            data,
            quiet=True,
            checkpoint_every=CHECKPOINT_EVERY,
            resume=resume,
            overwrite=not resume,
            interrupts=interrupts,
        )
    except DivergenceError as e:
        return diverged(out, e)
    return metrics(summary)


# ----- executors: each yields (trial, result) as trials finish -----


def _dask(pending, scheduler, blas_threads):
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--scheduler needs Dask: pip install 'autonet[dask]'") from None
    token = hashlib.sha1(f"{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:8]
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as e:
        raise ConfigError(f"--scheduler {scheduler}: cannot connect ({e})") from None
    with client:
        futures = {
            client.submit(run_trial, t, None, blas_threads, True, key=f"autonet-{t.name}-{token}", pure=False): t
            for t in pending
        }
        for future in as_completed(futures):
            yield futures[future], future.result()


def run_sweep(
    trials: Sequence[Trial],
    sweep_dir: str | os.PathLike,
    keys: Sequence[str],
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    blas_threads: int | None = None,
    meta: Mapping | None = None,
    log: Callable[[str], None] | None = print,
    on_result: Callable[[Trial, dict], None] | None = None,
    extend: bool = False,
    interrupts: InterruptGuard | None = None,
) -> list[dict]:
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
    meta : written to ``sweep.json`` (what was asked); with ``trials`` it is the
        sweep's identity (:func:`autonet.sweep.record.reconcile`): a directory holding
        a sweep of another identity is refused unless ``extend``
    log : one line per finished trial (None: silent)
    on_result : called after each trial is recorded (tests, progress hooks)
    extend : add ``trials`` to the sweep recorded in ``sweep_dir`` instead of
        refusing a different space; the results then cover both
    interrupts : an entered :class:`InterruptGuard`; on SIGINT/SIGTERM the
        running trial (in this process) writes a checkpoint and
        :class:`~autonet.interrupts.Interrupted` propagates

    Raises
    ------
    ConfigError
        ``sweep_dir`` holds something else, or a sweep of another space.
    RunDirBusy
        Another process is writing ``sweep_dir``.
    """
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}")
    if scheduler and jobs > 1:
        raise ConfigError("give --jobs N or --scheduler, not both (Dask workers set the parallelism)")
    if jobs > 1 and blas_threads is None:  # jobs * threads <= cores
        from joblib import cpu_count

        if jobs > cpu_count():
            raise ConfigError(f"--jobs {jobs} exceeds the {cpu_count()} CPU cores available here")
        blas_threads = max(1, cpu_count() // jobs)
    out = Path(sweep_dir)
    if out.is_dir():
        reconcile(out, trials, keys, meta, extend)  # refuse before writing anything
    make_dir(out, "sweep")
    with RunLock(out):
        trials, keys, record = reconcile(out, trials, keys, meta, extend)
        atomic_write_json(out / SWEEP_FILE, record)
        rec = SweepRecorder(trials, out, keys)
        done = [(t, finished_result(rec.run_dir(t))) for t in trials]
        pending = [t for t, result in done if result is None]
        for t, result in done:
            if result is not None:
                rec.record(t, result)
        rec.write_csv()
        if log and len(pending) < len(trials):
            log(f"resuming: {len(trials) - len(pending)} of {len(trials)} trials already finished, skipped")
        if scheduler:
            results = _dask(pending, scheduler, blas_threads)
        elif jobs > 1:
            from joblib import Parallel, delayed

            parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator")  # results in the order submitted
            outcomes = parallel(delayed(run_trial)(t, str(rec.run_dir(t)), blas_threads) for t in pending)
            results = zip(pending, outcomes, strict=True)
        else:
            results = ((t, run_trial(t, str(rec.run_dir(t)), blas_threads, interrupts=interrupts)) for t in pending)
        for k, (trial, result) in enumerate(results, start=1):
            rec.record(trial, result)
            if log:
                log(f"[{k}/{len(pending)}] {trial.name}: {one_line(result)}")
            if on_result:
                on_result(trial, result)
        rows = rec.rows()
        finished = [r for r in rows if r["status"] != "pending"]
        if any(r["status"] == "ok" for r in finished):
            from autonet.plots import plot_sweep_heatmap, save_figure

            save_figure(
                plot_sweep_heatmap(finished, title=f"Sweep {out.name}: validation accuracy"), out / "heatmap.png"
            )
        return rows
