"""The search space: which keys a sweep varies and the values each may take.

A space maps :class:`~autonet.config.Config` option names (aliases accepted)
plus ``epochs`` to a scalar, a list of values, or a ``log_uniform``/``uniform``
range; see :mod:`autonet.sweep` for the format. The schema types every value:
a space file holds JSON/TOML values (``hidden = [300, "1024,512"]``: one layer
of 300, or two layers), a ``--grid KEY=V1|V2`` flag holds each value spelled
as its ``autonet train`` flag's. Each value is checked alone here; the rules
between options are checked when each trial's config is built.

Trials (:class:`Trial`, :func:`plan`) are the points of a space on top of a base
config, each with a stable name.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autonet.config import Config, Float, Int, Sizes, canonical, identity, names, option, parse_value
from autonet.errors import ConfigError
from autonet.storage.files import read_regular_file

EPOCHS = "epochs"  # a key besides the options: num_iters = round(epochs * iterations per epoch)
EPOCHS_KIND = Float(0.0, 1e6, low_open=True)
RANGES = ("log_uniform", "uniform")
GRID_SEPARATOR = "|"
MAX_SPACE_BYTES = 1 << 20  # a space file is a few lines
MAX_TRIALS = 100_000  # more trials than a sweep directory (one run directory each) can sensibly hold


def _kind(key: str):
    return EPOCHS_KIND if key == EPOCHS else option(key).kind


def _check_key(key: Any, source: str) -> str:
    """The option ``key`` names (aliases, dashes accepted); ConfigError unless it may be searched."""
    name = EPOCHS if key == EPOCHS else canonical(key)
    allowed = [*names(search=True), EPOCHS]
    if name in allowed:
        return name
    if name is not None and option(name).record:
        raise ConfigError(
            f"{source}: {name} shapes the data, which a sweep loads once; set it with a flag "
            f"(--{name.replace('_', '-')}), not in the space"
        )
    raise ConfigError(f"{source}: unknown key {key!r}; searchable keys: {', '.join(sorted(allowed))}")


def _value(key: str, value: Any, source: str, text: bool = False) -> Any:
    """One value of ``key``, checked alone: a JSON/TOML value, or (``text``) spelled as on the command line."""
    kind = _kind(key)
    try:
        return parse_value(key, value, kind=kind) if text else kind.check(key, value)
    except ConfigError as e:
        hint = ""
        if text and "," in value and not isinstance(kind, Sizes) and key != "augment":
            hint = f" (separate grid values with {GRID_SEPARATOR}: {key}=a {GRID_SEPARATOR} b)"
        raise ConfigError(f"{source}: {e}{hint}") from None


def _integral(key: str, x: float) -> Any:
    """``x`` as a value of ``key``: rounded to the nearest integer for an integer, one layer for layer sizes."""
    kind = _kind(key)
    return (round(x),) if isinstance(kind, Sizes) else round(x) if isinstance(kind, Int) else x


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
        if isinstance(_kind(self.key), (Int, Sizes)):
            return _integral(self.key, min(max(round(x), math.ceil(self.low)), math.floor(self.high)))
        return min(max(float(f"{x:.3g}"), self.low), self.high)

    def describe(self) -> Any:
        """JSON-able form, the same as the space file's."""
        if self.kind == "values":
            vals = [list(v) if isinstance(v, tuple) else v for v in self.values]
            return vals[0] if len(vals) == 1 else vals
        return {self.kind: [self.low, self.high]}


def make_dim(key: str, spec: Any, source: str) -> Dim:
    """Parse one space entry (scalar, list, or ``{log_uniform|uniform|choice: ...}``)."""
    key = _check_key(key, source)
    where = f"{source}: {key}"
    if isinstance(spec, Mapping):
        if len(spec) != 1:
            raise ConfigError(
                f"{where}: a distribution is a table with one key (log_uniform, uniform or choice), got {sorted(spec)}"
            )
        ((name, arg),) = spec.items()
        if name == "choice":
            return make_dim(key, list(arg) if isinstance(arg, (list, tuple)) else arg, source)
        if name not in RANGES:
            raise ConfigError(f"{where}: unknown distribution {name!r}; use log_uniform, uniform or choice")
        kind = _kind(key)
        if not isinstance(kind, (Int, Float, Sizes)):
            raise ConfigError(f"{where}: {name} needs a numeric key; give a list of values instead")
        if (
            not isinstance(arg, (list, tuple))
            or len(arg) != 2
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in arg)
        ):
            raise ConfigError(f"{where}: {name} takes [low, high], got {arg!r}")
        low, high = float(arg[0]), float(arg[1])
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(f"{where}: {name} needs finite low < high, got [{arg[0]}, {arg[1]}]")
        if name == "log_uniform" and low <= 0:
            raise ConfigError(f"{where}: log_uniform needs low > 0, got {arg[0]}")
        for end in (low, high):  # both ends must be valid values of the key
            _value(key, _integral(key, end), where + " range")
        return Dim(key, name, low=low, high=high)
    values = spec if isinstance(spec, (list, tuple)) else [spec]
    if not values:
        raise ConfigError(f"{where}: empty list of values")
    return Dim(key, "values", values=tuple(_value(key, v, source) for v in values))


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
            raise ConfigError(
                f"{', '.join(ranged)}: a range can only be sampled; add --random N, or give a list of values for a grid"
            )
        values = [d.values for d in self.dims.values()]
        size = math.prod(map(len, values))
        if size > MAX_TRIALS:
            raise ConfigError(
                f"the grid has {size:,} trials; a sweep takes at most {MAX_TRIALS:,} "
                "(give fewer values, or sample it with --random N)"
            )
        return [dict(zip(self.dims, combo, strict=True)) for combo in itertools.product(*values)]

    def sample(self, n: int, seed: int) -> list[dict]:
        """``n`` points drawn with ``default_rng(seed)``, key by key in order."""
        if not 1 <= n <= MAX_TRIALS:
            raise ConfigError(f"the number of random trials must be in [1, {MAX_TRIALS:,}], got {n}")
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
    dims: dict = {}
    for key, spec in obj.items():
        dim = make_dim(key, spec, source)
        if dim.key in dims:
            raise ConfigError(f"{source}: {dim.key} given twice (as {key!r} and another spelling)")
        dims[dim.key] = dim
    if "epochs" in dims and "num_iters" in dims:
        raise ConfigError(f"{source}: give num_iters or epochs, not both")
    return Space(dims)


def load_space(path: str | os.PathLike) -> Space:
    """Read a space file: ``.toml`` (tomllib; tomli on Python 3.10) or ``.json``."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError(f"space file {path}: expected a .toml or .json file")
    if not os.path.lexists(path):
        raise ConfigError(f"space file {path}: cannot read it (No such file or directory)")
    raw = read_regular_file(path, MAX_SPACE_BYTES, "space file", ConfigError)
    try:
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10: the same parser, as a package
                import tomli as tomllib

            obj = tomllib.loads(raw.decode("utf-8"))
        else:
            obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # TOMLDecodeError, JSONDecodeError: ValueErrors
        raise ConfigError(f"space file {path}: not valid {suffix[1:].upper()}: {e}") from None
    return parse_space(obj, source=str(path))


def parse_grid_flag(text: str) -> tuple[str, Dim]:
    """``"lr=1e-3 | 1.2e-3"`` -> (key, Dim): values separated by ``|``, each spelled as its flag's value.

    ``hidden=300 | 1024,512`` is two trials, the second with two hidden layers
    (``1024,512`` means what ``--hidden 1024,512`` means).
    """
    key, sep, rest = text.partition("=")
    values = [v.strip() for v in rest.split(GRID_SEPARATOR)]
    if not sep or not key.strip() or not any(values):
        raise ConfigError(f'--grid {text!r}: expected KEY=V1|V2|..., e.g. --grid "reg=1e-4 | 1e-3"')
    if any(not v for v in values):
        raise ConfigError(f"--grid {text!r}: an empty value between {GRID_SEPARATOR}s")
    name = _check_key(key.strip(), "--grid")
    source = f"--grid {name}"
    return name, Dim(name, "values", values=tuple(_value(name, v, source, text=True) for v in values))


def build_space(space_file: str | None = None, grid_flags: Sequence[str] = ()) -> Space:
    """The space file's keys, then ``--grid`` entries (which replace a file key of the same name)."""
    dims = dict(load_space(space_file).dims) if space_file else {}
    dims.update(parse_grid_flag(text) for text in grid_flags)
    if not dims:
        raise ConfigError("nothing to sweep: give --grid KEY=V1,V2,... or --space FILE")
    if "epochs" in dims and "num_iters" in dims:
        raise ConfigError("give num_iters or epochs in the space, not both")
    return Space(dims)


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
