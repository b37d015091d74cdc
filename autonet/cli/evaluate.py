"""``autonet evaluate``: accuracy of a saved model on the val or test split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from autonet.cli.common import add_data_arguments, model_split, read_config_file
from autonet.errors import DataError
from autonet.net import TTA_MODES, accuracy
from autonet.storage.models import load_model


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="report a saved model's accuracy",
        description="Accuracy of MODEL.npz on the validation or test split of the dataset "
        "it was trained on (or --dataset). Unless flags say otherwise, the run's config.json beside "
        "the model gives the dataset, the data folder and --num-val, so the validation split is the "
        "rows the run itself was scored on. The model's own mean image is subtracted "
        "from the raw rows; a model saved with test-time augmentation (tta flip) "
        "averages the scores of each image and its mirror, as in training.",
    )
    p.add_argument("model", metavar="MODEL.npz", help="a model.npz written by autonet train")
    p.add_argument("--split", choices=("val", "test"), default="val", help="(default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--tta",
        choices=TTA_MODES,
        help="score with this test-time augmentation instead of the model's own, to compare both "
        "ways without retraining (default: the one recorded in the model)",
    )
    add_data_arguments(p, num_val_default="the run's own, from the config.json beside the model")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    run_config = Path(args.model).parent / "config.json"  # the run's, beside its model: its data and split
    config = read_config_file(run_config) if run_config.is_file() else {}
    data, source, X, y = model_split(args, model, config, args.split, quiet=args.quiet)
    if len(y) == 0:
        raise DataError(f"the {args.split} split of {source} is empty: no accuracy to report")
    X = X - model.mean_image.astype(X.dtype)
    mode = model.tta if args.tta is None else args.tta
    acc = accuracy(model.params, X, y, activation=model.activation, tta=mode, image_shape=model.image_shape)
    rows = f"the last {len(y)} training rows" if args.split == "val" else "the test split"
    where = f"{rows} of {data.name or source} in {data.data_dir}"
    result = dict(model=str(args.model), split=args.split, n=int(len(y)), accuracy=acc, tta=mode, rows=where)
    if args.json:
        print(json.dumps(result))
    else:
        tta = "" if mode == "none" else f", tta {mode}"
        print(f"{args.split} accuracy {acc:.4f} on {len(y)} images: {where} ({args.model}{tta})")
    return 0
