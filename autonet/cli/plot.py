"""``autonet plot``: regenerate a run directory's figures from its files.

From ``history.json``: ``training.png`` (loss and accuracy curves). From
``model.npz``: ``weights.png`` (first-layer weights as images, when the inputs
are images). With the validation split of the model's dataset as well:
``confusion.png`` and ``misclassified.png``. Figures whose inputs are missing are skipped, and the
command says which and why.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autonet.cli.common import ClassMismatch, add_data_arguments, model_split, positive_int_at_most
from autonet.errors import AutonetError, DataError
from autonet.plots import MAX_DPI
from autonet.run import make_dir, read_json_object

MAX_JSON_BYTES = 256 * 2**20  # a million-iteration history is about 20 MB
RUN_FILES = ("config.json", "summary.json", "history.json")  # what the figures are drawn from, besides the model


def read_run_json(path: Path) -> dict:
    """A run file (history, config, summary) as a dict; :class:`DataError` in one line otherwise."""
    return read_json_object(path, "run file", DataError, MAX_JSON_BYTES)


def register(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="regenerate a run's figures (curves, weights, confusion matrix)",
        description="Redraw the figures of RUN_DIR from history.json and model.npz. The "
        "confusion matrix and misclassified examples need the validation split of "
        "the model's dataset (or --dataset): looked for in --data-dir, else the run's own data_dir "
        "(config.json), else $AUTONET_DATA, else the user cache (never "
        "downloaded here). --num-val defaults to the run's own value.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by autonet train")
    p.add_argument("--out", metavar="DIR", help="where to write the PNGs (default: RUN_DIR/plots)")
    p.add_argument(
        "--dpi",
        type=positive_int_at_most(MAX_DPI),
        default=100,
        help=f"PNG resolution, 1 to {MAX_DPI} (default: %(default)s)",
    )
    add_data_arguments(p, num_val_default="the run's own, from its config.json")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from autonet import plots
    from autonet.net import predict
    from autonet.storage.files import refuse_links
    from autonet.storage.models import load_model

    run = Path(args.run_dir)
    has_history, has_model = (run / "history.json").is_file(), (run / "model.npz").is_file()
    if not (has_history or has_model):
        raise DataError(f"{run}: not a run directory (neither history.json nor model.npz found)")
    if not args.out:  # the run's own folder: a link planted there would send the PNGs elsewhere
        refuse_links(run / "plots")
    out = Path(args.out) if args.out else run / "plots"
    make_dir(out, "figures")  # refuses a file, a device or a path below a file
    config, summary, history = (read_run_json(run / n) if (run / n).is_file() else {} for n in RUN_FILES)
    written, skipped = [], []

    def save(fig, name: str) -> None:
        written.append(plots.save_figure(fig, out / name, dpi=args.dpi))

    if has_history:
        try:
            plots.check_history(history)
        except DataError as e:
            raise DataError(f"{run / 'history.json'}: {e}") from None
        title = f"{run.name}: {config.get('backend', 'unknown')} backend"
        save(plots.plot_run(history, summary, untitled=title), "training.png")
    else:
        skipped.append(("training.png", "no history.json"))
    model = load_model(run / "model.npz") if has_model else None
    images = model is not None and model.image_shape is not None and model.image_shape[2] in (1, 3)
    if model is None:
        skipped.append(("weights.png, confusion.png, misclassified.png", "no model.npz"))
    elif not images:
        skipped.append(("weights.png", f"inputs are not grey or colour images (D={model.layer_sizes[0]})"))
    else:
        save(plots.plot_weight_grid(model.params["W1"], image_shape=model.image_shape), "weights.png")
    if model is not None:
        try:
            _, _, X, y = model_split(args, model, config, download=False, quiet=True)
        except ClassMismatch:
            raise
        except AutonetError as e:
            skipped.append(("confusion.png, misclassified.png", f"no validation data ({e})"))
        else:
            shown: dict = {"activation": model.activation, "tta": model.tta, "image_shape": model.image_shape}
            pred = predict(model.params, X - model.mean_image.astype(X.dtype), **shown)
            cm = plots.confusion_matrix(y, pred, len(model.class_names))
            save(plots.plot_confusion_matrix(cm, model.class_names), "confusion.png")
            if images:
                fig = plots.plot_misclassified(X, y, pred, model.class_names, image_shape=model.image_shape)
                save(fig, "misclassified.png")
            else:
                skipped.append(("misclassified.png", "inputs are not images"))
            print(f"validation accuracy {(pred == y).mean():.4f} on {len(y)} images")
    for path in written:
        print(f"wrote {path}")
    for names, why in skipped:
        print(f"skipped {names}: {why}")
    return 0
