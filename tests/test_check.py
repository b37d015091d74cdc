"""``autonet check`` and :mod:`autonet.testing` on correct and buggy student code (tests/students/).

Every buggy fixture must fail (exit 1) with exactly the diagnoses it earns:
the expected signature and equation, and *no other* recognised signature,
so each diagnosis is also fed cases it must not fire on. The correct
fixtures must pass with no diagnosis at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autonet.checking import TargetError, check_two_layer
from autonet.cli import main
from autonet.testing import (
    assert_backend_passes,
    assert_gradients_match,
    assert_layers_match,
    check,
)

STUDENTS = Path(__file__).resolve().parent / "students"

# fixture -> (signatures the report must give, exactly; equations they must name; words the text must contain)
BUGS = {
    "relu_clip.py": ({"relu-clip"}, {8}, "clipped by its sign"),
    "missing_n.py": ({"missing-1/N"}, {5}, "N times too large"),
    "l2_double.py": ({"l2-factor"}, {6, 9}, "2 * reg * W instead of reg * W"),
    "bias_mean.py": ({"bias-mean"}, {7}, "averaged over the N rows"),
    "bias_keepdims.py": ({"bias-shape"}, {10}, "keepdims"),
    "bias_regularised.py": ({"bias-regularised"}, {7, 10}, "the bias is regularised"),
    "no_max_shift.py": ({"no-max-shift"}, {4}, "subtracting each row's max"),
    "predict_no_b2.py": ({"predict-no-b2"}, {3}, "predict drops b2"),
    "inplace.py": ({"in-place"}, set(), "params['W1']"),
    "no_b1.py": ({"no-b1"}, {1}, "b1 is left out of (1)"),
    "later_edition.py": ({"loss-l2-factor", "l2-factor"}, {6, 9}, "--l2 full"),
    "loss_sum.py": ({"loss-sum"}, {4}, "summed over the N examples"),
    "float32.py": ({"precision"}, set(), "dW1 float32"),
    "no_l2_grad.py": ({"l2-missing"}, {9}, "the L2 gradient is missing from dW1"),
}


def run_json(capsys, *argv) -> tuple[int, dict]:
    code = main(["check", *argv, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["TwoLayerNet", "loss_and_grads"])
def test_correct_implementation_passes_with_no_diagnosis(name, capsys):
    code, report = run_json(capsys, f"{STUDENTS / 'correct_net.py'}:{name}")
    assert code == 0 and report["passed"]
    assert report["diagnoses"] == [] and report["num_failed"] == 0
    kinds = {c["quantity"] for c in report["checks"]}
    assert {"loss", "W1", "b1", "W2", "b2", "fd", "inputs"} <= kinds
    if name == "TwoLayerNet":
        assert {"scores", "init", "predict"} <= kinds


@pytest.mark.parametrize("fixture", sorted(BUGS))
def test_each_bug_fails_with_its_own_diagnosis_and_no_other(fixture, capsys):
    signatures, equations, words = BUGS[fixture]
    code, report = run_json(capsys, f"{STUDENTS / fixture}:TwoLayerNet")
    assert code == 1 and not report["passed"]
    assert {d["signature"] for d in report["diagnoses"]} == signatures
    assert set().union(*[d["equations"] for d in report["diagnoses"]]) == equations
    text = "\n".join(line for d in report["diagnoses"] for line in [d["title"], *d["detail"]])
    assert words in text
    assert "e-1" not in text  # no rounding noise quoted as a factor ("-3.7e-16 * reg * W")


def test_the_fault_is_located_between_right_and_wrong_parameters(capsys):
    _, report = run_json(capsys, f"{STUDENTS / 'relu_clip.py'}:TwoLayerNet")
    (d,) = report["diagnoses"]
    assert d["wrong"] == ["W1", "b1"] and d["right"] == ["W2", "b2"] and d["equations"] == [8]
    _, report = run_json(capsys, f"{STUDENTS / 'bias_mean.py'}:TwoLayerNet")
    (d,) = report["diagnoses"]
    assert d["wrong"] == ["b2"] and set(d["right"]) == {"W1", "b1", "W2"}


def test_a_forward_fault_in_a_function_is_found_from_its_loss(capsys):
    code, report = run_json(capsys, f"{STUDENTS / 'no_b1.py'}:loss_and_grads")
    assert code == 1
    assert [(d["signature"], d["equations"]) for d in report["diagnoses"]] == [("no-b1", [1])]
    # and a loss summed over N is not mistaken for a forward fault
    code, report = run_json(capsys, f"{STUDENTS / 'loss_sum.py'}:loss_and_grads")
    assert [d["signature"] for d in report["diagnoses"]] == ["loss-sum"]


def test_the_later_edition_passes_under_its_own_convention(capsys):
    code, report = run_json(capsys, f"{STUDENTS / 'later_edition.py'}:TwoLayerNet", "--l2", "full")
    assert code == 0 and report["diagnoses"] == []
    # and the seed-edition implementation fails under the later convention, diagnosed the other way round
    code, report = run_json(capsys, f"{STUDENTS / 'correct_net.py'}:TwoLayerNet", "--l2", "full")
    assert code == 1 and {d["signature"] for d in report["diagnoses"]} == {"loss-l2-factor", "l2-factor"}
    assert "--l2 half" in json.dumps(report["diagnoses"])


def test_text_report_has_the_table_and_the_equation(capsys):
    assert main(["check", f"{STUDENTS / 'relu_clip.py'}:TwoLayerNet"]) == 1
    out = capsys.readouterr().out
    assert "exercise toy 5x4-10-3" in out and "\u2717" in out and "\u2713" in out
    assert "(8) dL/dH_out = dL/dFC2_out . W2^T;  dL/dFC1_out = dL/dH_out * 1[FC1_out > 0]" in out
    assert "wrong: W1, b1; right: W2, b2" in out


def test_a_file_alone_checks_its_TwoLayerNet(capsys):
    assert main(["check", str(STUDENTS / "correct_net.py")]) == 0
    assert "all 85 checks pass" in capsys.readouterr().out


# ----- bad targets: exit 2, one line naming the problem -----

BAD_FILES = {
    "import_error.py": (
        "import numpy as np\nraise RuntimeError('half-finished cell')\n",
        "RuntimeError: half-finished",
    ),
    "syntax_error.py": ("def f(:\n", "SyntaxError"),
    "exits.py": ("import sys\nsys.exit(3)\n", "exit(3)"),
    "no_params.py": (
        "class TwoLayerNet:\n    def __init__(self, a, b, c, std=1e-4):\n        pass\n"
        "    def loss(self, X, y=None, reg=0.0):\n        return 0\n",
        "no dict attribute 'params'",
    ),
    "float_loss.py": (
        "import numpy as np\nclass TwoLayerNet:\n    def __init__(self, D, H, C, std=1e-4):\n"
        "        self.params = {'W1': np.zeros((D, H)), 'b1': np.zeros(H), 'W2': np.zeros((H, C)), 'b2': np.zeros(C)}\n"
        "    def loss(self, X, y=None, reg=0.0):\n        s = X @ self.params['W1'] @ self.params['W2']\n"
        "        return s if y is None else 1.0\n",
        "must return (loss, grads); got float",
    ),
    "two_args.py": ("def TwoLayerNet(params, X):\n    return 0, {}\n", "does not accept (params, X, y, reg)"),
    "constructor.py": (
        "class TwoLayerNet:\n    def __init__(self, sizes):\n        self.params = {}\n"
        "    def loss(self, X, y=None, reg=0.0):\n        pass\n",
        "does not accept four arguments",
    ),
    "not_callable.py": ("TwoLayerNet = 3\n", "not a class or a function"),
    "hangs.py": ("while True:\n    pass\n", "took longer than 0.5 s"),
}


@pytest.mark.parametrize("fixture", sorted(BAD_FILES))
def test_bad_targets_exit_2_with_one_line(fixture, tmp_path, capsys):
    source, words = BAD_FILES[fixture]
    path = tmp_path / fixture
    path.write_text(source)
    assert main(["check", f"{path}:TwoLayerNet", "--time-limit", "0.5"]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "target,words",
    [
        ("no/such/file.py:Net", "no such file"),
        ("autonet.no_such_module:Net", "No module named"),
        (f"{STUDENTS / 'correct_net.py'}:TwoLayerNat", "has no 'TwoLayerNat'"),
        (str(STUDENTS), "is a folder"),
        (f"{STUDENTS / 'correct_net.py'}:np", "a module without layer functions"),
    ],
)
def test_missing_targets_exit_2(target, words, capsys):
    assert main(["check", target]) == 2
    assert words in capsys.readouterr().err


def test_a_crash_inside_loss_is_a_failed_check_not_a_traceback(tmp_path, capsys):
    src = (
        (STUDENTS / "correct_net.py")
        .read_text()
        .replace("        N = X.shape[0]\n", "        N = X.shape[0]\n        assert N > 1\n")
    )
    (tmp_path / "crash.py").write_text(src)
    code, report = run_json(capsys, f"{tmp_path / 'crash.py'}:TwoLayerNet")
    assert code == 1
    assert [d["signature"] for d in report["diagnoses"]] == ["exception"]
    assert "AssertionError" in report["diagnoses"][0]["title"]
    assert "(crash.py, line 18)" in report["diagnoses"][0]["title"]  # the student's file and line


def test_the_other_subgradient_on_the_kink_passes_with_a_note(tmp_path, capsys):
    src = (STUDENTS / "correct_net.py").read_text().replace("dhidden[fc1 <= 0] = 0", "dhidden[fc1 < 0] = 0")
    (tmp_path / "ge.py").write_text(src)
    code, report = run_json(capsys, f"{tmp_path / 'ge.py'}:TwoLayerNet")
    assert code == 0
    notes = [c["note"] for c in report["checks"] if c["case"].startswith("ReLU kinks")]
    assert any("both are subgradients" in n for n in notes)
    # a gradient that is wrong only on the kink (there, the sign flipped) is caught
    src = (
        (STUDENTS / "correct_net.py")
        .read_text()
        .replace("dhidden[fc1 <= 0] = 0", "dhidden[fc1 < 0] = 0\n        dhidden[fc1 == 0] *= -1")
    )
    (tmp_path / "half.py").write_text(src)
    code, report = run_json(capsys, f"{tmp_path / 'half.py'}:TwoLayerNet")
    assert code == 1 and [d["signature"] for d in report["diagnoses"]] == ["kink"]


def test_a_loss_that_hangs_is_stopped_and_reported(tmp_path, capsys):
    src = (
        (STUDENTS / "correct_net.py")
        .read_text()
        .replace("        N = X.shape[0]\n", "        N = X.shape[0]\n        while N == 1:\n            pass\n")
    )
    (tmp_path / "hang.py").write_text(src)
    code, report = run_json(capsys, f"{tmp_path / 'hang.py'}:TwoLayerNet", "--time-limit", "0.3")
    assert code == 1
    assert "took longer than 0.3 s" in report["diagnoses"][0]["title"]


def test_prints_in_user_code_do_not_corrupt_json(tmp_path, capsys):
    src = "print('hello from import')\n" + (STUDENTS / "correct_net.py").read_text().replace(
        "        N = X.shape[0]\n", "        N = X.shape[0]\n        print('debug', N)\n"
    )
    (tmp_path / "chatty.py").write_text(src)
    code, report = run_json(capsys, f"{tmp_path / 'chatty.py'}:TwoLayerNet")
    assert code == 0 and report["passed"]


def test_package_module_target_and_relative_imports(tmp_path, capsys, monkeypatch):
    pkg = tmp_path / "cs231n" / "classifiers"
    pkg.mkdir(parents=True)
    (tmp_path / "cs231n" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (tmp_path / "cs231n" / "helpers.py").write_text("import numpy as np\n")
    (pkg / "neural_net.py").write_text("from ..helpers import np  # noqa\n" + (STUDENTS / "correct_net.py").read_text())
    assert main(["check", f"{pkg / 'neural_net.py'}:TwoLayerNet"]) == 0
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "cs231n.classifiers.neural_net:loss_and_grads"]) == 0


def test_checking_leaves_the_global_random_state_alone():
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    check(f"{STUDENTS / 'correct_net.py'}:TwoLayerNet")
    assert np.random.rand() == expected


# ----- autonet.testing -----


def test_assert_gradients_match_carries_the_diagnosis():
    import importlib.util

    spec = importlib.util.spec_from_file_location("student_missing_n", STUDENTS / "missing_n.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(AssertionError, match=r"(?s)the 1/N of \(5\) is missing.*\(5\) dL/dFC2_out"):
        assert_gradients_match(module.TwoLayerNet)
    assert assert_gradients_match(f"{STUDENTS / 'correct_net.py'}:TwoLayerNet").passed


def test_assert_backend_passes_rejects_a_buggy_backend():
    from autonet.backends import get_backend

    manual = get_backend("manual")

    def no_mean(params, X, y, reg=0.0):
        loss, grads = manual(params, X, y, reg)
        return loss, {k: g * X.shape[0] if k.startswith("b") else g for k, g in grads.items()}

    with pytest.raises(AssertionError, match="db1 is N times too large"):
        assert_backend_passes(no_mean)


def test_wrong_api_raises_target_error():
    with pytest.raises(TargetError, match="not a class or a function"):
        check_two_layer(42)


# ----- layer functions -----


def test_correct_layers_pass(capsys):
    code, report = run_json(capsys, str(STUDENTS / "layers_correct.py"))
    assert code == 0 and report["kind"] == "layers" and report["diagnoses"] == []
    rows = {c["case"] for c in report["checks"]}
    for name in (
        "affine_backward dw",
        "relu_backward dx (x off the kink)",
        "softmax_loss dx (scores + 1000)",
        "batchnorm_backward dx",
        "dropout_backward dx (mask = out / x)",
    ):
        assert name in rows
    assert "keep probability" in json.dumps(report["checks"])
    assert_layers_match(str(STUDENTS / "layers_correct.py"))


def test_buggy_layers_each_diagnosed(capsys):
    code, report = run_json(capsys, str(STUDENTS / "layers_buggy.py"))
    assert code == 1
    assert {d["signature"] for d in report["diagnoses"]} == {
        "bias-mean",
        "relu-clip",
        "missing-1/N",
        "bn-constant-stats",
        "dropout-not-inverted",
    }
    ok = {c["case"] for c in report["checks"] if c["ok"]}
    assert {"affine_backward dx", "affine_backward dw", "batchnorm_backward dgamma", "relu_forward out"} <= ok


def test_dropout_of_the_2016_edition_is_accepted(tmp_path, capsys):
    src = (
        (STUDENTS / "layers_correct.py")
        .read_text()
        .replace(
            "mask = (np.random.rand(*x.shape) < p) / p  # p is the keep probability",
            "mask = (np.random.rand(*x.shape) >= p) / (1 - p)  # p is the drop probability",
        )
    )
    (tmp_path / "layers2016.py").write_text(src)
    code, report = run_json(capsys, str(tmp_path / "layers2016.py"))
    assert code == 0 and "drop probability" in json.dumps(report["checks"])


def test_a_file_with_neither_api_is_exit_2(tmp_path, capsys):
    (tmp_path / "empty.py").write_text("x = 1\n")
    assert main(["check", str(tmp_path / "empty.py")]) == 2
    assert "neither layer functions" in capsys.readouterr().err


def test_help_states_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "Exit 0" in out and "--json" in out and "--l2" in out


@pytest.mark.parametrize("backend", ["manual", "autograd"])
def test_autonets_own_TwoLayerNet_passes_the_check(backend):
    """The exercise-compatible class itself: toy init from the global RNG, scores, loss, gradients, predict."""
    from autonet import TwoLayerNet

    class Net(TwoLayerNet):
        def __init__(self, input_size, hidden_size, output_size, std=1e-4):
            super().__init__(input_size, hidden_size, output_size, std, backend=backend)

    report = assert_gradients_match(Net)
    assert {c.quantity for c in report.checks} >= {"init", "predict", "scores"}


# ----- the student's code runs in a separate process: it cannot change the verdict, hang it or flood it -----

RELU_CLIP = (STUDENTS / "relu_clip.py").read_text()
IN_LOSS = "        N = X.shape[0]\n"
HOSTILE = {  # a buggy net (relu_clip) plus an attack; each must still exit 1 with the ReLU diagnosis or a failure
    "exit_in_loss": RELU_CLIP.replace(IN_LOSS, IN_LOSS + "        import os; os._exit(0)\n"),
    "atexit_exit": "import atexit, os\natexit.register(os._exit, 0)\n" + RELU_CLIP,
    "fake_json": RELU_CLIP.replace(
        IN_LOSS,
        IN_LOSS
        + "        import sys, os; sys.__stdout__.write('{\"passed\": true}'); sys.__stdout__.flush(); os._exit(0)\n",
    ),
    "patched_numpy": "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.abs = lambda x: 0 * x\n" + RELU_CLIP,
    "c_level_loop": RELU_CLIP.replace(IN_LOSS, IN_LOSS + "        import re; re.match(r'(a*)*b', 'a' * 64)\n"),
    "float_loop": RELU_CLIP.replace(
        "        return loss, grads",
        "        class L:\n            def __float__(self):\n                while True: pass\n        return L(), grads",
    ),
    "flood": RELU_CLIP.replace(IN_LOSS, IN_LOSS + "        print('x' * 20_000_000)\n"),
    "keyboard_interrupt": RELU_CLIP.replace(IN_LOSS, IN_LOSS + "        raise KeyboardInterrupt\n"),
    "fork": RELU_CLIP.replace(IN_LOSS, IN_LOSS + "        import os; os.fork()\n"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_code_cannot_change_the_verdict_hang_or_flood(attack, tmp_path, capfd):
    import time

    path = tmp_path / f"{attack}.py"
    path.write_text(HOSTILE[attack])
    start = time.monotonic()
    code = main(["check", f"{path}:TwoLayerNet", "--json", "--time-limit", "1", "--total-time-limit", "4"])
    took = time.monotonic() - start
    out, err = capfd.readouterr()
    report = json.loads(out)  # the whole stdout is the checker's JSON
    assert code == 1 and not report["passed"]
    assert took < 4 + 3 and len(out) + len(err) < 100_000
    if attack in ("patched_numpy", "atexit_exit"):
        assert [d["signature"] for d in report["diagnoses"]] == ["relu-clip"]
    if attack in ("c_level_loop", "float_loop"):
        assert "timeout" in report["events"] and "took longer than 1 s" in json.dumps(report)
    if attack == "flood":
        assert report["events"] == ["output"]
    if attack == "keyboard_interrupt":
        assert f"KeyboardInterrupt ({attack}.py, line 18)" in report["diagnoses"][0]["title"]


def test_exiting_at_import_is_exit_2_with_one_line(tmp_path, capsys):
    (tmp_path / "bye.py").write_text("import os\nos._exit(0)\n")
    assert main(["check", str(tmp_path / "bye.py")]) == 2
    err = capsys.readouterr().err
    assert "importing bye.py ended its process (exit status 0)" in err and len(err.strip().splitlines()) == 1


def test_the_total_time_limit_bounds_the_whole_check(tmp_path, capsys):
    import time

    src = RELU_CLIP.replace(IN_LOSS, IN_LOSS + "        import time; time.sleep(0.4)\n")
    (tmp_path / "slow.py").write_text(src)
    start = time.monotonic()
    code, report = run_json(capsys, f"{tmp_path / 'slow.py'}:TwoLayerNet", "--total-time-limit", "2")
    assert code == 1 and time.monotonic() - start < 4
    assert "time limit of 2 s ran out" in json.dumps(report) and report["events"] == ["timeout"]


def test_tolerances_are_options(capsys):
    code, report = run_json(capsys, f"{STUDENTS / 'correct_net.py'}:TwoLayerNet", "--rtol", "1e-30")
    assert code == 1 and not report["passed"]
    from autonet.testing import Tolerances

    assert not check(f"{STUDENTS / 'correct_net.py'}:TwoLayerNet", tol=Tolerances(rtol=1e-30)).passed
    assert check(f"{STUDENTS / 'correct_net.py'}:TwoLayerNet", tol=Tolerances(fd_step=1e-4)).passed
    with pytest.raises(SystemExit):
        main(["check", str(STUDENTS / "correct_net.py"), "--fd-step", "0"])


def test_the_directional_derivative_sees_a_fault_in_any_entry():
    from autonet.backends import get_backend
    from autonet.checking.cases import random_params
    from autonet.checking.twolayer import directional_derivatives

    rng = np.random.default_rng(3)
    params = random_params(rng, 300, 200, 10)
    X, y = rng.standard_normal((20, 300)), rng.integers(0, 10, 20)
    manual = get_backend("manual")
    _, grads = manual(params, X, y, reg=0.1)

    def f():
        return float(manual(params, X, y, reg=0.1)[0])

    along, numeric = directional_derivatives(f, params, grads, 1e-5, np.random.default_rng(0))
    assert abs(along - numeric) <= 1e-6 * abs(numeric)
    grads["W1"][123, 45] += 0.05  # one wrong entry of 60,000: 10 sampled entries would almost surely miss it
    along, numeric = directional_derivatives(f, params, grads, 1e-5, np.random.default_rng(0))
    assert abs(along - numeric) > 1e-5 * abs(numeric)
