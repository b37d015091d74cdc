"""``autonet grade``: grade a class's submissions, each checked in its own bounded process, by a rubric."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from autonet.cli.common import positive_int

GRADESCOPE_ROOT = "/autograder"
MAX_JOBS = 256


def register(sub) -> None:
    p = sub.add_parser(
        "grade",
        help="grade a folder of students' two-layer nets or layers.py files by a rubric",
        description="Check every submission like `autonet check`, each in its own process (its own folder and "
        "home, no network where the system allows, bounded time, memory and output, its files read-only), "
        "score it by a rubric and write REPORT_DIR/grades.csv, REPORT_DIR/<id>/feedback.md, "
        "REPORT_DIR/summary.md with histogram.png (and REPORT_DIR/<id>/results.json for Gradescope). "
        "A re-run checks only submissions that are new or changed. Exit 0: graded (whatever the grades); "
        "2: bad arguments, rubric or submissions folder.",
        epilog="SUBMISSIONS: a folder with one .py, .ipynb or folder per student (a folder may hold the "
        "course's layout, e.g. cs231n/classifiers/neural_net.py, or a layers.py; of a notebook only its "
        "imports, functions and classes are used), a CSV with columns id,path, or a quoted glob. "
        "The default rubric (print it with --print-rubric) matches the exercise.",
    )
    p.add_argument("submissions", nargs="?", metavar="SUBMISSIONS", help="folder, CSV or glob of submissions")
    p.add_argument("--out", metavar="REPORT_DIR", help="where the reports go (created)")
    p.add_argument("--rubric", metavar="FILE.toml", help="the rubric (default: the exercise's, see --print-rubric)")
    p.add_argument("--print-rubric", action="store_true", help="print the default rubric and exit")
    p.add_argument(
        "--hints",
        choices=("none", "equation", "full"),
        default="none",
        help="what feedback.md tells the student: none = items and points only (never the fix), "
        "equation = also where each fault enters, full = also the diagnosis and its fix (default: %(default)s)",
    )
    p.add_argument(
        "--format",
        choices=("csv", "gradescope"),
        default="csv",
        help="gradescope: also REPORT_DIR/<id>/results.json in Gradescope's format (default: %(default)s)",
    )
    p.add_argument(
        "--gradescope",
        nargs="?",
        const=GRADESCOPE_ROOT,
        metavar="ROOT",
        help="run as Gradescope's autograder: grade ROOT/submission, write ROOT/results/results.json "
        f"(ROOT default: {GRADESCOPE_ROOT})",
    )
    p.add_argument("--jobs", type=positive_int, help="submissions checked at once (default: all cores)")
    dask = "check on this Dask scheduler instead (pip install 'autonet[dask]')"
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help=dask)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from autonet.checking import feedback
    from autonet.checking.grading import grade_all, grade_one
    from autonet.checking.rubric import DEFAULT_RUBRIC, load_rubric
    from autonet.checking.submissions import find_submissions, read_submission
    from autonet.errors import ConfigError
    from autonet.storage.files import atomic_write_text
    from autonet.storage.lock import RunLock

    if args.print_rubric:
        print(DEFAULT_RUBRIC.read_text(), end="")
        return 0
    rubric = load_rubric(args.rubric)
    hidden = [rubric.path] if args.rubric else []
    if args.gradescope:
        root = Path(args.gradescope)
        if not (root / "submission").is_dir():
            raise ConfigError(f"--gradescope: no folder {root / 'submission'}")
        (root / "results").mkdir(parents=True, exist_ok=True)
        result = grade_one(read_submission(root / "submission", "submission"), rubric, tuple(hidden))
        data = feedback.gradescope(result, rubric, args.hints)
        atomic_write_text(root / "results" / "results.json", json.dumps(data, indent=2))
        print(f"score {data['score']:g}; results in {root / 'results' / 'results.json'}")
        return 0
    if not args.submissions or not args.out:
        raise ConfigError("give SUBMISSIONS and --out REPORT_DIR (or --gradescope)")
    if args.jobs is not None and args.jobs > MAX_JOBS:
        raise ConfigError(f"--jobs {args.jobs} is more than {MAX_JOBS} processes; give at most the cores to use")
    if args.scheduler and args.jobs is not None:
        raise ConfigError("give --jobs N or --scheduler, not both (Dask workers set the parallelism)")
    subs = find_submissions(args.submissions)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):
        hidden += [str(out), *(s.source for s in subs)]  # no submission reads another's files
        results = grade_all(subs, rubric, out, jobs=args.jobs, scheduler=args.scheduler, hidden=hidden)
        print(feedback.write_reports(results, rubric, out, args.hints, args.format == "gradescope"), end="")
    print(f"reports in {out}: grades.csv, summary.md, histogram.png, <id>/feedback.md")
    return 0
