"""Saving and loading trained models as plain ``.npz`` files (no pickles).

A model file holds ``W1, b1, ..., WL, bL``, ``mean_image`` (D,),
``class_names`` (C,) unicode, ``layer_sizes`` (L+1,) int, ``dataset`` (the
name it was trained on, 0-d unicode), ``image_shape`` ((3,) int: H, W, C with
H*W*C = D, or (0,) when the inputs are not images) and ``format_version``.
Files written before datasets other than CIFAR-10 existed lack ``dataset`` and
``image_shape``; they are CIFAR-10 models. It loads with
``allow_pickle=False``, so a crafted file cannot run code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autonet.errors import ModelFileError
from autonet.storage.files import atomic_savez
from autonet.net import layer_sizes, num_layers

FORMAT_VERSION = 1


@dataclass
class Model:
    """A trained network and what is needed to apply it to raw images."""

    params: dict
    mean_image: np.ndarray
    class_names: list[str]
    image_shape: tuple[int, int, int] | None = None  # (H, W, C) of the input rows, None: not images
    dataset: str = ""  # what it was trained on: cifar10, mnist, fashion-mnist or an .npz file name

    @property
    def layer_sizes(self) -> list[int]:
        return layer_sizes(self.params)


def save_model(path: str | os.PathLike, model: Model) -> Path:
    """Write ``model`` to ``path`` atomically."""
    arrays = dict(model.params)
    arrays["mean_image"] = np.asarray(model.mean_image)
    arrays["class_names"] = np.asarray(model.class_names, dtype=np.str_)
    arrays["layer_sizes"] = np.asarray(model.layer_sizes, dtype=np.int64)
    arrays["image_shape"] = np.asarray(model.image_shape or (), dtype=np.int64)
    arrays["dataset"] = np.asarray(model.dataset, dtype=np.str_)
    arrays["format_version"] = np.asarray(FORMAT_VERSION)
    return atomic_savez(path, **arrays)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members / an empty zip


def read_npz(path: str | os.PathLike, what: str = "model file") -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` at ``path``, never unpickling anything.

    Raises
    ------
    ModelFileError
        Naming ``path`` and the problem: missing, not an npz archive, holds
        pickled (object) arrays, or damaged (bad CRC, truncated, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such {what}")
    with open(path, "rb") as f:
        if f.read(4) not in _ZIP_MAGIC:
            raise ModelFileError(f"{path}: not an autonet {what} (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e):
            raise ModelFileError(f"{path}: the {what} holds pickled objects; refused (autonet never unpickles "
                                 f"{what}s)") from None
        raise ModelFileError(f"{path}: corrupted {what} ({e})") from None
    except Exception as e:  # a damaged zip surfaces as many builtin types (BadZipFile, NotImplementedError, ...)
        raise ModelFileError(f"{path}: corrupted {what} ({type(e).__name__}: {e})") from None


def load_model(path: str | os.PathLike) -> Model:
    """Read a model file, checking that its parts fit together.

    Raises
    ------
    ModelFileError
        The file is missing, not an npz, corrupted, of another format
        version, or its arrays disagree with ``layer_sizes``.
    """
    path = Path(path)
    arrays = read_npz(path, "model file")
    missing = [k for k in ("W1", "b1", "mean_image", "class_names", "layer_sizes", "format_version")
               if k not in arrays]
    if missing:
        raise ModelFileError(f"{path}: missing arrays {missing}")
    for k, kinds, ndim in (("format_version", "iu", 0), ("layer_sizes", "iu", 1), ("class_names", "U", 1),
                           ("mean_image", "iuf", 1)):
        if arrays[k].dtype.kind not in kinds or arrays[k].ndim != ndim:
            raise ModelFileError(f"{path}: {k} is a {arrays[k].ndim}-D {arrays[k].dtype} array; "
                                 f"expected {ndim}-D of kind {kinds!r}")
    if int(arrays["format_version"]) != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {int(arrays['format_version'])}, expected {FORMAT_VERSION}")
    params = {k: v for k, v in arrays.items() if k[0] in "Wb" and k[1:].isdigit()}
    sizes = [int(s) for s in arrays["layer_sizes"]]
    L = num_layers(params)
    if L != len(sizes) - 1:
        raise ModelFileError(f"{path}: {L} weight matrices but layer_sizes {sizes}")
    for i in range(1, L + 1):
        want_w, want_b = (sizes[i - 1], sizes[i]), (sizes[i],)
        w, b = params.get(f"W{i}"), params.get(f"b{i}")
        if w is None or b is None or w.shape != want_w or b.shape != want_b:
            raise ModelFileError(
                f"{path}: layer {i} expects W{i}{want_w} and b{i}{want_b}, "
                f"got {None if w is None else w.shape} and {None if b is None else b.shape}")
    if arrays["mean_image"].shape != (sizes[0],):
        raise ModelFileError(f"{path}: mean_image has shape {arrays['mean_image'].shape}, expected ({sizes[0]},)")
    if arrays["class_names"].shape != (sizes[-1],):
        raise ModelFileError(f"{path}: {arrays['class_names'].shape[0]} class names for {sizes[-1]} outputs")
    if any(v.dtype.kind != "f" for v in params.values()):
        raise ModelFileError(f"{path}: parameters must be float arrays, got "
                             f"{sorted({str(v.dtype) for v in params.values()})}")
    if not all(np.isfinite(v).all() for v in params.values()):
        raise ModelFileError(f"{path}: parameters contain NaN or infinite values")
    image_shape, dataset = _input_description(path, arrays, sizes[0])
    return Model(params=params, mean_image=arrays["mean_image"], class_names=[str(c) for c in arrays["class_names"]],
                 image_shape=image_shape, dataset=dataset)


def _input_description(path: Path, arrays: dict, D: int) -> tuple[tuple[int, int, int] | None, str]:
    """``image_shape`` and ``dataset`` of a model file; a file without them is a CIFAR-10 model."""
    if "dataset" not in arrays and "image_shape" not in arrays:
        from autonet.data.cifar10_format import IMAGE_SHAPE

        return (IMAGE_SHAPE if D == int(np.prod(IMAGE_SHAPE)) else None), "cifar10"
    dataset, shape = arrays.get("dataset"), arrays.get("image_shape")
    if dataset is None or dataset.dtype.kind != "U" or dataset.ndim != 0:
        raise ModelFileError(f"{path}: dataset must be a 0-d unicode array, got "
                             f"{None if dataset is None else f'{dataset.ndim}-D {dataset.dtype}'}")
    if shape is None or shape.dtype.kind not in "iu" or shape.shape not in ((0,), (3,)):
        raise ModelFileError(f"{path}: image_shape must be 3 integers (H, W, C) or empty, got "
                             f"{None if shape is None else f'{shape.dtype} of shape {shape.shape}'}")
    if shape.size and (shape.min() < 1 or int(np.prod(shape)) != D):
        raise ModelFileError(f"{path}: image_shape {tuple(int(s) for s in shape)} does not hold the "
                             f"{D} inputs of the first layer")
    return (tuple(int(s) for s in shape) if shape.size else None), str(dataset)
