"""Trials: the points of a space on top of a base config, each with a stable name."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from autonet.config import Config, identity
from autonet.sweep.space import Space

_SHORT = {"learning_rate": "lr", "learning_rate_decay": "decay", "batch_size": "bs", "num_iters": "iters"}


@dataclass(frozen=True)
class Trial:
    """One point of the space.

    ``params``: the searched values; ``config``: the recorded config dict (plus
    ``epochs``, without ``num_iters``, when the space gives epochs); ``cfg``:
    the same as a validated :class:`Config`, built from ``config`` when not
    given (a trial read back from ``sweep.json``). With ``epochs``, ``cfg`` has
    the base's ``num_iters``: the runner sets it once the data size is known.
    """

    index: int
    name: str
    params: dict
    config: dict
    cfg: Config | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.cfg is None:
            options = {k: v for k, v in self.config.items() if k != "epochs"}
            cfg = Config.from_dict({**options, "progress": False}, source=f"trial {self.name}")
            object.__setattr__(self, "cfg", cfg)


def format_value(value: Any) -> str:
    """A searched value as written in trial names and tables: ``1024x512``, ``flip+crop``, ``0.001``."""
    if isinstance(value, (tuple, list)):
        return ("x" if all(isinstance(v, int) for v in value) else "+").join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def trial_name(params: Mapping, config: Mapping) -> str:
    """``<key=value_...>-<8 hex digits of sha1(config without data_dir)>``; ``params``: the varied keys."""
    canon = json.dumps(identity(config), sort_keys=True, default=list)
    digest = hashlib.sha1(canon.encode()).hexdigest()[:8]
    slug = "_".join(f"{_SHORT.get(k, k)}={format_value(v)}" for k, v in params.items())
    slug = "".join(c if c.isalnum() or c in "=_.+-x" else "-" for c in slug)[:80]
    return f"{slug}-{digest}" if slug else f"trial-{digest}"


def make_trials(base: Config, points: Iterable[Mapping], name_keys: Sequence[str] | None = None) -> list[Trial]:
    """Trials from searched points on top of ``base``; later duplicates are dropped.

    Each trial's config is built (validated) once, here. ``name_keys``: the keys
    that appear in trial names (default: every key of a point).
    """
    trials: list[Trial] = []
    seen: set[str] = set()
    for point in points:
        options = {k: v for k, v in point.items() if k != "epochs"}
        cfg = base.replace(progress=False, **options)
        params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in point.items()}
        config = cfg.to_dict()
        if "epochs" in point:
            config.pop("num_iters")
            config["epochs"] = point["epochs"]
        name = trial_name({k: v for k, v in params.items() if name_keys is None or k in name_keys}, config)
        if name not in seen:
            seen.add(name)
            trials.append(Trial(len(trials), name, params, config, cfg))
    return trials


def plan(space: Space, base: Config, random: int | None = None, seed: int = 0) -> list[Trial]:
    """The grid of ``space`` (``random`` None) or ``random`` points drawn with ``seed``."""
    points = space.grid() if random is None else space.sample(random, seed)
    varied = [k for k, d in space.dims.items() if d.kind != "values" or len(d.values) > 1]
    return make_trials(base, points, name_keys=varied)


def iterations_for(epochs: float, num_train: int, batch_size: int) -> int:
    """``round(epochs * max(num_train // batch_size, 1))``, at least 1 (the trainer's epoch)."""
    return max(1, round(epochs * max(num_train // batch_size, 1)))
