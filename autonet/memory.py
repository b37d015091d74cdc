"""Will a training run fit in memory? An estimate, checked before anything is allocated.

A net of ``--hidden 1000000`` or a ``--batch-size 1000000000`` used to end in
a raw ``MemoryError`` or, worse, the kernel's OOM killer taking the machine
down with it. :func:`check_fits` adds up what training holds at once and
refuses, in one line naming the parts, a run that needs more than the memory
this process may use now: the smallest of the machine's available memory and
the process's own limits (``ulimit -v`` / ``ulimit -d``, a cgroup's
``memory.max``), see :func:`memory_budget`.

What is counted (bytes, ``s`` = the float dtype's size, ``P`` = parameter count)::

    parameters        P * s  (the trainer's copy)
    gradients         P * s
    optimizer state   slots * P * s   (sgd 0; momentum, nesterov, rmsprop 1; adam, adamw 2)
    checkpoint        (1 + slots) * P * s   (the in-memory .npz written every N iterations, if any)
    batch             b * (D + 4 * sum(hidden) + 3 * C) * s   (inputs; each hidden layer's
                      pre-activation, activation and their gradients; scores, probabilities
                      and their gradient), with b = the rows of one minibatch
    augmentation      b * (H + 2p) * (W + 2p) * 3 * s + b * D * s   (the zero-padded crop canvas
                      and the augmented copy), when augmenting

The data set itself is already loaded when this runs (it is not counted
again). The estimate is a floor -- numpy temporaries come on top -- so a
refusal is certain to be right, and a run just under the limit may still be
tight.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from autonet.errors import ConfigError

# One rule for every command that builds or reads a net (train's config, evaluate's and plot's model
# files): at most MAX_LAYERS weight layers (100,000 took 68 s for 2 iterations), each of at most
# MAX_LAYER_SIZE units; whether the net then fits is checked against the memory budget (check_fits).
MAX_LAYERS = 1000
MAX_LAYER_SIZE = 10**8


def check_layer_count(hidden_layers: int, what: str) -> None:
    """Raise :class:`ConfigError` unless ``hidden_layers`` + 1 weight layers are within :data:`MAX_LAYERS`.

    ``what`` begins the message: ``"hidden gives"``, ``"the model has"``.
    """
    if hidden_layers + 1 > MAX_LAYERS:
        raise ConfigError(
            f"{what} {hidden_layers:,} hidden layers; at most {MAX_LAYERS - 1} are supported "
            f"({MAX_LAYERS} weight layers, the most autonet evaluate and plot read back)"
        )


OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "rmsprop": 1, "adam": 2, "adamw": 2}


PROC = Path("/proc")  # Linux only; elsewhere every figure read from it is unknown
CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    """The stripped text of a small kernel file; None when it cannot be read."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def _proc_bytes(name: str, field: str) -> int | None:
    """``field`` (``MemAvailable``, ``VmSize``, ...) of ``/proc/<name>`` in bytes; None when unknown."""
    found = re.search(rf"^{field}:\s+(\d+)\b", _read(PROC / name) or "", re.MULTILINE)  # in kB
    return int(found[1]) * 1024 if found else None


def available_bytes() -> tuple[int, str] | None:
    """Memory available to a new allocation now, and where the figure came from.

    ``MemAvailable`` of ``/proc/meminfo`` (Linux: free memory plus the page
    cache that can be dropped), else ``os.sysconf`` free physical pages times
    the page size; None if neither is known.
    """
    if (avail := _proc_bytes("meminfo", "MemAvailable")) is not None:
        return avail, "MemAvailable in /proc/meminfo"
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "free physical pages (sysconf)"
    except (OSError, ValueError, AttributeError):
        return None


def _rlimit_room(resource_name: str, used_field: str, flag: str) -> tuple[int, str] | None:
    """Room left under the soft ``resource.RLIMIT_*`` limit: the limit less what the process uses."""
    try:
        import resource

        soft = resource.getrlimit(getattr(resource, resource_name))[0]
    except (ImportError, AttributeError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    if (used := _proc_bytes("self/status", used_field)) is None:  # the whole limit, an upper bound on the room
        return soft, f"{resource_name} ({flag}) {human(soft)}, use unknown"
    return max(0, soft - used), f"{resource_name} ({flag}) {human(soft)}, {human(used)} of it in use"


def _cgroup_room(root: str | os.PathLike | None = None) -> tuple[int, str] | None:
    """Room left under this process's cgroup v2 ``memory.max`` (less ``memory.current``), if readable."""
    root = Path(root or CGROUP)
    lines = (_read(PROC / "self" / "cgroup") or "").splitlines()
    for d in [*(root / line[4:] for line in reversed(lines) if line.startswith("0::/") and len(line) > 4), root]:
        limit_text, used_text = _read(d / "memory.max"), _read(d / "memory.current") or ""
        if limit_text is None:
            continue
        if not limit_text.isdigit():  # "max": no limit
            return None
        limit, used = int(limit_text), int(used_text) if used_text.isdigit() else 0
        return max(0, limit - used), f"cgroup memory.max {human(limit)}, {human(used)} of it in use"
    return None


def memory_budget() -> tuple[int, str] | None:
    """The most memory this process can allocate now, and where the figure came from.

    The smallest of :func:`available_bytes` (the machine), the room left
    under the soft address-space and data-segment limits (``RLIMIT_AS``,
    ``ulimit -v``; ``RLIMIT_DATA``, ``ulimit -d``) and under the cgroup's
    ``memory.max`` (containers, batch schedulers); None if none is known.
    """
    rlimits = (_rlimit_room("RLIMIT_AS", "VmSize", "ulimit -v"), _rlimit_room("RLIMIT_DATA", "VmData", "ulimit -d"))
    known = [c for c in (available_bytes(), *rlimits, _cgroup_room()) if c is not None]
    return min(known, key=lambda c: c[0], default=None)


def training_bytes(
    sizes: Sequence[int],
    batch_rows: int,
    itemsize: int,
    update: str = "sgd",
    crop_padding: int | None = None,
    image_shape: Sequence[int] = (32, 32, 3),
    checkpoint: bool = True,
) -> dict[str, int]:
    """The parts of the estimate in the module docstring, in bytes (exact Python ints, no overflow).

    Parameters
    ----------
    sizes : layer sizes ``[D, H1, ..., C]``
    batch_rows : rows of one minibatch
    itemsize : bytes per float (4 for float32, 8 for float64)
    update : the update rule (its state slots)
    crop_padding : the crop augmentation's padding, or None when not cropping/augmenting
    image_shape : (H, W, C) of an image row, for the crop canvas
    checkpoint : whether checkpoints are written (their in-memory archive counts)
    """
    sizes = [int(s) for s in sizes]
    P = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    slots = OPTIMIZER_SLOTS.get(update, 2)
    b, D, C = int(batch_rows), sizes[0], sizes[-1]
    parts = {
        "parameters": P * itemsize,
        "gradients": P * itemsize,
        "optimizer state": slots * P * itemsize,
        "checkpoint": (1 + slots) * P * itemsize if checkpoint else 0,
        "batch": b * (D + 4 * sum(sizes[1:-1]) + 3 * C) * itemsize,
    }
    if crop_padding is not None:
        H, W, ch = (int(s) for s in image_shape)
        p = int(crop_padding)
        parts["augmentation"] = (b * (H + 2 * p) * (W + 2 * p) * ch + b * D) * itemsize
    return parts


def human(n: int | float) -> str:
    """``12.3 GiB``, ``512 MiB``, ``80 KiB``, ``12 B``; astronomically large counts in powers of ten."""
    if n >= 10**4 * 2**50:  # exact digits: the count may be beyond any float (--hidden 10**400)
        digits = str(int(n) // 2**50)
        return f"{digits[0]}.{digits[1]}e+{len(digits) - 1:02d} PiB"
    units = (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))
    return next((f"{float(n) / scale:.1f} {unit}" for unit, scale in units if n >= scale), f"{float(n):.0f} B")


def check_fits(parts: dict[str, int], what: str = "this run", hint: str = "") -> str:
    """Raise :class:`ConfigError` if ``sum(parts)`` exceeds :func:`memory_budget`.

    The message names the total, its largest parts and the available memory.
    Nothing is checked when the available memory is unknown. Returns the
    estimate in words (``"WHAT needs about N of memory; M available (SOURCE)"``),
    for an out-of-memory error that happens later anyway.
    """
    need = sum(parts.values())
    if (avail := memory_budget()) is None:
        return f"{what} needs about {human(need)} of memory; available memory unknown"
    have, source = avail
    if need <= have:
        return f"{what} needs about {human(need)} of memory; {human(have)} available ({source})"
    largest = sorted(((v, k) for k, v in parts.items() if v), reverse=True)[:3]
    detail = ", ".join(f"{k} {human(v)}" for v, k in largest)
    # whose memory the source describes: the process's limits or the machine
    holder = "this process has" if source.startswith(("RLIMIT", "cgroup")) else "this machine has"
    raise ConfigError(
        f"{what} needs about {human(need)} of memory ({detail}); {holder} "
        f"{human(have)} available ({source}){'; ' + hint if hint else ''}"
    )
