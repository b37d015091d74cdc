"""The search space: which keys a sweep varies and the values each may take.

A space maps :class:`~autonet.run.RunConfig` field names (plus ``epochs``) to
a scalar, a list of values, or a ``log_uniform``/``uniform`` range; see
:mod:`autonet.sweep` for the format. Values are read from TOML/JSON space
files and from ``--grid KEY=V1,V2`` flags, and each is checked by RunConfig.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from autonet.errors import ConfigError
from autonet.run import RunConfig

DATA_KEYS = ("data_dir", "num_val", "num_train", "dtype")
EXTRA_KEYS = ("epochs",)
RANGES = ("log_uniform", "uniform")
MAX_TRIALS = 100_000  # more trials than a sweep directory (one run directory each) can sensibly hold
_RUN_DEFAULTS = RunConfig()


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
        size = math.prod(len(self.dims[k].values) for k in keys)
        if size > MAX_TRIALS:
            raise ConfigError(f"the grid has {size:,} trials; a sweep takes at most {MAX_TRIALS:,} "
                              "(give fewer values, or sample it with --random N)")
        return [dict(zip(keys, combo)) for combo in itertools.product(*(self.dims[k].values for k in keys))]

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
