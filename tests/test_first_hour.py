"""A newcomer's first hour: no silent wrong answer, defaults that fit the data, errors that say what to do next.

Each test is one thing a new user did, from a fresh clone, that went wrong before.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from autonet.cli import main
from fakedata import make_fake_cifar


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory) -> Path:
    """scikit-learn's digits (1,797 rows of 8x8 pixels in 0..16) saved as X_train/y_train, as a user would."""
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_digits(return_X_y=True)
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, X_train=X, y_train=y)
    return path


def test_evaluate_scores_the_rows_the_run_scored(digits_npz, tmp_path, capsys):
    """After ``--num-val 200``, ``evaluate --split val`` scores those 200 rows, not the last 1,000."""
    out = tmp_path / "run"
    args = ["train", "--dataset", str(digits_npz), "--num-val", "200", "--num-iters", "60", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--split", "val", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 200 == summary["num_val"]
    assert result["accuracy"] == pytest.approx(summary["val_acc"])
    assert main(["evaluate", str(out / "model.npz")]) == 0
    assert "on 200 images: the last 200 training rows of digits.npz" in capsys.readouterr().out


def test_evaluate_reads_the_run_s_data_folder(tmp_path, monkeypatch, capsys):
    """A run trained with ``--data-dir`` is evaluated on that folder, never a download elsewhere."""
    make_fake_cifar(tmp_path / "data", n_per_batch=20, with_test=True)
    monkeypatch.setenv("AUTONET_DATA", str(tmp_path / "empty"))
    out = tmp_path / "run"
    small = ["--hidden", "8", "--num-iters", "12", "--batch-size", "10", "--num-val", "10", "--quiet"]
    assert main(["train", "--data-dir", str(tmp_path / "data"), "--out", str(out), *small]) == 0
    summary = json.loads((out / "summary.json").read_text())
    capsys.readouterr()
    assert main(["evaluate", str(out / "model.npz"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 10 and result["accuracy"] == pytest.approx(summary["val_acc"])
    assert str(tmp_path / "data") in result["rows"]
    assert not (tmp_path / "empty").exists()


@pytest.mark.filterwarnings("error::UserWarning")
def test_an_npz_run_with_default_flags_learns_digits(digits_npz, tmp_path, capsys):
    """``autonet train --dataset digits.npz``: the defaults follow the data (not CIFAR-10's recipe) and learn."""
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(digits_npz), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert summary["val_acc"] >= 0.90
    assert config["num_val"] == 180 and config["batch_size"] == 200  # 10% of 1,797 rows; min(200, 1,617)
    assert (config["init"], config["update"], config["learning_rate"]) == ("he", "adam", 1e-3)
    out_text = capsys.readouterr().out
    assert "test acc n/a (no test split in the file)" in out_text and "test_batch" not in out_text


def test_flags_given_and_presets_are_kept_on_other_data(digits_npz, tmp_path):
    """The rule fills only what the user left unset: a flag or a preset wins."""
    out = tmp_path / "run"
    flags = ["--num-val", "300", "--learning-rate", "2e-3", "--num-iters", "20", "--quiet"]
    assert main(["train", "--dataset", str(digits_npz), "--out", str(out), *flags]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["num_val"], config["learning_rate"], config["batch_size"]) == (300, 2e-3, 200)
    out = tmp_path / "exercise"
    assert main(["train", "--dataset", str(digits_npz), "--out", str(out), "--preset", "seed", "--num-iters", "5"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["num_val"], config["batch_size"], config["init"]) == (1000, 400, "std")


def test_a_run_that_cannot_learn_is_flagged_loudly(digits_npz, tmp_path):
    """The exercise's CIFAR-10 recipe on 397 digit rows: batch > rows, loss stuck at ln(10), lr decayed to nothing."""
    out = tmp_path / "run"
    args = ["train", "--dataset", str(digits_npz), "--out", str(out), "--preset", "seed", "--num-val", "1400"]
    with pytest.warns(UserWarning) as record:
        assert main([*args, "--num-iters", "200", "--quiet"]) == 0
    err = "\n".join(str(w.message) for w in record)
    assert "batch_size 400 is larger than the 397 training rows" in err
    assert "the loss has stayed at ln(10) = 2.3026" in err
    assert "the learning rate has decayed to" in err and "cannot change the weights" in err


# ----- MLPClassifier: defaults that work on standardised tabular data, silent, scikit-learn's names -----


def test_mlpclassifier_defaults_learn_standardised_digits():
    """``make_pipeline(StandardScaler(), MLPClassifier())``, no arguments: >= 95% on held-out digits."""
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from autonet import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    pipe = make_pipeline(StandardScaler(), MLPClassifier()).fit(X_train, y_train)
    assert pipe.score(X_test, y_test) >= 0.95


def test_check_estimator_passes_with_defaults_in_under_a_minute():
    pytest.importorskip("sklearn")
    import time
    import warnings

    from sklearn.utils.estimator_checks import check_estimator

    from autonet import MLPClassifier

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = check_estimator(MLPClassifier(), on_fail=None, on_skip=None)
    assert time.perf_counter() - start < 60
    assert not [(r["check_name"], r["exception"]) for r in results if r["status"] == "failed"]
    assert not [str(w.message) for w in caught if "BaseEstimator" in str(w.message)]


def blobs(n=300, d=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    return rng.standard_normal((c, d))[y] * 3 + rng.standard_normal((n, d)), y


def test_mlpclassifier_is_silent_unless_verbose(capfd):
    from autonet import MLPClassifier

    X, y = blobs()
    MLPClassifier(max_iter=5).fit(X, y)
    assert capfd.readouterr() == ("", "")
    MLPClassifier(max_iter=5, verbose=1).fit(X, y)
    assert capfd.readouterr().err


def test_mlpclassifier_speaks_scikit_learn():
    """loss_curve_, best_loss_, validation_scores_, n_iter_ in epochs, a stop at convergence, the HTML repr."""
    sklearn_base = pytest.importorskip("sklearn.base")
    from autonet import MLPClassifier

    X, y = blobs()
    est = MLPClassifier((16,), max_iter=500, tol=1e-3, n_iter_no_change=5).fit(X, y)
    assert isinstance(est, sklearn_base.BaseEstimator) and sklearn_base.is_classifier(est)
    assert len(est.loss_curve_) == est.n_iter_ < 500  # converged: 5 epochs without a fall of 1e-3
    assert est.best_loss_ == min(est.loss_curve_) and est.validation_scores_ is None
    assert all(est.loss_curve_[-6] - 1e-3 < v for v in est.loss_curve_[-5:])
    stopped = MLPClassifier((16,), early_stopping=True, n_iter_no_change=3).fit(X, y)
    assert stopped.best_loss_ is None and len(stopped.validation_scores_) == stopped.n_iter_
    assert "MLPClassifier" in est._repr_html_()


def test_a_failed_download_names_the_three_ways_to_give_data(tmp_path, monkeypatch, capsys):
    """The README's first command, no data and no network: what to do next, not just the socket error."""
    import socket
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.delenv("AUTONET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the default: downloaded on first use
    assert main(["train", "--num-iters", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Name or service not known" in err
    assert "offline" in err and all(way in err for way in ("--data-dir", "AUTONET_DATA", "autonet download DIR"))


@pytest.mark.parametrize(
    "argv,suggestion",
    [
        (["train", "--learnig-rate", "1e-3"], "did you mean --learning-rate?"),
        (["train", "--learning-rat", "1e-3"], "--learning-rate"),
        (["trian"], "did you mean train?"),
        (["evaluate", "model.npz", "--splt", "val"], "did you mean --split?"),
    ],
)
def test_a_typo_gets_one_line_and_a_suggestion(argv, suggestion, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "usage:" not in err
    assert suggestion in err


# ----- figures that show what they say; a finished run leaves nothing else behind -----


def test_misclassified_images_scale_to_the_data_s_own_range():
    """Digits' pixels are 0..16: shown on their own range, the brightest pixel is white, not 16/255 grey."""
    pytest.importorskip("matplotlib")
    from autonet.plots import plot_misclassified

    rng = np.random.default_rng(0)
    X = rng.integers(0, 17, (40, 64)).astype(np.float32)
    y, pred = np.arange(40) % 4, (np.arange(40) + 1) % 4
    fig = plot_misclassified(X, y, pred, ["a", "b", "c", "d"], image_shape=(8, 8, 1), per_class=2)
    shown = [im.get_array() for ax in fig.axes for im in ax.images]
    assert shown and max(float(a.max()) for a in shown) == 1.0 and min(float(a.min()) for a in shown) == 0.0


def test_the_training_figure_plots_the_final_evaluation_it_quotes(digits_npz, tmp_path):
    """A run ending mid-epoch: its title's val acc is a plotted point, and an npz run leaves no .lock behind."""
    pytest.importorskip("matplotlib")
    from autonet.plots import plot_run

    out = tmp_path / "run"
    assert main(["train", "--dataset", str(digits_npz), "--out", str(out), "--num-iters", "20", "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    history = json.loads((out / "history.json").read_text())
    assert summary["epochs"] != int(summary["epochs"])  # 20 steps of 8 per epoch: the run ends mid-epoch
    fig = plot_run(history, summary)
    points = [(x, y) for line in fig.axes[1].lines for x, y in zip(*line.get_data(), strict=True)]
    assert (summary["epochs"], 100 * summary["val_acc"]) in points
    assert f"val acc {summary['val_acc']:.3f}" in fig._suptitle.get_text()
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.npz",
        "config.json",
        "history.csv",
        "history.json",
        "model.npz",
        "plots",
        "summary.json",
    ]


def test_two_layer_net_has_a_repr_that_rebuilds_it():
    from autonet import TwoLayerNet

    net = TwoLayerNet(4, 10, 3, std=1e-1, seed=0)
    assert repr(net) == (
        "TwoLayerNet(input_size=4, hidden_size=10, output_size=3, std=0.1, backend='manual', seed=0, "
        "dtype=np.float64, reg_convention='half')"
    )
    twin = eval(repr(net), {"TwoLayerNet": TwoLayerNet, "np": np})
    assert all(np.array_equal(net.params[k], twin.params[k]) for k in net.params)


# ----- words a user knows; notebooks that show what they build -----

REPO = Path(__file__).resolve().parent.parent
# words only the project's history explains: "the seed" (the exercise's solution write-up), issue numbers,
# work sessions and their stops
HISTORY = re.compile(
    r"\bthe seed\b(?! of)|\bseed's\b|\bseed (?:net|recipe|grid|document)\b|\bissues? ?\d|\(issues?:|"
    r"\b(?:this|previous|last) stop\b|\bstop's\b|\bsession\b",
    re.IGNORECASE,
)


def _history_words(text: str) -> list[str]:
    return sorted({m.group(0) for m in HISTORY.finditer(text)})


@pytest.mark.parametrize(
    "name",
    ["README.md", "docs/deep.md", "docs/sweep.md", "docs/benchmarks.md"]
    + sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")),
)
def test_what_a_user_reads_speaks_of_the_project_only(name):
    path = REPO / name if name.endswith(".md") else REPO / "notebooks" / name
    text = path.read_text(encoding="utf-8")
    # a quoted diagnosis of autonet check (README, notebook 5), whose wording that command owns
    text = "\n".join(line for line in text.splitlines() if "That is the seed's own (8)" not in line)
    assert not _history_words(text), name


@pytest.mark.parametrize("command", ["train", "evaluate", "plot"])
def test_help_speaks_of_the_project_only(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert not _history_words(capsys.readouterr().out)


def _notebook(name: str) -> list[dict]:
    return json.loads((REPO / "notebooks" / name).read_text(encoding="utf-8"))["cells"]


def test_notebook_06_shows_every_figure_it_builds():
    for cell in _notebook("06_estimator.ipynb"):
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "plt.subplots" in source:
            assert any("image/png" in o.get("data", {}) for o in cell["outputs"]), source[:80]


def test_notebook_02_is_committed_at_the_budget_its_text_describes():
    """The text describes four 300-unit nets trained for 1,600 iterations on 49,000 images: so do the outputs."""
    cells = _notebook("02_two_layer_exercise.ipynb")
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    outputs = "".join("".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c["outputs"])
    assert "four 300-unit nets for 1,600 iterations" in text
    assert "budget 'full'" in outputs and "train (49000, 3072), val (1000, 3072)" in outputs
    assert "'hidden': 300" in outputs and "'num_iters': 1600" in outputs
