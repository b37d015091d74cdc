"""``autonet grade`` on the suite's students (tests/students): the CSV, each feedback.md and results.json.

Every submission is checked in its own process; the hostile ones (a loop
forever, unbounded allocation, os._exit, 100 MB of prints, a fork) get a row
saying so and cost the others nothing. The class is graded once per module
with a fast rubric (limits of seconds) and --jobs 2.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from autonet.checking.feedback import feedback
from autonet.checking.rubric import DEFAULT_RUBRIC, load_rubric
from autonet.checking.submissions import find_submissions, notebook_definitions
from autonet.cli import main

STUDENTS = Path(__file__).resolve().parent / "students"

# id -> (points, max, status); the default rubric, 100 points for a class with train() or a layers.py
EXPECTED = {
    "correct_net": (95, 95, "ok"),  # no train(): that optional item leaves the maximum
    "cs231n_layout": (100, 100, "ok"),
    "correct_backend": (75, 75, "ok"),  # a function has no scores, init or predict
    "layers_correct": (100, 100, "ok"),
    "notebook": (95, 95, "ok"),
    "relu_clip": (70.17, 95, "ok"),
    "missing_n": (49.34, 95, "ok"),
    "no_l2_grad": (85, 95, "ok"),
    "predict_no_b2": (90, 95, "ok"),
    "layers_buggy": (58.43, 100, "ok"),
    "loops_forever": (2.5, 95, "timeout"),
    "allocates": (5, 95, "memory"),
    "exits": (2.5, 95, "exited"),
    "prints_100mb": (5, 95, "output"),
    "forks": (5, 95, "forbidden"),
}
FAST = {"time_limit = 10 ": "time_limit = 3 ", "total_time_limit = 60 ": "total_time_limit = 6 "}
FAST["memory_limit = 2048 "] = "memory_limit = 512 "


def fast_rubric(folder: Path, extra: str = "") -> Path:
    text = DEFAULT_RUBRIC.read_text()
    for old, new in FAST.items():
        assert old in text
        text = text.replace(old, new)
    path = folder / "rubric.toml"
    path.write_text(text + extra)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    rubric = fast_rubric(tmp)
    out = tmp / "reports"
    args = ["grade", str(STUDENTS), "--out", str(out), "--rubric", str(rubric), "--jobs", "2", "--format", "gradescope"]
    assert main(args) == 0
    with open(out / "grades.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    return out, rows, rubric


def test_every_student_has_a_row_with_the_expected_points_and_status(graded):
    out, rows, _ = graded
    on_disk = {p.stem if p.is_file() else p.name for p in STUDENTS.iterdir() if p.name != "__pycache__"}
    assert set(rows) == on_disk and len(rows) >= 12
    for sid, (points, most, status) in EXPECTED.items():
        row = rows[sid]
        assert (float(row["points"]), float(row["max"]), row["status"]) == (points, most, status), sid
    assert rows["correct_net"]["dW1"] == "15" and rows["correct_net"]["train"] == ""
    assert rows["relu_clip"]["dW1"] == "2.5" and rows["relu_clip"]["dW2"] == "15"
    assert rows["layers_correct"]["affine"] == "30" and rows["layers_correct"]["scores"] == ""
    assert all(float(r["seconds"]) < 6 + 3 for r in rows.values())  # the total limit holds for each


def test_feedback_without_hints_never_gives_the_fix(graded):
    out, _, rubric = graded
    text = (out / "relu_clip" / "feedback.md").read_text()
    assert text.startswith("# relu_clip: 70.17 / 95 points")
    assert "| Gradient dW1, equations (8), (9) | 2.5 / 15 | 2 of 12 |" in text
    for secret in ("clipped", "max(dL/dH_out", "FC1_out", "dhidden", "wrong:"):
        assert secret not in text
    result = json.loads((out / "relu_clip" / "result.json").read_text())
    rubric = load_rubric(str(rubric))
    equation = feedback(result, rubric, "equation")
    assert "wrong: W1, b1; right: W2, b2" in equation and "(8) dL/dH_out" in equation and "clipped" not in equation
    assert "dhidden[FC1_out <= 0] = 0" in feedback(result, rubric, "full")
    assert "was stopped" in (out / "loops_forever" / "feedback.md").read_text()
    assert "os.fork is not allowed" in (out / "forks" / "feedback.md").read_text()


def test_gradescope_results_match_the_csv(graded):
    out, rows, _ = graded
    for sid, row in rows.items():
        data = json.loads((out / sid / "results.json").read_text())
        assert data["score"] == float(row["points"])
        assert sum(t["max_score"] for t in data["tests"]) == float(row["max"])
        assert all(t["visibility"] == "visible" and 0 <= t["score"] <= t["max_score"] for t in data["tests"])
        assert data["output"] == (out / sid / "feedback.md").read_text()


def test_summary_names_the_common_diagnoses_and_draws_the_histogram(graded):
    out, rows, _ = graded
    text = (out / "summary.md").read_text()
    assert f"# {len(rows)} submissions" in text
    assert "- 2 of 25: the L2 gradient is 2 * reg * W instead of reg * W (9, 6)" in text.replace(
        f"of {len(rows)}", "of 25"
    )
    assert "timeout 1" in text and (out / "histogram.png").read_bytes()[:4] == b"\x89PNG"


def test_a_rerun_checks_only_what_changed(tmp_path, capsys):
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("correct_net.py", "relu_clip.py"):
        shutil.copy(STUDENTS / name, folder / name)
    rubric, out = fast_rubric(tmp_path), tmp_path / "out"
    args = ["grade", str(folder), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]
    assert main(args) == 0
    first = (out / "grades.csv").read_text()
    (folder / "relu_clip.py").write_text((STUDENTS / "correct_net.py").read_text())
    capsys.readouterr()
    assert main(args) == 0
    assert "1 submission(s) unchanged since the last run; checking 1" in capsys.readouterr().out
    second = (out / "grades.csv").read_text()
    assert first.splitlines()[1] == second.splitlines()[1]  # correct_net: reused
    assert second.splitlines()[2].startswith("relu_clip,95,95,")


def test_hidden_items_are_left_out_of_the_feedback_and_hidden_on_gradescope(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(STUDENTS / "predict_no_b2.py", folder / "a.py")
    rubric = fast_rubric(tmp_path)
    rubric.write_text(rubric.read_text().replace('name = "predict"\n', 'name = "predict"\nhidden = true\n'))
    out = tmp_path / "out"
    assert main(["grade", str(folder), "--out", str(out), "--rubric", str(rubric), "--format", "gradescope"]) == 0
    text = (out / "a" / "feedback.md").read_text()
    assert "predict" not in text and text.startswith("# a: 90 / 95 points")
    tests = json.loads((out / "a" / "results.json").read_text())["tests"]
    assert [t["visibility"] for t in tests if t["name"].startswith("predict")] == ["hidden"]


def test_gradescope_entry_point(tmp_path, capsys):
    (tmp_path / "submission").mkdir()
    shutil.copy(STUDENTS / "no_l2_grad.py", tmp_path / "submission" / "neural_net.py")
    assert main(["grade", "--gradescope", str(tmp_path), "--rubric", str(fast_rubric(tmp_path))]) == 0
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == 85 and len(data["tests"]) == 9


def test_a_notebook_keeps_only_its_definitions():
    source = notebook_definitions((STUDENTS / "notebook.ipynb").read_bytes()).decode()
    assert "class TwoLayerNet" in source and "import numpy as np" in source
    assert "SystemExit" not in source and "while True" not in source and "cifar10" not in source
    (sub,) = [s for s in find_submissions(str(STUDENTS)) if s.id == "notebook"]
    assert sub.target == "notebook.py" and not sub.error


def test_compiled_code_and_links_in_a_submission_are_not_copied(tmp_path):
    folder = tmp_path / "class" / "ann"
    (folder / "cs231n").mkdir(parents=True)
    shutil.copy(STUDENTS / "correct_net.py", folder / "cs231n" / "neural_net.py")
    (folder / "cs231n" / "fast.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    (folder / "cs231n" / "other.py").symlink_to(STUDENTS / "relu_clip.py")
    (sub,) = find_submissions(str(tmp_path / "class"))
    assert sorted(sub.files) == ["cs231n/neural_net.py"] and sub.target == "cs231n/neural_net.py"


def test_a_csv_and_a_glob_name_submissions(tmp_path):
    (tmp_path / "list.csv").write_text(f"id,path\nann,{STUDENTS / 'relu_clip.py'}\nbob,{STUDENTS / 'cs231n_layout'}\n")
    subs = find_submissions(str(tmp_path / "list.csv"))
    assert [(s.id, s.target) for s in subs] == [
        ("ann", "relu_clip.py"),
        ("bob", "cs231n/classifiers/neural_net.py"),
    ]
    assert [s.id for s in find_submissions(str(STUDENTS / "bias_*.py"))] == [
        "bias_keepdims",
        "bias_mean",
        "bias_regularised",
    ]


@pytest.mark.parametrize(
    "rubric_text, words",
    [
        ("[[item]]\nname = 'x'\npoints = 1\n", "missing checks"),
        ("[[item]]\nname = 'x'\npoints = -1\nchecks = ['loss']\n", "points must be in"),
        ("[check]\nl2 = 'double'\n[[item]]\nname = 'x'\npoints = 1\nchecks = ['loss']\n", "l2 must be"),
        ("[tolerances]\nrtol = 0.0\n[[item]]\nname = 'x'\npoints = 1\nchecks = ['loss']\n", "rtol must be"),
        ("[[item]]\nname = 'x'\npoints = 1\nchecks = ['loss']\nweight = 2\n", "unknown key 'weight'"),
        ("this is = not toml [", "not valid TOML"),
        ("", "no [[item]]"),
    ],
)
def test_a_malformed_rubric_is_one_line_exit_2(rubric_text, words, tmp_path, capsys):
    (tmp_path / "r.toml").write_text(rubric_text)
    code = main(["grade", str(STUDENTS), "--out", str(tmp_path / "o"), "--rubric", str(tmp_path / "r.toml")])
    err = capsys.readouterr().err
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_a_missing_or_empty_submissions_folder_is_one_line_exit_2(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "no such folder, CSV or glob" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["grade", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "holds no submissions" in capsys.readouterr().err


def test_a_dask_cluster_grades_the_same(tmp_path):
    distributed = pytest.importorskip("distributed")
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("relu_clip.py", "layers_buggy.py"):
        shutil.copy(STUDENTS / name, folder / name)
    rubric = fast_rubric(tmp_path)
    assert main(["grade", str(folder), "--out", str(tmp_path / "local"), "--rubric", str(rubric), "--jobs", "1"]) == 0
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        args = ["grade", str(folder), "--out", str(tmp_path / "dask"), "--rubric", str(rubric)]
        assert main([*args, "--scheduler", cluster.scheduler_address]) == 0
        assert main([*args, "--scheduler", cluster.scheduler_address, "--jobs", "2"]) == 2

    def grades(out):
        return [line.rsplit(",", 2)[0] for line in (out / "grades.csv").read_text().splitlines()]

    assert grades(tmp_path / "dask") == grades(tmp_path / "local")  # all but seconds and status


def test_a_submission_cannot_read_another_or_the_rubric(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(STUDENTS / "correct_net.py", folder / "b.py")
    rubric = fast_rubric(tmp_path)
    for name, path in (("reads_b", folder / "b.py"), ("reads_rubric", rubric)):
        (folder / f"{name}.py").write_text(
            f"SECRET = open({str(path)!r}).read()\n" + (STUDENTS / "relu_clip.py").read_text()
        )
    out = tmp_path / "out"
    assert main(["grade", str(folder), "--out", str(out), "--rubric", str(rubric), "--jobs", "1"]) == 0
    with open(out / "grades.csv") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    for name in ("reads_b", "reads_rubric"):
        assert (rows[name]["status"], rows[name]["points"]) == ("forbidden", "0")
        assert "is not allowed while checking" in (out / name / "feedback.md").read_text()
    assert rows["b"]["points"] == rows["b"]["max"]
