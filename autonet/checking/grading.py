"""``autonet grade``: check every submission in its own bounded process, score it, keep the result.

Each submission's result (its report as a dict, status, seconds) is written
to ``REPORT_DIR/<id>/result.json`` as soon as it is known, keyed by the
submission's content hash and the rubric's check settings: a re-run checks
only what is new or changed. The reports (:mod:`autonet.checking.feedback`)
are then written from every result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from autonet.checking.rubric import Rubric
from autonet.checking.submissions import Submission
from autonet.checking.target import TargetError
from autonet.errors import ConfigError

RESULT = "result.json"
MAX_RESULT_BYTES = 16 << 20


def settings_key(rubric: Rubric) -> str:
    """What a stored result depends on besides the submission: the check's settings and autonet's version."""
    from autonet import __version__

    text = repr((rubric.l2, rubric.tol, rubric.limits, __version__))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def grade_one(sub: Submission, rubric: Rubric, hidden: tuple[str, ...] = ()) -> dict:
    """Check one submission from a private, read-only copy of its files; the result row (never raises for
    anything the student's code does).

    ``hidden``: folders its code may not read (the other submissions, the rubric, the reports).
    """
    from autonet.checking.check import check_target

    start = time.monotonic()
    result: dict[str, Any] = dict(id=sub.id, key=sub.key, part=sub.part, status="error", error=sub.error, report=None)
    if not sub.error:
        with tempfile.TemporaryDirectory(prefix="autonet-check-") as tmp:  # the prefix every check hides from others
            for name, data in sub.files.items():
                path = Path(tmp) / "submission" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
                path.chmod(0o444)
            try:
                report = check_target(
                    f"{tmp}/submission/{sub.target}",
                    l2=rubric.l2,
                    tol=rubric.tol,
                    limits=rubric.limits,
                    hidden=hidden,
                    allowed=(tmp,),
                )
                part = "layers" if report.kind == "layers" else "net"
                result.update(status=(report.events or ["ok"])[0], report=report.to_dict(), error="", part=part)
            except TargetError as e:
                result.update(status=(e.events or ["error"])[0], error=str(e))
    result["seconds"] = round(time.monotonic() - start, 2)
    return result


def _parallel(pending, rubric, hidden, jobs: int | None, scheduler: str | None) -> Iterator[dict]:
    """Results as they come from ``jobs`` processes here, or from the workers of the Dask ``scheduler`` (each runs
    :func:`grade_one`, which starts each submission's own process there)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                from distributed import Client
            except ImportError:
                raise ConfigError("--scheduler needs Dask: pip install 'autonet[dask]'") from None
            try:
                client = stack.enter_context(Client(scheduler, timeout="20s"))
            except OSError as e:
                raise ConfigError(f"--scheduler {scheduler}: cannot connect ({e})") from None
            pool: Executor = stack.enter_context(client.get_executor(pure=False))
        else:
            pool = stack.enter_context(ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("forkserver")))
        for future in as_completed([pool.submit(grade_one, sub, rubric, hidden) for sub in pending]):
            yield future.result()


def grade_all(
    subs: list[Submission],
    rubric: Rubric,
    out: Path,
    *,
    jobs: int | None = 1,
    scheduler: str | None = None,
    hidden: Iterable[str] = (),
    progress: bool | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Every submission's result, in ``subs`` order: stored ones reused, the rest checked and stored.

    Parameters
    ----------
    jobs : submissions checked at once on this machine (each in its own process; None: as many as cores)
    scheduler : ``tcp://HOST:PORT`` of a Dask scheduler instead (``pip install 'autonet[dask]'``)
    progress : a progress bar on stderr (None: when stderr is a terminal)
    """
    from tqdm.auto import tqdm

    from autonet.storage.files import atomic_write_json, read_regular_file

    key = settings_key(rubric)
    results: dict[str, dict] = {}
    for sub in subs:
        try:
            old = json.loads(read_regular_file(out / sub.id / RESULT, MAX_RESULT_BYTES, "result", ConfigError))
        except (ConfigError, ValueError):  # none yet, or unreadable: checked again
            continue
        if isinstance(old, dict) and old.get("key") == sub.key and old.get("settings") == key:
            results[sub.id] = old
    pending = [s for s in subs if s.id not in results]
    if results:
        log(f"{len(results)} submission(s) unchanged since the last run; checking {len(pending)}")
    hidden = tuple(hidden)
    if scheduler or (jobs != 1 and len(pending) > 1):
        stream = _parallel(pending, rubric, hidden, jobs, scheduler)
    else:
        stream = (grade_one(sub, rubric, hidden) for sub in pending)
    for result in tqdm(
        stream, total=len(pending), desc="grade", unit="submission", file=sys.stderr, disable=progress is False or None
    ):
        result["settings"] = key
        atomic_write_json(out / result["id"] / RESULT, result)
        results[result["id"]] = result
    return [results[s.id] for s in subs]
