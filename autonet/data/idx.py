"""MNIST and Fashion-MNIST: the official gzip IDX files, downloaded, verified and parsed without pickle.

The IDX format (LeCun et al., the MNIST page) is a plain binary array:

- 4 magic bytes ``0x00 0x00 T n``: two zero bytes, the element type ``T``
  (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16, ``0x0C`` int32, ``0x0D`` float32,
  ``0x0E`` float64) and the number of dimensions ``n``;
- ``n`` big-endian uint32 sizes;
- ``prod(sizes)`` big-endian elements, row-major, and nothing after them.

MNIST's images are ``0x00000803`` (uint8, 3-D: N x 28 x 28), its labels
``0x00000801`` (uint8, 1-D: N). :func:`read_idx` checks the magic number
against the one expected, the sizes against the bytes actually in the
(decompressed) file -- neither fewer (truncated) nor more (trailing data) --
and refuses a header that declares more than ``max_bytes`` of data *before*
reading it, so a hostile header or a gzip bomb cannot exhaust memory.

Files are fetched with the CIFAR-10 machinery (:mod:`autonet.data.download`):
streamed to a temporary file, md5-checked against the checksum in this
module, and renamed into place only when they match.
"""

from __future__ import annotations

import gzip
import os
import shlex
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np

from autonet.data import download as fetch
from autonet.data.dataset import Dataset, check_inflation, split_dataset
from autonet.errors import DataError
from autonet.storage.files import open_regular_file

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGES_MAGIC = 0x00000803  # uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # uint8, 1 dimension
MAX_DIMS = 8
MAX_IDX_BYTES = 1 << 30  # 1 GiB of data per file; MNIST's largest holds 47 MB


@dataclass(frozen=True)
class IdxSource:
    """Where an IDX dataset lives and what its files must hash to.

    ``files`` maps a role (``train_images``, ``train_labels``, ``test_images``,
    ``test_labels``) to ``(file name, md5 hex digest)``; the URL of a file is
    ``base_url + file name``.
    """

    name: str
    base_url: str
    files: dict[str, tuple[str, str]]
    class_names: tuple[str, ...]
    image_shape: tuple[int, int, int] = (28, 28, 1)


# The official file names and md5 digests (as published with each dataset and listed by torchvision).
# yann.lecun.com refuses scripted downloads, so MNIST comes from the mirror torchvision uses.
IDX_SOURCES: dict[str, IdxSource] = {
    "mnist": IdxSource(
        "mnist",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {
            "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        },
        tuple(str(d) for d in range(10)),
    ),
    "fashion-mnist": IdxSource(
        "fashion-mnist",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {
            "train_images": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            "train_labels": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            "test_images": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            "test_labels": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        },
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
}


MAX_IDX_DOWNLOAD_BYTES = 64 << 20  # the largest official IDX file (Fashion-MNIST training images) is 26 MB


# ----- the format -----


def read_idx(path: str | os.PathLike, magic: int | None = None, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Parse one IDX file (gzip-compressed or plain) into a native-endian array.

    Parameters
    ----------
    path : the file
    magic : the magic number the file must have (e.g. :data:`IMAGES_MAGIC`), or None for any valid one
    max_bytes : refuse a header declaring more data than this (checked before reading the data)

    Returns
    -------
    np.ndarray of the declared shape and element type

    Raises
    ------
    DataError
        Naming the file and the problem: bad gzip stream, wrong or invalid magic
        number, too many dimensions, data larger than ``max_bytes``, truncated
        data, or bytes after the declared data.
    """
    path = Path(path)
    # a regular file only (a FIFO would block forever); gzip adds at most ~0.1% to incompressible data
    with open_regular_file(path, 2 * max_bytes + (1 << 20), "IDX file", DataError) as raw:
        try:
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stored = os.fstat(raw.fileno()).st_size
            with gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw as f:
                return _parse(cast(BinaryIO, f), path, magic, max_bytes, stored, compressed)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise DataError(f"{path}: not a readable IDX file ({type(exc).__name__}: {exc})") from None


def _parse(f: BinaryIO, path: Path, magic: int | None, max_bytes: int, stored: int, compressed: bool) -> np.ndarray:
    head = f.read(4)
    if len(head) < 4:
        raise DataError(f"{path}: truncated IDX file: {len(head)} bytes, not even the 4-byte magic number")
    found = struct.unpack(">I", head)[0]
    if magic is not None and found != magic:
        raise DataError(f"{path}: wrong magic number 0x{found:08x}, expected 0x{magic:08x}")
    zero, type_code, ndim = head[:2], head[2], head[3]
    if zero != b"\0\0" or type_code not in IDX_TYPES or not 1 <= ndim <= MAX_DIMS:
        raise DataError(f"{path}: invalid magic number 0x{found:08x} (not an IDX header)")
    dims_bytes = f.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header: {ndim} dimensions declared, {len(dims_bytes) // 4} present")
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    dtype = IDX_TYPES[type_code]
    nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize  # Python ints: no overflow
    if nbytes > max_bytes:
        raise DataError(
            f"{path}: the header declares shape {shape} = {nbytes} bytes of data, more than the limit of {max_bytes}"
        )
    # what the header declares is checked against the file before a byte of data is read or allocated
    if compressed:
        check_inflation(path, nbytes, stored, f"the header's shape {shape}", "decompress it with gunzip and use that")
    elif stored < 4 + 4 * ndim + nbytes:
        stored = max(stored - 4 - 4 * ndim, 0)
        raise DataError(
            f"{path}: truncated IDX file: shape {shape} needs {nbytes} bytes of data, the file holds {stored}"
        )
    data = f.read(nbytes)
    if len(data) < nbytes:
        raise DataError(
            f"{path}: truncated IDX file: shape {shape} needs {nbytes} bytes of data, the file holds {len(data)}"
        )
    if f.read(1):
        raise DataError(f"{path}: bytes after the {nbytes} bytes of data that shape {shape} declares")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool = True) -> None:
    """Write ``array`` as an IDX file (gzip-compressed by default): the inverse of :func:`read_idx`."""
    codes = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}
    array = np.asarray(array)
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None or not 1 <= array.ndim <= MAX_DIMS:
        raise DataError(f"IDX cannot hold a {array.ndim}-D {array.dtype} array")
    payload = (
        bytes([0, 0, code, array.ndim])
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(IDX_TYPES[code]).tobytes()
    )
    with gzip.open(path, "wb") if compress else open(path, "wb") as f:
        f.write(payload)


# ----- finding and downloading -----


def locate_idx(
    name: str, data_dir: str | os.PathLike | None = None, download: bool | None = None, quiet: bool = False
) -> Path:
    """The folder holding dataset ``name``'s four files: ``<place>/<name>``, downloaded there if missing.

    ``<place>`` is chosen as for CIFAR-10 (:func:`autonet.data.locate_cifar10`): the
    ``data_dir`` argument, else ``$AUTONET_DATA``, else the per-user cache; as
    there, ``download=None`` downloads only into the per-user cache.

    Each missing file ``base_url + name`` is streamed to a temporary file in
    the folder and renamed to its name only when its md5 matches; files
    already present are not fetched again.

    Raises
    ------
    DataError
        Files missing and no download allowed (naming them and the command that gets them).
    DownloadError
        Network or HTTP failure, or an md5 mismatch (naming the file, the
        expected and the received digest); nothing partial is left behind.
    """
    source = _source(name)
    place, why, may_download = fetch.chosen_place(data_dir, download)
    folder = place / source.name
    # only an absent name is missing: a FIFO, folder or device there is named as such when it is read
    missing = {f: md5 for f, md5 in source.files.values() if not os.path.lexists(folder / f)}
    if missing and not may_download:
        raise DataError(
            f"{source.name} not found: {folder} (chosen by {why}) lacks {', '.join(missing)}; "
            f"get them with: autonet download --dataset {source.name} {shlex.quote(str(place))}"
        )
    with fetch.new_folders_removed_unless_filled(folder):
        for filename, md5 in missing.items():
            part, url = folder / f".{filename}.{os.getpid()}.part", source.base_url + filename
            limits = dict(timeout=fetch.DEFAULT_TIMEOUT, max_bytes=MAX_IDX_DOWNLOAD_BYTES)
            fetch.fetch_verified(url, part, md5, "file; it was not kept", quiet, **limits)
            os.replace(part, folder / filename)
    return folder


def _source(name: str) -> IdxSource:
    try:
        return IDX_SOURCES[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown IDX dataset {name!r}; choose one of: {', '.join(IDX_SOURCES)}") from None


# ----- loading -----


def load_idx_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    num_val: int = 1000,
    num_train: int | None = None,
    dtype: Any = np.float32,
    subtract_mean: bool = True,
    download: bool | None = None,
    quiet: bool = False,
) -> Dataset:
    """Load MNIST or Fashion-MNIST as flat rows, split as :func:`autonet.data.load_cifar10` splits CIFAR-10.

    Rows are the 28x28 images flattened row-major (784 values on the 0..255
    scale, mean-subtracted when ``subtract_mean``); ``image_shape`` is
    ``(28, 28, 1)``. The validation split is the last ``num_val`` of the
    60,000 training images; the test split is the 10,000 ``t10k`` images.

    Raises
    ------
    DataError
        A file is missing (with ``download=False``), malformed or inconsistent
        (image and label counts differ, labels outside [0, 10), images not 28x28).
    DownloadError
        A download was needed and failed or did not match its md5.
    ConfigError
        ``num_val``, ``num_train`` or ``dtype`` is invalid.
    """
    source = _source(name)
    folder = locate_idx(name, data_dir, download=download, quiet=quiet)
    splits = {}
    for part in ("train", "test"):
        images_file, labels_file = (folder / source.files[f"{part}_{kind}"][0] for kind in ("images", "labels"))
        images = read_idx(images_file, IMAGES_MAGIC)
        labels = read_idx(labels_file, LABELS_MAGIC)
        H, W, _ = source.image_shape
        if images.shape[1:] != (H, W):
            raise DataError(f"{images_file}: images are {images.shape[1]}x{images.shape[2]}, expected {H}x{W}")
        if len(labels) != len(images):
            raise DataError(f"{labels_file}: {len(labels)} labels for the {len(images)} images of {images_file.name}")
        if labels.size and labels.max() >= len(source.class_names):
            raise DataError(f"{labels_file}: label {labels.max()} outside [0, {len(source.class_names)})")
        splits[part] = (images.reshape(len(images), H * W), labels)
    (X, y), (X_test, y_test) = splits["train"], splits["test"]
    split = dict(num_val=num_val, num_train=num_train, dtype=dtype, subtract_mean=subtract_mean)
    names = list(source.class_names)
    return split_dataset(X, y, X_test, y_test, names, folder, source.image_shape, source.name, **split)
