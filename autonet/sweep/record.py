"""What a sweep writes: result rows, ``results.csv``, the best model, the text table.

The sweep record (:func:`reconcile`): ``sweep.json`` holds what each command that
wrote the directory asked for (mode, space, search seed, base config: its
*identity*) and every trial it planned (name, searched values, full config).
Running a sweep again into the same directory is accepted when its identity
is one already recorded: it resumes, and the results cover every recorded
trial. Any other space (or base config) would silently replace
``results.csv``, ``best_model.npz`` and ``best.json`` with another sweep's, so
it is refused, naming the difference, unless ``extend=True``: then its trials
are added to the recorded ones and the results cover both.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autonet.errors import ConfigError, DivergenceError
from autonet.run import DIVERGED_NAME, SUMMARY_NAME, read_json, read_json_object
from autonet.storage.checkpoints import _differences, _json_normal
from autonet.storage.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from autonet.storage.lock import LOCK_NAME
from autonet.sweep.space import Trial, format_value

METRICS = ("train_acc", "val_acc", "final_loss", "iterations", "train_seconds")


def metrics(summary: Mapping, path: Path | None = None) -> dict:
    """The result row of a finished run from its ``summary.json`` (read back from ``path``: checked)."""
    for key in METRICS if path else ():
        assert path is not None
        value = summary.get(key) if isinstance(summary, Mapping) else None
        high = 1.0 if key.endswith("_acc") else math.inf  # accuracies, a loss, iterations and seconds: >= 0
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not (value is None and key == "final_loss") and not (number and 0 <= value <= high):  # type: ignore[operator]
            raise ConfigError(
                f"{path}: field {key}: expected a number in [0, {high}], got {type(value).__name__} "
                f"{str(value)[:40]!r}; the file was edited or damaged: delete {path.parent} to run the trial again"
            )
    return {"status": "ok", **{k: summary.get(k) for k in METRICS}, "error": ""}


def finished_result(run_dir: Path) -> dict | None:
    """The result row of a trial already run in ``run_dir``, or None; its files are checked like input."""
    if (run_dir / SUMMARY_NAME).is_file():
        return metrics(read_json(run_dir / SUMMARY_NAME), run_dir / SUMMARY_NAME)
    if (run_dir / DIVERGED_NAME).is_file():
        record = read_json(run_dir / DIVERGED_NAME)
        error = record.get("error") if isinstance(record, dict) else None
        if not isinstance(error, str):
            raise ConfigError(
                f"{run_dir / DIVERGED_NAME}: field error: expected the divergence message (a string); "
                f"the file was edited or damaged: delete {run_dir} to run the trial again"
            )
        return {"status": "diverged", **dict.fromkeys(METRICS), "error": error[:500]}
    return None


def diverged(out: Path, e: DivergenceError) -> dict:
    """The result row of a trial that diverged in ``out``, recorded there in ``diverged.json``."""
    atomic_write_json(out / DIVERGED_NAME, {"error": str(e), "iteration": e.iteration, "name": e.name})
    return {"status": "diverged", **dict.fromkeys(METRICS), "error": str(e)}


def write_shipped(run_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write a worker's run-dir files, the completion markers last."""
    root = run_dir.resolve()
    last = (SUMMARY_NAME, DIVERGED_NAME)
    for rel in sorted(files, key=lambda r: (r in last, r)):
        target = (run_dir / rel).resolve()
        if root not in target.parents:
            raise ConfigError(f"worker sent a file outside its run directory: {rel!r}")
        atomic_write_bytes(target, files[rel])


class SweepRecorder:
    """Keeps the results table of a sweep directory current.

    After every recorded trial: ``results.csv`` rewritten atomically (every
    trial, finished or pending), and ``best_model.npz``/``best.json`` updated
    when the best validation accuracy improves.
    """

    def __init__(self, trials: Sequence[Trial], sweep_dir: Path, keys: Sequence[str]) -> None:
        self.trials, self.dir, self.keys = list(trials), sweep_dir, list(keys)
        self.results: dict[str, dict] = {}
        self.best: Trial | None = None

    def run_dir(self, trial: Trial) -> Path:
        return self.dir / "trials" / trial.name

    def record(self, trial: Trial, result: dict) -> None:
        files = result.pop("files", None)
        if files is not None:
            write_shipped(self.run_dir(trial), files)
        self.results[trial.name] = result
        self.write_csv()
        if result["status"] == "ok" and (self.best is None or self._rank(trial) > self._rank(self.best)):
            self.best = trial
            atomic_write_bytes(self.dir / "best_model.npz", (self.run_dir(trial) / "model.npz").read_bytes())
            atomic_write_json(self.dir / "best.json", self.row(trial))

    def _rank(self, trial: Trial) -> tuple:
        """Higher val accuracy first; on a tie the earlier trial (the same winner in any completion order)."""
        return self.results[trial.name]["val_acc"], -trial.index

    def row(self, trial: Trial) -> dict:
        result = self.results.get(trial.name, {"status": "pending"})
        row = {"trial": trial.name, "status": result["status"]}
        row.update({k: trial.params.get(k, trial.config.get(k)) for k in self.keys})
        row.update({k: result.get(k) for k in METRICS})
        row.update(learning_rate=trial.config["learning_rate"], reg=trial.config["reg"], error=result.get("error", ""))
        return row

    def rows(self) -> list[dict]:
        return [self.row(t) for t in self.trials]

    def write_csv(self) -> None:
        columns = ["trial", "status", *self.keys, *METRICS, "error"]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for row in self.rows():
            w.writerow("" if row[c] is None else format_value(row[c]) if c in self.keys else row[c] for c in columns)
        atomic_write_text(self.dir / "results.csv", buf.getvalue())


def one_line(result: Mapping) -> str:
    """A finished trial's result in one line of the sweep log."""
    if result["status"] != "ok":
        return f"{result['status']} ({result.get('error', '')})"
    return f"val acc {result['val_acc']:.4f}, train acc {result['train_acc']:.4f}, {result['train_seconds']:.1f} s"


def format_table(rows: Sequence[Mapping], keys: Sequence[str]) -> str:
    """Rows sorted by validation accuracy (best first; diverged and pending last) as text."""

    varying = [k for k in keys if len({format_value(r[k]) for r in rows}) > 1] or list(keys)
    header = [*varying, "train acc", "val acc", "time (s)", "status"]
    body = []
    for r in sorted(rows, key=lambda r: (r["status"] != "ok", -(r["val_acc"] or 0.0))):
        ok = r["status"] == "ok"
        shown = [f"{r['train_acc']:.4f}", f"{r['val_acc']:.4f}", f"{r['train_seconds']:.1f}"] if ok else ["-"] * 3
        body.append([*(format_value(r[k]) for k in varying), *shown, r["status"]])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


SWEEP_FILE = "sweep.json"


def identity(meta: Mapping | None) -> dict:
    """What makes two sweep commands the same sweep: ``meta`` without the data's location."""
    ident = _json_normal(dict(meta or {}))
    if isinstance(ident.get("base"), dict):
        ident["base"].pop("data_dir", None)
    return ident


def _records(trials: Sequence[Trial]) -> list[dict]:
    return [{"name": t.name, "params": _json_normal(t.params), "config": _json_normal(t.config)} for t in trials]


def reconcile(
    out: Path, trials: Sequence[Trial], keys: Sequence[str], meta: Mapping | None, extend: bool = False
) -> tuple[list[Trial], list[str], dict]:
    """The trials and keys to run in ``out`` and the ``sweep.json`` to write.

    Raises
    ------
    ConfigError
        ``out`` holds something other than a sweep, or a sweep of another
        space and ``extend`` is False.
    """
    ident, asked = identity(meta), _json_normal(dict(meta or {}))
    path = out / SWEEP_FILE
    recorded: dict = {}
    known: Any = []
    old: list[Trial] = []
    if path.is_file():
        recorded = read_json_object(path)
        known, records = recorded.get("identities"), recorded.get("trial_records")
        if not isinstance(known, list) or not isinstance(records, list):
            raise ConfigError(f"{path}: not a sweep record (no identities or trial list); choose another --out")
        old = _read_records(path, records, meta)
        if ident in known:
            return old, _merge_keys(recorded.get("keys"), keys), {**recorded, **asked}
        base_diffs = [d for k in known[-1:] for d in _differences(k.get("base"), ident.get("base"), "base")]
        if base_diffs:  # one results table compares trials that differ only in their searched values
            raise ConfigError(
                f"--out {out}: holds a sweep with other base settings ({'; '.join(_said(d) for d in base_diffs[:3])}); "
                "its table cannot hold both: re-run its own command to resume it, or choose another --out"
            )
        if not extend:
            diffs = _differences(known[-1], ident, "") if known else ["its trials differ"]
            raise ConfigError(
                f"--out {out}: holds a sweep over another space ({'; '.join(_said(d) for d in diffs[:3])}); re-run "
                "its own command to resume it, add --extend to add these trials to it, or choose another --out"
            )
    elif out.is_dir() and (others := sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME)):
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
        raise ConfigError(f"--out {out}: not a sweep directory (no {SWEEP_FILE}; holds {shown}); choose another --out")
    names = {t.name for t in old}
    added = [t for t in trials if t.name not in names]
    merged = old + [Trial(len(old) + i, t.name, t.params, t.config, t.cfg) for i, t in enumerate(added)]
    keys = _merge_keys(recorded.get("keys"), keys)
    ids = {"identities": [*known, ident], "keys": keys, "trials": [t.name for t in merged]}
    return merged, keys, {**recorded, **asked, "format": "autonet-sweep", **ids, "trial_records": _records(merged)}


def _said(difference: str) -> str:
    """A checkpoint-style difference worded for a sweep record."""
    return difference.lstrip(".").replace(" in the checkpoint", " recorded there").replace(" in the run", " now")


def _read_records(path: Path, records: list, meta: Mapping | None) -> list[Trial]:
    """The trials recorded in ``path``; ConfigError naming the file when one is damaged."""
    base = (meta or {}).get("base")
    data_dir = base.get("data_dir") if isinstance(base, Mapping) else None
    trials = []
    for i, record in enumerate(records):
        try:
            if not isinstance(record["name"], str) or not all(
                isinstance(record[k], dict) for k in ("params", "config")
            ):
                raise ValueError(f"trial {i} needs a name (a string), params and config (objects)")
            config = dict(record["config"])
            if data_dir is not None or "data_dir" in config:
                config["data_dir"] = data_dir  # where the data is now (it may have moved); not part of a trial's name
            trials.append(Trial(i, record["name"], dict(record["params"]), config))
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{path}: damaged trial list ({e!r})") from None
    return trials


def _merge_keys(old: Any, new: Sequence[str]) -> list[str]:
    keys = [k for k in old if isinstance(k, str)] if isinstance(old, list) else []
    return keys + [k for k in new if k not in keys]
