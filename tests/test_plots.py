"""Figures: the pure helpers exactly, the PNG writers and ``autonet plot`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autonet import plots
from autonet.cli import main
from autonet.errors import DataError
from fakedata import CLASS_NAMES, make_fake_cifar

PNG = b"\x89PNG\r\n\x1a\n"


def test_confusion_matrix_counts_true_rows_predicted_columns():
    y_true = np.array([0, 0, 1, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 2, 0, 2])
    cm = plots.confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert cm.sum(axis=1).tolist() == [2, 1, 3]


@pytest.mark.parametrize("y_true, y_pred", [([0, 3], [0, 1]), ([0, 1], [0, -1]), ([0.0, 1.0], [0, 1]), ([0], [0, 1])])
def test_confusion_matrix_refuses_bad_labels(y_true, y_pred):
    with pytest.raises(DataError):
        plots.confusion_matrix(np.array(y_true), np.array(y_pred), 3)


def test_weight_grid_reads_columns_as_hwc_images():
    W1 = np.zeros((3072, 2))
    W1[(5 * 32 + 7) * 3 + 0, 0] = 1.0  # unit 0: one red pixel at row 5, column 7 (HWC flattening)
    W1[:, 1] = 3.0  # unit 1: constant, shown mid-grey
    grid = plots.weight_grid(W1, padding=2)
    assert grid.shape == (32, 66, 3)  # 2 tiles side by side
    tile0, tile1 = grid[:, :32], grid[:, 34:]
    assert tile0[5, 7].tolist() == [1.0, 0.0, 0.0]
    assert tile0.sum() == 1.0
    assert np.all(tile1 == 0.5) and np.all(grid[:, 32:34] == 1.0)  # white padding


def test_weight_grid_caps_units_and_refuses_non_images():
    assert plots.weight_grid(np.random.default_rng(0).standard_normal((3072, 300)), max_units=64).shape == (270, 270, 3)
    with pytest.raises(DataError, match=r"W1 must have shape \(3072, H\)"):
        plots.weight_grid(np.zeros((10, 5)))


def test_pick_misclassified_takes_first_mistakes_per_true_class():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([1, 0, 2, 1, 0, 2])
    picks = plots.pick_misclassified(y_true, y_pred, 3, per_class=1)
    assert [p.tolist() for p in picks] == [[0], [4], []]


def test_every_figure_is_returned_saves_as_a_png_and_leaves_pyplot_alone(tmp_path, rng):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    before = plt.get_fignums()
    history = {"loss": list(2.3 - np.linspace(0, 1, 50)), "train_acc": [0.2, 0.3], "val_acc": [0.15, 0.25]}
    X = rng.integers(0, 256, size=(30, 3072)).astype(np.float32)
    y = rng.integers(0, 10, size=30)
    pred = (y + (np.arange(30) % 3 == 0)) % 10
    figures = {
        "t.png": plots.plot_training(history, title="t"),
        "w.png": plots.plot_weight_grid(rng.standard_normal((3072, 20))),
        "c.png": plots.plot_confusion_matrix(plots.confusion_matrix(y, pred, 10), CLASS_NAMES),
        "m.png": plots.plot_misclassified(X - X.mean(0), y, pred, CLASS_NAMES, mean_image=X.mean(0), per_class=2),
    }
    assert not list(tmp_path.iterdir())  # drawing saves nothing
    for name, fig in figures.items():
        assert isinstance(fig, Figure)
        p = plots.save_figure(fig, tmp_path / name)
        assert p == tmp_path / name and p.read_bytes()[:8] == PNG and p.stat().st_size < 300_000
    assert plt.get_fignums() == before


def test_every_figure_draws_into_the_callers_axes(rng):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 10))
    top, bottom = fig.subfigures(2, 1)
    a, b, c = top.subplots(1, 3)
    history = {"loss": [2.3, 2.0, 1.8, 1.7], "train_acc": [0.2, 0.3], "val_acc": [0.1, 0.2]}
    assert plots.plot_training(history, ax=(a, b), title="mine") is fig.subfigs[0]
    assert a.get_title() == "mine" and b.lines
    assert plots.plot_weight_grid(rng.standard_normal((3072, 4)), ax=c) is fig.subfigs[0] and c.images
    y = np.arange(20) % 10
    pred = (y + 1) % 10
    grid = bottom.subplots(10, 2, squeeze=False)
    assert (
        plots.plot_misclassified(
            rng.integers(0, 256, (20, 3072)).astype(float), y, pred, CLASS_NAMES, per_class=2, ax=grid
        )
        is fig.subfigs[1]
    )
    assert all(ax.images for ax in grid[:, 0])
    with pytest.raises(DataError, match=r"\(10, 3\) array of Axes"):
        plots.plot_misclassified(np.zeros((20, 3072)), y, pred, CLASS_NAMES, per_class=3, ax=grid)


def test_confusion_plot_checks_the_matrix_against_the_names(tmp_path):
    with pytest.raises(DataError, match=r"shape \(10, 10\)"):
        plots.plot_confusion_matrix(np.zeros((3, 3), dtype=int), CLASS_NAMES)


# ----- autonet plot RUN_DIR -----


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("plotrun")
    make_fake_cifar(root / "data", n_per_batch=20, with_test=True)
    run = root / "run"
    assert (
        main(
            [
                "train",
                "--data-dir",
                str(root / "data"),
                "--out",
                str(run),
                "--hidden",
                "8",
                "--num-iters",
                "12",
                "--batch-size",
                "10",
                "--num-val",
                "10",
                "--quiet",
            ]
        )
        == 0
    )
    return run, root / "data"


def test_plot_command_regenerates_every_figure(fake_run, tmp_path, capsys):
    run, data = fake_run
    capsys.readouterr()
    assert main(["plot", str(run), "--data-dir", str(data), "--out", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    for name in ("training", "weights", "confusion", "misclassified"):
        assert (tmp_path / "figs" / f"{name}.png").read_bytes()[:8] == PNG
    val_acc = json.loads((run / "summary.json").read_text())["val_acc"]
    assert f"validation accuracy {val_acc:.4f} on 10 images" in out  # num_val read from config.json
    assert "skipped" not in out


def test_plot_command_without_data_makes_the_rest_and_says_what_it_skipped(fake_run, tmp_path, capsys, monkeypatch):
    run, _ = fake_run
    monkeypatch.delenv("AUTONET_DATA", raising=False)
    capsys.readouterr()
    assert main(["plot", str(run), "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "f")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "f" / "training.png").is_file() and (tmp_path / "f" / "weights.png").is_file()
    assert not (tmp_path / "f" / "confusion.png").exists()
    assert "skipped confusion.png, misclassified.png: no validation data" in out


def test_plot_command_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
