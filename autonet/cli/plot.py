"""``autonet plot``: regenerate a run directory's figures from its files.

From ``history.json``: ``training.png`` (loss and accuracy curves). From
``model.npz``: ``weights.png`` (first-layer weights as images, when the inputs
are images). With the validation split of the model's dataset as well:
``confusion.png`` and ``misclassified.png``. Figures whose inputs are missing are skipped, and the
command says which and why.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from autonet.cli.common import add_data_arguments, add_dataset_argument, positive_int
from autonet.errors import AutonetError, DataError


def register(sub) -> None:
    p = sub.add_parser("plot", help="regenerate a run's figures (curves, weights, confusion matrix)",
                       description="Redraw the figures of RUN_DIR from history.json and model.npz. The "
                                   "confusion matrix and misclassified examples need the validation split of "
                                   "the model's dataset (or --dataset): looked for in --data-dir, else the run's own data_dir "
                                   "(config.json), else $AUTONET_DATA, else the user cache (never "
                                   "downloaded here). --num-val defaults to the run's own value.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by autonet train")
    p.add_argument("--out", default=None, metavar="DIR", help="where to write the PNGs (default: RUN_DIR/plots)")
    p.add_argument("--dpi", type=positive_int, default=100, help="PNG resolution (default: %(default)s)")
    add_dataset_argument(p, "default: the dataset the model was trained on")
    add_data_arguments(p)
    p.set_defaults(func=main, num_val=None)


def _val_predictions(model, config: dict, args: argparse.Namespace):
    """Raw val rows, labels and the model's predictions; raises AutonetError when no data."""
    from autonet.data import load_dataset
    from autonet.net import predict

    dtype = model.params["W1"].dtype
    data_dir = args.data_dir or config.get("data_dir")
    num_val = args.num_val or config.get("num_val") or 1000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no test_batch": irrelevant for the val split
        data = load_dataset(args.dataset or model.dataset or "cifar10", data_dir, num_val=num_val, num_train=1,
                            dtype=dtype, subtract_mean=False, download=False, quiet=True)
    if data.X_val.shape[1] != model.layer_sizes[0]:
        raise DataError(f"model expects {model.layer_sizes[0]} inputs, data has {data.X_val.shape[1]}")
    return data.X_val, data.y_val, predict(model.params, data.X_val - model.mean_image.astype(dtype))


def _training_title(run: Path, config: dict, summary: dict) -> str:
    """The title ``autonet train`` gives the figure, when summary.json allows; else the run's name."""
    try:
        return (f"{summary['backend']} backend, layers {summary['layer_sizes']}, "
                f"val acc {summary['val_acc']:.3f}")
    except (KeyError, TypeError, ValueError):
        return f"{run.name}: {config.get('backend', 'unknown')} backend"


def main(args: argparse.Namespace) -> int:
    from autonet import plots
    from autonet.run import read_json
    from autonet.storage.models import load_model

    run = Path(args.run_dir)
    has_history, has_model = (run / "history.json").is_file(), (run / "model.npz").is_file()
    if not (has_history or has_model):
        raise DataError(f"{run}: not a run directory (neither history.json nor model.npz found)")
    out = Path(args.out) if args.out else run / "plots"
    config = read_json(run / "config.json") if (run / "config.json").is_file() else {}
    summary = read_json(run / "summary.json") if (run / "summary.json").is_file() else {}
    written, skipped = [], []

    if has_history:
        written.append(plots.plot_training(read_json(run / "history.json"), out / "training.png",
                                           title=_training_title(run, config, summary), dpi=args.dpi))
    else:
        skipped.append(("training.png", "no history.json"))

    model = load_model(run / "model.npz") if has_model else None
    if model is None:
        skipped.append(("weights.png, confusion.png, misclassified.png", "no model.npz"))
    elif model.image_shape is None or model.image_shape[2] not in (1, 3):
        skipped.append(("weights.png", f"inputs are not grey or colour images (D={model.layer_sizes[0]})"))
    else:
        written.append(plots.plot_weight_grid(model.params["W1"], out / "weights.png", dpi=args.dpi,
                                              image_shape=model.image_shape))
    if model is not None:
        try:
            X, y, pred = _val_predictions(model, config, args)
        except AutonetError as e:
            skipped.append(("confusion.png, misclassified.png", f"no validation data ({e})"))
        else:
            cm = plots.confusion_matrix(y, pred, len(model.class_names))
            written.append(plots.plot_confusion_matrix(cm, model.class_names, out / "confusion.png", dpi=args.dpi))
            if model.image_shape is not None and model.image_shape[2] in (1, 3):
                written.append(plots.plot_misclassified(X, y, pred, model.class_names, out / "misclassified.png",
                                                        dpi=args.dpi, image_shape=model.image_shape))
            else:
                skipped.append(("misclassified.png", "inputs are not images"))
            print(f"validation accuracy {(pred == y).mean():.4f} on {len(y)} images")

    for path in written:
        print(f"wrote {path}")
    for names, why in skipped:
        print(f"skipped {names}: {why}")
    return 0
