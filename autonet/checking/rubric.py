"""The grading rubric: a TOML file of items (points, the checks they cover, partial credit, visibility),
the check's settings and tolerances; and the score of one report under it.

The default, ``rubric.toml`` beside this module, matches the two-layer exercise.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autonet.checking.sandbox import Limits
from autonet.checking.tolerances import Tolerances
from autonet.errors import ConfigError

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.toml")
PARTS = ("net", "layers")
MAX_RUBRIC_BYTES = 1 << 20
ITEM_KEYS = {"name": str, "title": str, "points": (int, float), "checks": list, "part": str}
ITEM_KEYS |= {"partial": bool, "hidden": bool, "optional": bool}
CHECK_KEYS = {"l2": str, "time_limit": (int, float), "total_time_limit": (int, float), "memory_limit": int}


@dataclass(frozen=True)
class Item:
    """One line of the grade: ``points`` for the checks whose column is, or whose row starts with, one of ``checks``."""

    name: str
    title: str
    points: float
    checks: tuple[str, ...]
    part: str = "net"
    partial: bool = True
    hidden: bool = False
    optional: bool = False

    def covers(self, check: dict) -> bool:
        return check["quantity"] in self.checks or any(check["case"].startswith(c) for c in self.checks)


@dataclass(frozen=True)
class Rubric:
    """Items and the check's settings; :meth:`score` grades one report."""

    items: tuple[Item, ...]
    l2: str = "half"
    tol: Tolerances = field(default_factory=Tolerances)
    limits: Limits = field(default_factory=Limits)
    path: str = str(DEFAULT_RUBRIC)

    def score(self, report: dict | None, part: str) -> list[tuple[Item, float | None, int, int]]:
        """``(item, points earned or None when it does not apply, checks passed, checks covered)`` of each item
        of ``part``.

        ``report`` is a check report's dict (``Report.to_dict()``); None (the code
        could not be checked) earns 0 on every item that is not optional.
        An optional item without checks does not apply (None).
        """
        checks = report["checks"] if report else []
        out = []
        for item in (i for i in self.items if i.part == part):
            mine = [c["ok"] for c in checks if item.covers(c)]
            share = (sum(mine) / len(mine) if item.partial else float(all(mine))) if mine else 0.0
            out.append(
                (item, None if item.optional and not mine else round(item.points * share, 2), sum(mine), len(mine))
            )
        return out


def load_rubric(path: str | None = None) -> Rubric:
    """Read and validate a rubric (default: the shipped one); :class:`ConfigError` naming the problem."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10: the same parser, as a package
        import tomli as tomllib

    from autonet.storage.files import read_regular_file

    where = Path(path) if path else DEFAULT_RUBRIC
    data = read_regular_file(where, MAX_RUBRIC_BYTES, "rubric", ConfigError)
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # TOMLDecodeError is a ValueError
        raise ConfigError(f"rubric {where}: not valid TOML ({e})") from None
    if unknown := set(doc) - {"check", "tolerances", "item"}:
        raise ConfigError(f"rubric {where}: unknown section {sorted(unknown)[0]!r} (expected check, tolerances, item)")
    check = _table(doc.get("check", {}), CHECK_KEYS, f"rubric {where} [check]")
    if check.get("l2", "half") not in ("half", "full"):
        raise ConfigError(f"rubric {where} [check]: l2 must be 'half' or 'full', got {check['l2']!r}")
    tol_keys = {k: float for k in ("rtol", "fd_rtol", "atol", "fd_step")}
    tolerances = _table(doc.get("tolerances", {}), tol_keys, f"rubric {where} [tolerances]")
    try:
        tol = Tolerances(**tolerances)
    except ValueError as e:
        raise ConfigError(f"rubric {where} [tolerances]: {e}") from None
    total = check.get("total_time_limit", Limits.total_seconds)
    call = min(check.get("time_limit", Limits.call_seconds), total)
    limits = Limits(call, total, check.get("memory_limit", Limits.memory_mb))
    if min(limits.call_seconds, limits.total_seconds, limits.memory_mb) <= 0:
        raise ConfigError(f"rubric {where} [check]: time and memory limits must be positive")
    raw = doc.get("item")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"rubric {where}: no [[item]] (each item has name, points and checks)")
    items = [_item(t, f"rubric {where} item {n + 1}") for n, t in enumerate(raw)]
    names = [i.name for i in items]
    if repeated := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"rubric {where}: item names repeat ({', '.join(repeated)})")
    return Rubric(tuple(items), check.get("l2", "half"), tol, limits, str(where))


def _table(table, keys: dict, where: str) -> dict:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    for k, v in table.items():
        if k not in keys:
            raise ConfigError(f"{where}: unknown key {k!r} (expected {', '.join(keys)})")
        kinds = keys[k] if isinstance(keys[k], tuple) else (keys[k],)
        if isinstance(v, bool) and bool not in kinds or not isinstance(v, kinds):
            raise ConfigError(f"{where}: {k} = {v!r} is not a {' or '.join(t.__name__ for t in kinds)}")
    return dict(table)


def _item(table, where: str) -> Item:
    t = _table(table, ITEM_KEYS, where)
    for k in ("name", "points", "checks"):
        if k not in t:
            raise ConfigError(f"{where}: missing {k}")
    if not re.fullmatch(r"[A-Za-z][\w-]{0,39}", t["name"]):
        raise ConfigError(f"{where}: name {t['name']!r} must be a short identifier (letters, digits, _ or -)")
    if not (0 < t["points"] <= 1e6):
        raise ConfigError(f"{where}: points must be in (0, 1e6], got {t['points']!r}")
    if not t["checks"] or not all(isinstance(c, str) and c for c in t["checks"]):
        raise ConfigError(f"{where}: checks must be a list of check names")
    if t.get("part", "net") not in PARTS:
        raise ConfigError(f"{where}: part must be 'net' or 'layers', got {t['part']!r}")
    return Item(**{**t, "title": t.get("title", t["name"]), "points": float(t["points"]), "checks": tuple(t["checks"])})
