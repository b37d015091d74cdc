"""Saving and loading trained models as plain ``.npz`` files (no pickles).

A model file holds ``W1, b1, ..., WL, bL``, ``mean_image`` (D,),
``class_names`` (C,) unicode, ``layer_sizes`` (L+1,) int, ``dataset`` (the
name it was trained on, 0-d unicode), ``image_shape`` ((3,) int: H, W, C with
H*W*C = D, or (0,) when the inputs are not images), ``tta`` (0-d unicode, the
test-time augmentation its predictions use: ``none`` or ``flip``, see
:func:`autonet.net.scores`) and ``format_version``.
Files written before datasets other than CIFAR-10 existed lack ``dataset`` and
``image_shape``; they are CIFAR-10 models. ``activation`` (0-d unicode) names
the hidden nonlinearity; files without it are ReLU nets. It loads with
``allow_pickle=False``, so a crafted file cannot run code, and through
:func:`autonet.storage.safe_npz.read_npz`, so every member's shape is checked
against ``layer_sizes`` before it is inflated.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from autonet.errors import ConfigError, ModelFileError
from autonet.memory import MAX_LAYER_SIZE, check_fits, check_layer_count
from autonet.net import ACTIVATIONS, TTA_MODES, layer_sizes
from autonet.storage.files import atomic_savez
from autonet.storage.safe_npz import read_npz

FORMAT_VERSION = 1


@dataclass
class Model:
    """A trained network and what is needed to apply it to raw images."""

    params: dict
    mean_image: np.ndarray
    class_names: list[str]
    image_shape: tuple[int, int, int] | None = None  # (H, W, C) of the input rows, None: not images
    dataset: str = ""  # what it was trained on: cifar10, mnist, fashion-mnist or an .npz file name
    activation: str = "relu"  # the hidden nonlinearity (autonet.net.ACTIVATIONS)
    tta: str = "none"  # test-time augmentation of its predictions (autonet.net.TTA_MODES)

    @property
    def layer_sizes(self) -> list[int]:
        return layer_sizes(self.params)


def save_model(path: str | os.PathLike, model: Model) -> Path:
    """Write ``model`` to ``path`` atomically."""
    arrays = {**model.params, "mean_image": np.asarray(model.mean_image), "format_version": np.asarray(FORMAT_VERSION)}
    for k in ("class_names", "dataset", "activation", "tta"):
        arrays[k] = np.asarray(getattr(model, k), dtype=np.str_)
    arrays["layer_sizes"] = np.asarray(model.layer_sizes, dtype=np.int64)
    arrays["image_shape"] = np.asarray(model.image_shape or (), dtype=np.int64)
    return atomic_savez(path, **arrays)


# The largest model file read: a 3072-100000-10 float32 net is 1.2 GB.
MAX_MODEL_BYTES = 4 << 30
MAX_CLASS_NAME_BYTES = 4 * 256  # 256 characters of numpy unicode
# Beyond 2**24 a float32 input plus or minus the mean loses whole units: no real mean image is that large.
MAX_ABS_MEAN = float(2**24)
# A weight or bias beyond 1e6 is no trained net's (those measured hold weights below 0.05; folding batch
# norm in multiplies a weight by at most gamma/sqrt(1e-5), about 316 gamma); a 3e38 weight makes every
# float32 score inf/NaN and the accuracy meaningless.
MAX_ABS_PARAM = 1e6

_FIXED = {  # name: (ndim, dtype kinds)
    "format_version": (0, "iu"),
    "layer_sizes": (1, "iu"),
    "class_names": (1, "U"),
    "mean_image": (1, "iuf"),
}


# optional members describing the inputs, the net and its predictions
_DESCRIPTION = ("dataset", "image_shape", "activation", "tta")


def _param_names(names) -> list[str]:
    return [k for k in names if len(k) > 1 and k[0] in "Wb" and k[1:].isdigit()]


def _check_headers(path: Path, headers: dict, read) -> None:
    """Refuse a model whose arrays are not exactly what its ``layer_sizes`` needs, before inflating them."""
    if missing := [k for k in ("W1", "b1", *_FIXED) if k not in headers]:
        raise ModelFileError(f"{path}: missing arrays {missing}")
    for k, (ndim, kinds) in _FIXED.items():
        shape, dtype = headers[k]
        if dtype.kind not in kinds or len(shape) != ndim:
            raise ModelFileError(f"{path}: {k} is a {len(shape)}-D {dtype} array; expected {ndim}-D of kind {kinds!r}")
    if (width := headers["class_names"][1].itemsize) > MAX_CLASS_NAME_BYTES:
        raise ModelFileError(
            f"{path}: class names of up to {width // 4} characters; at most {MAX_CLASS_NAME_BYTES // 4} are allowed"
        )
    if (version := int(read("format_version"))) != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version}, expected {FORMAT_VERSION}")
    sizes = [int(s) for s in read("layer_sizes")]
    params = _param_names(headers)
    try:  # the rule that sized the training run: its layer count and sizes, then the memory its parameters need
        check_layer_count(len(sizes) - 2, "the model has")
        if len(sizes) < 2 or any(not 1 <= s <= MAX_LAYER_SIZE for s in sizes):
            raise ConfigError(f"layer_sizes {sizes} must be 2 or more integers in [1, {MAX_LAYER_SIZE}]")
        check_fits({"parameters": sum(math.prod(headers[k][0]) * headers[k][1].itemsize for k in params)}, "the model")
    except ConfigError as e:
        raise ModelFileError(f"{path}: {e}") from None
    if len(params) != 2 * (len(sizes) - 1):
        raise ModelFileError(f"{path}: {sum(k[0] == 'W' for k in params)} weight matrices but layer_sizes {sizes}")
    for i in range(1, len(sizes)):
        want, got = [(sizes[i - 1], sizes[i]), (sizes[i],)], [headers.get(f"{k}{i}", (None,))[0] for k in "Wb"]
        if got != want:
            raise ModelFileError(
                f"{path}: layer {i} expects W{i}{want[0]} and b{i}{want[1]}, got {got[0]} and {got[1]}"
            )
    if non_float := sorted({str(headers[k][1]) for k in params if headers[k][1].kind != "f"}):
        raise ModelFileError(f"{path}: parameters must be float arrays, got {non_float}")
    if headers["mean_image"][0] != (sizes[0],):
        raise ModelFileError(f"{path}: mean_image has shape {headers['mean_image'][0]}, expected ({sizes[0]},)")
    if headers["class_names"][0] != (sizes[-1],):
        raise ModelFileError(f"{path}: {headers['class_names'][0][0]} class names for {sizes[-1]} outputs")
    # _input_description and _text check the description's types; here only their size. Arrays a later
    # format may add (preprocessing, ...): numbers or text, no larger than a D x D matrix.
    limit = (sizes[0] + 1) * sizes[0] * 8
    for k in sorted(set(headers) - set(_FIXED) - set(params)):
        shape, dtype = headers[k]
        if k in _DESCRIPTION:
            if math.prod(shape) > 3 or dtype.itemsize > MAX_CLASS_NAME_BYTES:
                raise ModelFileError(f"{path}: {k} is {dtype}{list(shape)}; far larger than a {k} can be")
        elif dtype.kind not in "biufU" or math.prod(shape) * dtype.itemsize > limit:
            raise ModelFileError(
                f"{path}: unexpected array {k} ({dtype}{list(shape)}) in a model for {sizes[0]} inputs; refused"
            )


def _check_values(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Every float array finite, weights and biases within +-MAX_ABS_PARAM, the mean image in range; names the array."""
    for k, v in arrays.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            bad = np.flatnonzero(~np.isfinite(v.ravel()))
            raise ModelFileError(
                f"{path}: {k} holds NaN or infinite values ({bad.size} of {v.size}, first "
                f"{v.ravel()[bad[0]]} at flat index {bad[0]})"
            )
    for k in [*_param_names(arrays), "mean_image"]:  # float arrays (_check_headers)
        v = arrays[k].ravel()
        if v.size and np.abs(v).max() > (MAX_ABS_MEAN if k == "mean_image" else MAX_ABS_PARAM):
            i = int(np.abs(v).argmax())
            raise ModelFileError(
                f"{path}: mean_image holds {v[i]:.4g} at index {i}; a mean image must lie within +-2**24 = "
                f"{MAX_ABS_MEAN:.0f}"
                if k == "mean_image"
                else f"{path}: {k} holds {v[i]:.4g} at flat index {i}; a weight or bias must lie within "
                f"+-{MAX_ABS_PARAM:.0e} (a trained net's are far smaller; these would overflow the scores)"
            )


def load_model(path: str | os.PathLike) -> Model:
    """Read a model file, checking that its parts fit together.

    Every member's shape and dtype are checked against ``layer_sizes``
    before any array data is inflated (a zip bomb is refused unread), and
    every float array -- weights, biases, ``mean_image``, anything else --
    must be finite.

    Raises
    ------
    ModelFileError
        The file is missing or not a regular file, not an npz, corrupted, of
        another format version, its arrays disagree with ``layer_sizes``, or
        an array holds NaN/inf (or an impossible mean image, or a weight
        or bias beyond +-1e6); the message names the array.
    """
    path = Path(path)
    arrays = read_npz(
        path,
        "model file",
        max_bytes=MAX_MODEL_BYTES,
        check_headers=lambda headers, read: _check_headers(path, headers, read),
    )
    _check_values(path, arrays)
    image_shape, dataset = _input_description(path, arrays, int(arrays["layer_sizes"][0]))
    tta = _text(path, arrays, "tta", "none", TTA_MODES)
    if tta != "none" and image_shape is None:
        raise ModelFileError(
            f"{path}: tta {tta} mirrors images, but this model's inputs are not images (no image_shape)"
        )
    return Model(
        params={k: arrays[k] for k in _param_names(arrays)},
        mean_image=arrays["mean_image"],
        class_names=[str(c) for c in arrays["class_names"]],
        image_shape=image_shape,
        dataset=dataset,
        activation=_text(path, arrays, "activation", "relu", tuple(ACTIVATIONS)),
        tta=tta,
    )


def _text(path: Path, arrays: dict, key: str, default: str | None, choices: tuple[str, ...] = ()) -> str:
    """The text of the 0-d unicode member ``key`` (one of ``choices`` when given); ``default`` when it is absent.

    ``activation`` is ``relu`` and ``tta`` is ``none`` in a file written before they were recorded.
    """
    a = arrays.get(key)
    if a is None and default is not None:
        return default
    if a is None or a.dtype.kind != "U" or a.ndim != 0:
        raise ModelFileError(
            f"{path}: {key} must be a 0-d unicode array, got {None if a is None else f'{a.ndim}-D {a.dtype}'}"
        )
    if choices and str(a) not in choices:
        raise ModelFileError(f"{path}: {key} must be one of {', '.join(choices)}, got {str(a)[:40]!r}")
    return str(a)


def _input_description(path: Path, arrays: dict, D: int) -> tuple[tuple[int, int, int] | None, str]:
    """``image_shape`` and ``dataset`` of a model file; a file without them is a CIFAR-10 model."""
    if "dataset" not in arrays and "image_shape" not in arrays:
        from autonet.images import IMAGE_SHAPE

        return (IMAGE_SHAPE if D == math.prod(IMAGE_SHAPE) else None), "cifar10"
    dataset, shape = _text(path, arrays, "dataset", None), arrays.get("image_shape")
    if shape is None or shape.dtype.kind not in "iu" or shape.shape not in ((0,), (3,)):
        raise ModelFileError(
            f"{path}: image_shape must be 3 integers (H, W, C) or empty, got "
            f"{None if shape is None else f'{shape.dtype} of shape {shape.shape}'}"
        )
    image_shape = tuple(int(s) for s in shape)
    if image_shape and (min(image_shape) < 1 or math.prod(image_shape) != D):
        raise ModelFileError(f"{path}: image_shape {image_shape} does not hold the {D} inputs of the first layer")
    return cast("tuple[int, int, int]", image_shape) or None, dataset
