"""Results of a check: the table of checks, the diagnoses, text and JSON renderings."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from autonet.checking.equations import equation

PASS, FAIL = "\u2713", "\u2717"  # check mark, ballot x
MAX_NOTES = 4  # notes shown under the table; the JSON has all


@dataclass
class Check:
    """One comparison: ``quantity`` of the target on ``case`` against the references.

    ``error`` is the largest relative error over the references (None when the
    comparison is not numeric, e.g. a shape mismatch or an exception).
    """

    case: str
    quantity: str
    ok: bool
    error: float | None = None
    note: str = ""


@dataclass
class Diagnosis:
    """Where a fault enters and, when its numerical signature is recognised, what it is.

    Attributes
    ----------
    title : one line, what is wrong
    equations : the equations (1)-(10), numbered as in the exercise's solution write-up, the fault enters at (empty when unknown)
    wrong, right : the quantities (``scores``, ``loss``, ``W1`` ...) found wrong / right
    signature : short id of a recognised classic fault (e.g. ``"relu-clip"``), or None
    detail : further lines: the evidence and the fix
    """

    title: str
    equations: list[int] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    right: list[str] = field(default_factory=list)
    signature: str | None = None
    detail: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        right = f"; right: {', '.join(self.right)}" if self.right else ""
        where = [f"wrong: {', '.join(self.wrong)}{right}"] if self.wrong else []
        return [f"{FAIL} {self.title}", *[f"    {x}" for x in [*where, *map(equation, self.equations), *self.detail]]]


@dataclass
class Report:
    """Everything one check found; ``passed`` is the verdict (CLI exit 0 / 1)."""

    target: str
    kind: str
    checks: list[Check]
    diagnoses: list[Diagnosis]
    header: str = ""
    columns: tuple = ()
    events: list = field(default_factory=list)  # timeout, memory, output, exited: what stopped the checked code

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks) and not self.diagnoses

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict:
        def clean(c: Check) -> dict:
            d = asdict(c)
            if d["error"] is not None and not math.isfinite(d["error"]):
                d["error"] = str(d["error"])  # JSON has no inf/nan
            return d

        return {
            "target": self.target,
            "kind": self.kind,
            "passed": self.passed,
            "num_checks": len(self.checks),
            "num_failed": len(self.failed),
            "checks": [clean(c) for c in self.checks],
            "diagnoses": [asdict(d) for d in self.diagnoses],
            "events": list(self.events),
        }

    def text(self) -> str:
        """The table (one row per case, one column per quantity) and the diagnoses."""
        lines = [self.header] if self.header else []
        columns = list(self.columns) or sorted({c.quantity for c in self.checks})
        rows: dict[str, dict[str, Check]] = {}
        for c in self.checks:
            if c.quantity in columns:
                rows.setdefault(c.case, {})[c.quantity] = c
        width = max([len(r) for r in rows] + [4])
        if rows:
            lines.append(f"{'case':<{width}}  " + "  ".join(f"{q:<9}" for q in columns).rstrip())
        for case, cells in rows.items():
            lines.append((f"{case:<{width}}  " + "  ".join(_cell(cells.get(q)) for q in columns)).rstrip())
        for c in (c for c in self.checks if c.quantity not in columns):  # the checks of their own line
            lines.append(f"{PASS if c.ok else FAIL} {c.case}" + (f": {c.note}" if c.note else ""))
        if notes := [f"  {c.case} / {c.quantity}: {c.note}" for c in self.checks if c.note and c.quantity in columns]:
            lines.append("notes:")
            lines += notes[:MAX_NOTES]
            if len(notes) > MAX_NOTES:
                lines.append(f"  ... and {len(notes) - MAX_NOTES} more (--json lists every check)")
        n = len(self.checks)
        lines.append(f"{PASS} all {n} checks pass" if self.passed else f"{FAIL} {len(self.failed)} of {n} checks fail")
        return "\n".join(lines + [line for d in self.diagnoses for line in d.lines()])  # none when it passes


def _cell(c: Check | None) -> str:
    if c is None:
        return f"{'':<9}"
    mark = PASS if c.ok else FAIL
    if c.error is None:
        return f"{mark} {'-':<7}"
    return f"{mark} {c.error:<7.0e}" if math.isfinite(c.error) else f"{mark} {str(c.error):<7}"
