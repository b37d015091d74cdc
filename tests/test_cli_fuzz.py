"""Every numeric flag of every subcommand against hostile values: exit 0, 2 or 3, never a traceback.

The flags are found by walking the real parser (so a flag added later is fuzzed
without touching this file): every option whose ``type`` turns "1" or "0.5"
into a value. Each gets 0, -1, NaN, inf, 1e309, 20 nines, 10**400, non-ASCII
digits and the empty string, given as ``--flag=value`` so that argparse
never takes a negative value for another option.

To stay fast, commands run on a 100-image fake CIFAR folder and a value that
is accepted runs only up to the first training step (``Trainer.step`` is
replaced by one that stops the command): everything that validates, sizes
or allocates has happened by then. A value refused by argparse or by
autonet's own checks exits 2; a diverging run exits 3.
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

import numpy as np
import pytest

from autonet.cli import build_parser, main
from fakedata import make_fake_cifar

HOSTILE = [
    "0",
    "-1",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "99999999999999999999",
    "1" + "0" * 400,
    "١٢",
    "",
    " ",
    "0x10",
    "1_000",
]
LIMIT = 30  # seconds a command may take to refuse a value or reach its first training step
STUDENT = Path(__file__).resolve().parent / "students" / "correct_net.py"


class StopAtFirstStep(Exception):
    """Raised by the patched Trainer.step: the command accepted the value and reached training."""


def _numeric(action: argparse.Action) -> bool:
    """A flag taking a number: an argparse ``type`` that parses one, or a numeric schema option (parsed later)."""
    if not action.option_strings or action.choices is not None or action.nargs == 0:
        return False
    if action.type is None:
        from autonet.config import _FIELDS, Float, Int, Sizes, option

        return action.dest in _FIELDS and isinstance(option(action.dest).kind, (Int, Float, Sizes))
    for probe in ("1", "0.5"):
        try:
            action.type(probe)
            return True
        except (argparse.ArgumentTypeError, ValueError, TypeError):
            pass
    return False


def numeric_flags() -> list[tuple[str, str]]:
    """(command, flag) for every numeric option of every subcommand."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = []
    for command, p in sub.choices.items():
        for action in p._actions:
            if _numeric(action):
                found.append((command, max(action.option_strings, key=len)))
    return found


FLAGS = numeric_flags()


def test_the_fuzz_covers_every_command_with_numeric_flags():
    commands = {c for c, _ in FLAGS}
    assert {"train", "sweep", "evaluate", "gradcheck", "plot", "check"} <= commands
    assert ("train", "--batch-size") in FLAGS and ("sweep", "--search-seed") in FLAGS
    assert ("plot", "--dpi") in FLAGS and ("gradcheck", "--seed") in FLAGS


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    make_fake_cifar(root, n_per_batch=20, with_test=True)
    run = root / "run"
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(root),
                "--out",
                str(run),
                "--hidden",
                "4",
                "--num-val",
                "10",
                "--num-iters",
                "2",
                "--batch-size",
                "5",
                "--quiet",
            ]
        )
        == 0
    )
    return root, run


def _base(command: str, root: Path, run: Path, out: Path) -> list[str]:
    data = ["--data-dir", str(root), "--num-val", "10"]
    tiny = ["--hidden", "4", "--num-iters", "2", "--batch-size", "5", "--quiet"]
    return {
        "train": ["train", *data, *tiny, "--out", str(out)],
        "sweep": ["sweep", *data, *tiny, "--grid", "reg=0|0.001", "--out", str(out)],
        "evaluate": ["evaluate", str(run / "model.npz"), *data],
        "plot": ["plot", str(run), *data, "--out", str(out)],
        "gradcheck": ["gradcheck", "--sizes", "3,4,2", "--batch", "2", "--num-checks", "2"],
        "check": ["check", str(STUDENT)],
        "grade": ["grade", str(STUDENT), "--out", str(out)],
    }[command]


def _with(argv: list[str], flag: str, value: str) -> list[str]:
    """``argv`` with ``flag`` set to ``value`` (replacing a value the base gives it)."""
    out = list(argv)
    if flag in out:
        i = out.index(flag)
        del out[i : i + 2]
    return [*out, f"{flag}={value}"]


@pytest.mark.parametrize("value", HOSTILE, ids=lambda v: repr(v)[:12])
@pytest.mark.parametrize("command, flag", FLAGS, ids=[f"{c} {f}" for c, f in FLAGS])
def test_hostile_number_exits_0_2_or_3_without_a_traceback(world, tmp_path, capsys, monkeypatch, command, flag, value):
    from autonet import train

    def stop(self):
        raise StopAtFirstStep

    monkeypatch.setattr(train.Trainer, "step", stop)
    root, run = world
    argv = _with(_base(command, root, run, tmp_path / "out"), flag, value)

    def too_slow(signum, frame):
        raise TimeoutError(f"{' '.join(argv)} ran for more than {LIMIT} s before training")

    previous = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(LIMIT)
    try:
        with np.errstate(all="ignore"):
            try:
                code = main(argv)
            except SystemExit as e:  # argparse
                code = e.code
            except StopAtFirstStep:
                code = 0  # accepted; training would start here
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    assert code in (0, 2, 3), f"{' '.join(argv)} exited {code}: {err}"
    assert "Traceback" not in err, err
    if code == 2:
        last = err.strip().splitlines()[-1]
        assert last.startswith((f"autonet {command}: error:", "autonet: error:")), err
        assert len(last) < 300 + len(value), f"a runaway error line ({len(last)} characters)"  # quoting it once is fine
