"""What a sweep writes: result rows, ``results.csv``, the best model, the text table."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from autonet.errors import ConfigError
from autonet.run import read_json
from autonet.storage.files import atomic_write_bytes, atomic_write_json, atomic_write_text
from autonet.sweep.trials import Trial, format_value

SUMMARY_FILE = "summary.json"
DIVERGED_FILE = "diverged.json"
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
    if (run_dir / SUMMARY_FILE).is_file():
        return metrics(read_json(run_dir / SUMMARY_FILE), run_dir / SUMMARY_FILE)
    if (run_dir / DIVERGED_FILE).is_file():
        record = read_json(run_dir / DIVERGED_FILE)
        error = record.get("error") if isinstance(record, dict) else None
        if not isinstance(error, str):
            raise ConfigError(
                f"{run_dir / DIVERGED_FILE}: field error: expected the divergence message (a string); "
                f"the file was edited or damaged: delete {run_dir} to run the trial again"
            )
        return {"status": "diverged", **{k: None for k in METRICS}, "error": error[:500]}
    return None


def write_shipped(run_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write a worker's run-dir files, the completion markers last."""
    root = run_dir.resolve()
    last = (SUMMARY_FILE, DIVERGED_FILE)
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
            write_shipped(self.run_dir(trial), files)
        self.results[trial.name] = result
        self.write_csv()
        if result["status"] == "ok" and (self.best is None or self._better(trial)):
            self.best = trial
            src = self.run_dir(trial) / "model.npz"
            atomic_write_bytes(self.dir / "best_model.npz", src.read_bytes())
            atomic_write_json(self.dir / "best.json", self.row(trial))

    def _better(self, trial: Trial) -> bool:
        """Higher val accuracy; on a tie the earlier trial (the same winner in any completion order)."""
        assert self.best is not None
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
            w.writerow(
                ["" if row.get(c) is None else format_value(row[c]) if c in self.keys else row[c] for c in columns]
            )
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
