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
from autonet.run import read_json_object
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


def _records(trials: Sequence[Trial]) -> list[dict]:
    return [{"name": t.name, "params": _json_normal(t.params), "config": _json_normal(t.config)} for t in trials]


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
    base = (meta or {}).get("base")
    data_dir = base.get("data_dir") if isinstance(base, Mapping) else None
    try:
        return [_trial_from(i, r, data_dir) for i, r in enumerate(records)]
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: damaged trial list ({e!r})") from None


def _merge_keys(old: Any, new: Sequence[str]) -> list[str]:
    keys = [k for k in old if isinstance(k, str)] if isinstance(old, list) else []
    return keys + [k for k in new if k not in keys]
