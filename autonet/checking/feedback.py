"""The reports of ``autonet grade``, from the stored results: grades.csv, each student's feedback.md,
Gradescope's results.json, and the class summary (summary.md, histogram.png).

Hints: ``none`` shows the items, points and the student's own error messages
(what their code raised, with its file and line), never a diagnosis (so neither the reference solution nor the fix);
``equation`` adds where each fault enters (the equation and the quantities
found wrong and right); ``full`` adds the whole diagnosis with its fix.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from pathlib import Path

from autonet.checking.equations import equation
from autonet.checking.report import Diagnosis
from autonet.checking.rubric import Rubric

STATUS = {
    "ok": "",
    "error": "your code could not be checked",
    "timeout": "your code was stopped: it ran longer than the time limit",
    "memory": "your code ran out of memory",
    "output": "your code printed more than the output limit",
    "exited": "your code ended the process running it (an exit, a crash or a signal)",
    "forbidden": "your code tried what checking does not allow (a new process, the network, others' files)",
}


def scored(result: dict, rubric: Rubric) -> tuple[list, float, float]:
    """``([(item, points, checks passed, checks covered) of each item that applies], points, max)`` of one result."""
    rows: list = [r for r in rubric.score(result.get("report"), result.get("part", "net")) if r[1] is not None]
    return rows, round(sum(r[1] for r in rows), 2), sum(r[0].points for r in rows)


def feedback(result: dict, rubric: Rubric, hints: str = "none") -> str:
    """The student's report as Markdown (hidden items and their diagnoses left out)."""
    rows, got, most = scored(result, rubric)
    lines = [f"# {result['id']}: {got:g} / {most:g} points", ""]
    if result["status"] != "ok":
        lines += [f"**{STATUS.get(result['status'], result['status'])}.**", ""]
    if result.get("error"):
        lines += ["```", result["error"], "```", ""]
    lines += ["| item | points | checks passed |", "|---|---:|---:|"]
    lines += [f"| {i.title} | {p:g} / {i.points:g} | {k} of {n} |" for i, p, k, n in rows if not i.hidden]
    hidden = [i for i in rubric.items if i.hidden]
    diagnoses = [  # the student's own errors; with hints, those not only about hidden items
        d
        for d in (result.get("report") or {}).get("diagnoses", [])
        if (hints != "none" or d["signature"] == "exception")
        and not (d["wrong"] and all(any(i.covers({"quantity": q, "case": q}) for i in hidden) for q in d["wrong"]))
    ]
    if diagnoses:
        lines += ["", "## Where it goes wrong", ""]
    for d in diagnoses:
        if d["signature"] == "exception":  # the student's own error, not a hint
            lines.append(f"- your code {d['title']}")
        elif hints == "full":
            lines += ["```", *Diagnosis(**d).lines(), "```"]
        else:
            right = f"; right: {', '.join(d['right'])}" if d["right"] else ""
            lines.append(f"- wrong: {', '.join(d['wrong']) or 'see the table'}{right}")
            lines += [f"    - the fault enters at {equation(n)}" for n in d["equations"]]
    return "\n".join(lines) + "\n"


def gradescope(result: dict, rubric: Rubric, hints: str = "none") -> dict:
    """Gradescope's ``results.json`` for one submission: one test per rubric item that applies."""
    rows, got, _ = scored(result, rubric)
    tests = [
        {"name": i.title, "score": p, "max_score": i.points, "output": f"{k} of {n} checks pass"}
        | {"visibility": "hidden" if i.hidden else "visible"}
        for i, p, k, n in rows
    ]
    return {
        "score": got,
        "output": feedback(result, rubric, hints),
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def grades_csv(results: list[dict], rubric: Rubric) -> str:
    """One row per submission: id, points, max, each item (empty when it does not apply), seconds, status."""
    names = [i.name for i in rubric.items]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "points", "max", *names, "seconds", "status"])
    for r in results:
        rows, got, most = scored(r, rubric)
        points = {i.name: f"{p:g}" for i, p, _, _ in rows}
        cells = [points.get(n, "") for n in names]  # empty: the item does not apply
        writer.writerow([r["id"], f"{got:g}", f"{most:g}", *cells, f"{r['seconds']:g}", r["status"]])
    return buf.getvalue()


def common_diagnoses(results: list[dict], top: int = 10) -> list[tuple[int, str]]:
    """``(submissions, "title (equations)")`` of the most frequent diagnoses, each counted once per submission."""
    counts: Counter = Counter()
    titles: dict[str, str] = {}
    for r in results:
        mine = [d for d in (r.get("report") or {}).get("diagnoses", []) if d.get("signature") != "exception"]
        for d in mine:
            eqs = f" ({', '.join(map(str, d['equations']))})" if d["equations"] else ""
            titles.setdefault(d.get("signature") or d["title"], d["title"] + eqs)
        counts.update({d.get("signature") or d["title"] for d in mine})
    return [(n, titles[k]) for k, n in counts.most_common(top)]


def summary(results: list[dict], rubric: Rubric, out: Path) -> str:
    """The class summary as Markdown; writes the score histogram to ``out/histogram.png``."""
    from matplotlib.figure import Figure

    percent = [100 * got / most if most else 0.0 for _, got, most in (scored(r, rubric) for r in results)]
    fig = Figure(figsize=(6, 3.5), layout="tight")
    ax = fig.add_subplot()
    ax.hist(percent, bins=20, range=(0, 100), color="#4477aa", edgecolor="white")
    ax.set(xlabel="score (% of the maximum)", ylabel="submissions", title=f"{len(results)} submissions")
    fig.savefig(out / "histogram.png", dpi=100)
    n = len(results)
    statuses = Counter(r["status"] for r in results)
    lines = [
        f"# {n} submission{'s' * (n != 1)}: median {statistics.median(percent):.0f}%, mean {statistics.mean(percent):.0f}%",
        "",
        "![score histogram](histogram.png)",
        "",
        "Status: " + ", ".join(f"{k} {v}" for k, v in statuses.most_common()),
        "",
        "Most common diagnoses:",
        "",
    ]
    lines += [f"- {k} of {n}: {title}" for k, title in common_diagnoses(results)] or ["- none"]
    return "\n".join(lines) + "\n"


def write_reports(results: list[dict], rubric: Rubric, out: Path, hints: str, gradescope_json: bool) -> str:
    """grades.csv, summary.md + histogram.png, and per submission feedback.md (and Gradescope's results.json
    with ``gradescope_json``); returns the summary."""
    import json

    from autonet.storage.files import atomic_write_text

    for r in results:
        folder = out / r["id"]
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "feedback.md", feedback(r, rubric, hints))
        if gradescope_json:
            atomic_write_text(folder / "results.json", json.dumps(gradescope(r, rubric, hints), indent=2))
    atomic_write_text(out / "grades.csv", grades_csv(results, rubric))
    text = summary(results, rubric, out)
    atomic_write_text(out / "summary.md", text)
    return text
