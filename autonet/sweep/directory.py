"""The sweep directory: one writer, and the space it was made for.

``sweep.json`` records what each command that wrote the directory asked for
(mode, space, search seed, base config: its *identity*) and every trial it
planned (name, searched values, full config). Running a sweep again into the
same directory is accepted when its identity is one already recorded: it
resumes, and the results cover every recorded trial. Any other space (or base
config) would silently replace ``results.csv``, ``best_model.npz`` and
``best.json`` with another sweep's, so it is refused, naming the difference,
unless ``extend=True``: then its trials are added to the recorded ones and
the results cover both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from autonet.errors import ConfigError
from autonet.run import read_json
from autonet.storage.checkpoints import _differences, _json_normal
from autonet.storage.lock import LOCK_NAME
from autonet.sweep.trials import Trial

SWEEP_FILE = "sweep.json"


def identity(meta: Mapping | None) -> dict:
    """What makes two sweep commands the same sweep: ``meta`` without the data's location."""
    ident = _json_normal(dict(meta or {}))
    if isinstance(ident.get("base"), dict):
        ident["base"].pop("data_dir", None)
    return ident


def _trial_record(t: Trial) -> dict:
    return {"name": t.name, "params": _json_normal(t.params), "config": _json_normal(t.config)}


def _trial_from(index: int, record: Mapping, data_dir: Any) -> Trial:
    if (
        not isinstance(record, Mapping)
        or not isinstance(record.get("name"), str)
        or not all(isinstance(record.get(k), dict) for k in ("params", "config"))
    ):
        raise ValueError(f"trial {index} needs a name (a string), params and config (objects)")
    config = dict(record["config"])
    if data_dir is not None or "data_dir" in config:
        config["data_dir"] = data_dir  # where the data is now (it may have moved); not part of a trial's name
    return Trial(index, record["name"], dict(record["params"]), config)


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

    def record(recorded: Mapping, identities: list, keys: Sequence[str], trials: Sequence[Trial]) -> dict:
        records = [_trial_record(t) for t in trials]
        ids = {
            "identities": identities,
            "keys": list(keys),
            "trials": [t.name for t in trials],
            "trial_records": records,
        }
        return {**recorded, **asked, "format": "autonet-sweep", **ids}

    fresh = record({}, [ident], keys, trials)
    path = out / SWEEP_FILE
    if not path.is_file():
        others = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME) if out.is_dir() else []
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise ConfigError(
                f"--out {out}: not a sweep directory (no {SWEEP_FILE}; holds {shown}); choose another --out"
            )
        return list(trials), list(keys), fresh
    try:
        recorded = read_json(path)
    except (OSError, ValueError, RecursionError) as e:
        raise ConfigError(f"{path}: cannot read the sweep's record ({e})") from None
    if not isinstance(recorded, dict):
        raise ConfigError(f"{path}: not a sweep record (expected a JSON object)")
    known = recorded.get("identities")
    if not isinstance(known, list):  # written before identities were recorded: only an exact match resumes
        known = [identity({k: v for k, v in recorded.items() if k not in ("keys", "trials")})]
        if recorded.get("trials") != [t.name for t in trials]:
            known = []
    records = recorded.get("trial_records")
    if ident in known:
        if not isinstance(records, list):
            return list(trials), list(keys), fresh
        old = _read_records(path, records, meta)
        return old, _merge_keys(recorded.get("keys"), keys), {**recorded, **asked}
    base_diffs = [d for k in known[-1:] for d in _differences(k.get("base"), ident.get("base"), "base")]
    if base_diffs:  # one results table compares trials that differ only in their searched values
        raise ConfigError(
            f"--out {out}: holds a sweep with other base settings ({'; '.join(_said(d) for d in base_diffs[:3])}); "
            "its table cannot hold both: re-run its own command to resume it, or choose another --out"
        )
    if not extend:
        diffs = _differences(known[-1], ident, "") if known else ["its trials differ"]
        what = "; ".join(_said(d) for d in diffs[:3])
        raise ConfigError(
            f"--out {out}: holds a sweep over another space ({what}); re-run its own command "
            "to resume it, add --extend to add these trials to it, or choose another --out"
        )
    if not isinstance(records, list):
        raise ConfigError(
            f"{path}: this sweep was recorded without its trial list (an older autonet); "
            "it cannot be extended: choose another --out"
        )
    old = _read_records(path, records, meta)
    names = {t.name for t in old}
    added = [t for t in trials if t.name not in names]
    merged = old + [Trial(len(old) + i, t.name, t.params, t.config, t.cfg) for i, t in enumerate(added)]
    updated = record(recorded, [*known, ident], _merge_keys(recorded.get("keys"), keys), merged)
    return merged, updated["keys"], updated


def _said(difference: str) -> str:
    """A checkpoint-style difference worded for a sweep record."""
    return difference.lstrip(".").replace(" in the checkpoint", " recorded there").replace(" in the run", " now")


def _read_records(path: Path, records: list, meta: Mapping | None) -> list[Trial]:
    base = (meta or {}).get("base")
    data_dir = base.get("data_dir") if isinstance(base, Mapping) else None
    try:
        return [_trial_from(i, r, data_dir) for i, r in enumerate(records)]
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: damaged trial list ({e!r})") from None


def _merge_keys(old: Any, new: Sequence[str]) -> list[str]:
    keys = [k for k in old if isinstance(k, str)] if isinstance(old, list) else []
    return keys + [k for k in new if k not in keys]
