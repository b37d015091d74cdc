"""CIFAR-10: locate, download and verify, safely unpickle, split, preprocess.

Typical use::

    from autonet.data import load_cifar10
    data = load_cifar10()            # 49,000 train / 1,000 val, float32, mean-subtracted
    data.X_train.shape               # (49000, 3072)
    data.X_train.reshape(-1, 32, 32, 3)   # images, height x width x channel

Where the data comes from (first match wins):

1. the ``data_dir`` argument,
2. the environment variable ``AUTONET_DATA``,
3. :func:`default_cache_dir` (``$XDG_CACHE_HOME/autonet`` or ``~/.cache/autonet``).

The chosen folder may either *be* a ``cifar-10-batches-py`` folder or *contain*
one. When it holds neither and downloading is allowed, the official archive is
downloaded into it, its md5 checked, and it is extracted safely.

Rows of every ``X`` are flattened in height-width-channel (HWC) order, as in
cs231n, so ``X.reshape(-1, 32, 32, 3)`` yields images. The official batches
store channel planes (CHW); :func:`load_batch` returns that raw order.

The batches are Python pickles. They are loaded through an unpickler that
admits only the few globals that numpy array reconstruction needs, so a
tampered file raises :class:`~autonet.errors.DataError` instead of running code.
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import os
import pickle
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Iterable

import numpy as np

from autonet.errors import ConfigError, DataError, DownloadError

__all__ = [
    "BATCH_DIR",
    "CIFAR10",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "CLASS_COUNT",
    "IMAGE_SHAPE",
    "IMAGE_SIZE",
    "default_cache_dir",
    "download_cifar10",
    "load_batch",
    "load_cifar10",
    "locate_cifar10",
    "to_images",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCH_DIR = "cifar-10-batches-py"

IMAGE_SHAPE = (32, 32, 3)  # height, width, channel
IMAGE_SIZE = 32 * 32 * 3
CLASS_COUNT = 10
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
ENV_VAR = "AUTONET_DATA"

_CHUNK = 1 << 20  # download read size, bytes


@dataclass
class CIFAR10:
    """CIFAR-10 split into train / validation / (optional) test.

    Rows of every ``X`` are flattened images in HWC order, so
    ``X.reshape(-1, 32, 32, 3)`` gives ``(N, height, width, channel)``.

    Attributes
    ----------
    X_train : np.ndarray, shape (N_train, 3072)
        Training images, in the requested float dtype; mean-subtracted when
        loaded with ``subtract_mean=True``.
    y_train : np.ndarray of int64, shape (N_train,)
        Labels in ``[0, 10)``.
    X_val, y_val : np.ndarray, shapes (N_val, 3072) and (N_val,)
        Validation split: the last ``num_val`` of the 50,000 training-batch images.
    X_test, y_test : np.ndarray or None, shapes (N_test, 3072) and (N_test,)
        ``test_batch`` when the folder has it, else ``None``.
    mean_image : np.ndarray, shape (3072,)
        Mean of the training split only (same dtype as ``X_train``); add it
        back to undo the subtraction.
    class_names : list of str
        ``label_names`` from ``batches.meta``; ``class_names[y]`` names label ``y``.
    data_dir : Path
        The ``cifar-10-batches-py`` folder the data was read from.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray | None
    y_test: np.ndarray | None
    mean_image: np.ndarray
    class_names: list[str]
    data_dir: Path


# --------------------------------------------------------------------------- #
# Locating the data
# --------------------------------------------------------------------------- #


def default_cache_dir() -> Path:
    """Return the per-user cache folder: ``$XDG_CACHE_HOME/autonet`` or ``~/.cache/autonet``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG spec requires.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "autonet"
    return Path.home() / ".cache" / "autonet"


def _chosen_place(data_dir: str | os.PathLike | None) -> tuple[Path, str]:
    """The one folder to use and a phrase saying why it was chosen."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument"
    env = os.environ.get(ENV_VAR, "")
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return default_cache_dir(), "the default cache folder"


def _is_batch_dir(folder: Path) -> bool:
    """True if ``folder`` itself holds CIFAR-10 batch files."""
    names = (*TRAIN_BATCHES, TEST_BATCH, META_FILE)
    return folder.is_dir() and any((folder / name).is_file() for name in names)


def locate_cifar10(
    data_dir: str | os.PathLike | None = None, download: bool = True, quiet: bool = False
) -> Path:
    """Find (or download) the ``cifar-10-batches-py`` folder.

    The folder looked in is ``data_dir`` if given, else ``$AUTONET_DATA`` if
    set, else :func:`default_cache_dir` -- only that one; a later candidate is
    never used as a fallback for an earlier one. It may either be a
    ``cifar-10-batches-py`` folder or contain one.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder that is or contains ``cifar-10-batches-py``.
    download : bool
        If the folder holds no data, download the official archive into it.
    quiet : bool
        Suppress the download message and progress bar.

    Returns
    -------
    Path
        The ``cifar-10-batches-py`` folder. Its contents are checked only when
        loaded.

    Raises
    ------
    DataError
        No data found and ``download`` is False; the message names every path
        looked in.
    DownloadError
        Downloading was needed and failed.
    """
    place, why = _chosen_place(data_dir)
    if _is_batch_dir(place):
        return place
    inner = place / BATCH_DIR
    if inner.is_dir():
        return inner
    if download:
        # Module globals looked up at call time, so tests can point them at a local server.
        return download_cifar10(place, url=CIFAR10_URL, md5=CIFAR10_MD5, quiet=quiet)
    raise DataError(
        f"CIFAR-10 not found. Looked in {place} (chosen by {why}) and {inner}; "
        f"neither holds the batch files. Pass data_dir=, set ${ENV_VAR}, or allow "
        f"download=True to fetch {CIFAR10_URL}."
    )


# --------------------------------------------------------------------------- #
# Downloading
# --------------------------------------------------------------------------- #


def download_cifar10(
    target_dir: str | os.PathLike,
    url: str = CIFAR10_URL,
    md5: str = CIFAR10_MD5,
    quiet: bool = False,
    timeout: float = 60,
) -> Path:
    """Download the CIFAR-10 python archive, verify it, extract it into ``target_dir``.

    The archive is streamed to a temporary file inside ``target_dir``, its md5
    is checked *before* it is opened, every member is checked for path safety,
    and it is extracted into a temporary folder that is renamed into place only
    when complete. The archive itself is not kept.

    Parameters
    ----------
    target_dir : path-like
        Folder to put ``cifar-10-batches-py`` in (created if needed).
    url : str
        Archive URL.
    md5 : str
        Expected md5 hex digest of the archive.
    quiet : bool
        No message, no progress bar (the bar is also off when stderr is not a TTY).
    timeout : float
        Socket timeout in seconds.

    Returns
    -------
    Path
        ``target_dir / "cifar-10-batches-py"``. If it already exists nothing
        is downloaded.

    Raises
    ------
    DownloadError
        Network or HTTP failure, md5 mismatch, unreadable or unsafe archive,
        archive without the expected files. No partial files are left behind,
        and folders this call created are removed again.
    """
    target = Path(target_dir).expanduser()
    final = target / BATCH_DIR
    if final.is_dir():
        return final
    created = _missing_ancestors(target)
    tmp_archive: Path | None = None
    tmp_extract: Path | None = None
    try:
        try:
            target.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=target, prefix=".cifar-10-python.", suffix=".part")
        except OSError as exc:
            raise DownloadError(f"cannot write to download folder {target}: {exc}") from exc
        tmp_archive = Path(name)
        if not quiet:
            print(f"Downloading CIFAR-10 from {url} to {target}", file=sys.stderr)
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, timeout=timeout, quiet=quiet)
        if digest.lower() != md5.lower():
            raise DownloadError(
                f"md5 mismatch for {url}: expected {md5.lower()}, got {digest}. "
                "The download is corrupt or not the official archive; nothing was extracted."
            )
        tmp_extract = Path(tempfile.mkdtemp(dir=target, prefix=".cifar-10-extract."))
        _safe_extract(tmp_archive, tmp_extract, url)
        _rename_into_place(tmp_extract / BATCH_DIR, final)
        return final
    finally:
        # Runs on success, on errors and on Ctrl-C alike.
        _cleanup(tmp_archive, tmp_extract)
        if not final.is_dir():
            _remove_empty(created)


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    return missing


def _remove_empty(folders: Iterable[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _cleanup(tmp_archive: Path | None, tmp_extract: Path | None) -> None:
    if tmp_archive is not None:
        tmp_archive.unlink(missing_ok=True)
    if tmp_extract is not None:
        shutil.rmtree(tmp_extract, ignore_errors=True)


def _fetch(url: str, out: BinaryIO, timeout: float, quiet: bool) -> str:
    """Stream ``url`` into ``out``; return the md5 hex digest of what was read."""
    from tqdm import tqdm

    digest = hashlib.md5()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            show = not quiet and sys.stderr.isatty()
            with tqdm(total=total, unit="B", unit_scale=True, disable=not show,
                      desc="cifar-10-python.tar.gz", file=sys.stderr) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise DownloadError(f"download of {url} failed: {exc.reason}") from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:  # timeouts, resets, bad URL
        raise DownloadError(f"download of {url} failed: {type(exc).__name__}: {exc}") from exc
    if total is not None and received != total:
        raise DownloadError(f"download of {url} incomplete: got {received} of {total} bytes")
    return digest.hexdigest()


def _safe_extract(archive: Path, dest: Path, url: str) -> None:
    """Extract the checked archive into ``dest`` after vetting every member."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member)
            _check_complete(members)
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
                tar.extractall(dest, members=members, filter="data")
            else:
                tar.extractall(dest, members=members)
    except DownloadError:
        raise
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise DownloadError(
            f"cannot extract archive from {url}: {type(exc).__name__}: {exc}"
        ) from exc


def _check_member(member: tarfile.TarInfo) -> None:
    """Refuse anything but plain files and folders strictly under ``cifar-10-batches-py/``."""
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")):
        raise DownloadError(f"unsafe archive: absolute path {name!r}")
    if ".." in parts or "\\" in name:
        raise DownloadError(f"unsafe archive: path {name!r} escapes the target folder")
    if not (member.isfile() or member.isdir()):
        raise DownloadError(f"unsafe archive: {name!r} is a link, device or other special file")
    if not parts or parts[0] != BATCH_DIR:
        raise DownloadError(
            f"unexpected archive member {name!r}: everything must be under {BATCH_DIR}/"
        )


def _check_complete(members: list[tarfile.TarInfo]) -> None:
    names = {str(PurePosixPath(m.name)) for m in members if m.isfile()}
    missing = [n for n in (*TRAIN_BATCHES, META_FILE) if f"{BATCH_DIR}/{n}" not in names]
    if missing:
        raise DownloadError(f"archive is missing {', '.join(f'{BATCH_DIR}/{n}' for n in missing)}")


def _rename_into_place(src: Path, final: Path) -> None:
    try:
        os.rename(src, final)
    except OSError as exc:
        # Another process may have finished the same download first: keep theirs.
        if not final.is_dir():
            raise DownloadError(f"cannot move extracted data to {final}: {exc}") from exc


# --------------------------------------------------------------------------- #
# Safe unpickling and batch validation
# --------------------------------------------------------------------------- #


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` restricted to latin-1 text -> bytes.

    Python 3 writes ``bytes`` in protocol-2 pickles as
    ``_codecs.encode(text, "latin1")``; no other use is admitted.
    """
    latin1 = codecs.lookup(encoding).name == "iso8859-1"
    if not isinstance(text, str) or not latin1 or errors != "strict":
        raise pickle.UnpicklingError(
            f"refused _codecs.encode({type(text).__name__}, {encoding!r}, {errors!r})"
        )
    return text.encode("latin-1")


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], Any] = {}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        # Protocol-5 pickles rebuild arrays from a buffer instead.
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("_codecs", "encode")] = _latin1_encode
    return allowed


_ALLOWED_GLOBALS = _numpy_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals numpy array reconstruction needs.

    Objects are returned from a fixed table rather than imported, so naming a
    module in a pickle can never import or run anything.
    """

    def __init__(self, file: BinaryIO, path: Path) -> None:
        # latin1 is numpy's documented choice for Python 2 pickles: raw array
        # bytes survive unchanged; byte-string keys become str.
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.path}: refused to unpickle global {module}.{name}; a CIFAR-10 batch "
                "only contains numpy arrays, lists and strings (file corrupt or malicious?)"
            ) from None


def _unpickle(path: Path) -> Any:
    """Load one pickle file through :class:`_RestrictedUnpickler`."""
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, path).load()
    except DataError:
        raise
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file is missing") from exc
    except EOFError as exc:
        raise DataError(f"{path}: file is truncated or empty (pickle ended early)") from exc
    except pickle.UnpicklingError as exc:
        raise DataError(f"{path}: not a valid pickle (truncated or corrupt): {exc}") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read file: {exc}") from exc
    except Exception as exc:  # malformed opcodes surface as many builtin types
        raise DataError(f"{path}: corrupt pickle: {type(exc).__name__}: {exc}") from exc


def _normalise_keys(obj: Any, path: Path) -> dict[str, Any]:
    """Python 2 pickles have byte-string keys, Python 3 ones str keys: return str keys."""
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, found {type(obj).__name__}")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _check_pixels(data: Any, path: Path) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path}: 'data' should be a numpy array, found {type(data).__name__}")
    if data.ndim != 2 or data.shape[1] != IMAGE_SIZE:
        raise DataError(f"{path}: 'data' should have shape (N, {IMAGE_SIZE}), found {data.shape}")
    if data.shape[0] == 0:
        raise DataError(f"{path}: 'data' holds no images")
    if data.dtype == np.uint8:
        return data
    if data.dtype.kind not in "ui":
        raise DataError(f"{path}: 'data' should hold uint8 pixels, found dtype {data.dtype}")
    if data.min() < 0 or data.max() > 255:
        raise DataError(f"{path}: pixel values outside [0, 255] (dtype {data.dtype})")
    return data.astype(np.uint8)


def _check_labels(labels: Any, n: int, path: Path) -> np.ndarray:
    if not isinstance(labels, (list, tuple, np.ndarray)):
        raise DataError(f"{path}: 'labels' should be a list, found {type(labels).__name__}")
    try:
        arr = np.asarray(labels)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{path}: 'labels' is not a flat list of integers: {exc}") from exc
    if arr.ndim != 1 or arr.shape[0] != n:
        raise DataError(f"{path}: labels of shape {arr.shape} for {n} images")
    if arr.dtype.kind not in "ui":  # also refuses bools, floats and mixed lists (object)
        raise DataError(f"{path}: 'labels' should be integers, found dtype {arr.dtype}")
    if arr.min() < 0 or arr.max() >= CLASS_COUNT:
        raise DataError(
            f"{path}: labels outside [0, {CLASS_COUNT}): min {arr.min()}, max {arr.max()}"
        )
    return arr.astype(np.int64)


def load_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load and validate one CIFAR-10 batch file (``data_batch_i`` or ``test_batch``).

    Parameters
    ----------
    path : path-like
        The batch pickle (Python 2 or Python 3 flavour).

    Returns
    -------
    X : np.ndarray of uint8, shape (N, 3072)
        Raw rows in the official order: the red, green and blue 32x32 planes
        (CHW), *not* the HWC order used by :func:`load_cifar10`.
    y : np.ndarray of int64, shape (N,)
        Labels in ``[0, 10)``.

    Raises
    ------
    DataError
        Missing, truncated, malformed or unsafe file; the message names the path.
    """
    path = Path(path)
    batch = _normalise_keys(_unpickle(path), path)
    for key in ("data", "labels"):
        if key not in batch:
            raise DataError(f"{path}: no {key!r} entry (keys: {sorted(map(str, batch))})")
    X = _check_pixels(batch["data"], path)
    y = _check_labels(batch["labels"], X.shape[0], path)
    return X, y


def _load_class_names(path: Path) -> list[str]:
    meta = _normalise_keys(_unpickle(path), path)
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != CLASS_COUNT:
        raise DataError(f"{path}: 'label_names' should be a list of {CLASS_COUNT} names")
    out = []
    for name in names:
        if isinstance(name, bytes):
            name = name.decode("utf-8", errors="replace")
        if not isinstance(name, str):
            raise DataError(f"{path}: class name {name!r} is not a string")
        out.append(name)
    return out


# --------------------------------------------------------------------------- #
# Splitting and preprocessing
# --------------------------------------------------------------------------- #


def _chw_to_hwc_into(raw: np.ndarray, out: np.ndarray) -> None:
    """Write uint8 CHW rows ``raw`` into the float rows ``out`` as HWC.

    One pass that converts and permutes at once, so no intermediate copy of
    the batch in another dtype is made.
    """
    n = raw.shape[0]
    out.reshape(n, 32, 32, 3)[...] = raw.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)


def _gather_rows(batches: list[np.ndarray], start: int, stop: int, dtype: np.dtype) -> np.ndarray:
    """Rows ``start:stop`` of the (virtual) concatenation of ``batches``, as HWC ``dtype``."""
    out = np.empty((stop - start, IMAGE_SIZE), dtype=dtype)
    offset = 0
    for raw in batches:
        lo, hi = max(start, offset), min(stop, offset + raw.shape[0])
        if lo < hi:
            _chw_to_hwc_into(raw[lo - offset : hi - offset], out[lo - start : hi - start])
        offset += raw.shape[0]
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_split(total: int, num_val: int, num_train: int | None) -> int:
    """Validate the split sizes; return the number of training images."""
    if not _is_int(num_val) or not 0 <= num_val < total:
        raise ConfigError(f"num_val must be an integer in [0, {total}), got {num_val!r}")
    available = total - num_val
    if num_train is None:
        return available
    if not _is_int(num_train) or not 1 <= num_train <= available:
        raise ConfigError(
            f"num_train must be an integer in [1, {available}] ({total} images minus "
            f"num_val={num_val}), got {num_train!r}"
        )
    return int(num_train)


def _float_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ConfigError(f"dtype {dtype!r} is not a numpy dtype") from exc
    if dt.kind != "f":
        raise ConfigError(f"dtype must be a floating type such as float32, got {dt}")
    return dt


def load_cifar10(
    data_dir: str | os.PathLike | None = None,
    num_val: int = 1000,
    num_train: int | None = None,
    dtype: Any = np.float32,
    subtract_mean: bool = True,
    download: bool = True,
    quiet: bool = False,
) -> CIFAR10:
    """Load CIFAR-10 as flat HWC rows, split into train / validation / test.

    ``data_batch_1`` .. ``data_batch_5`` are concatenated (50,000 images). The
    validation split is the *last* ``num_val`` of them, the training split the
    first ``50000 - num_val``, cut to the first ``num_train`` if given. The
    test split is ``test_batch`` when present; otherwise ``X_test`` and
    ``y_test`` are None and a ``UserWarning`` says so.

    The mean image is computed over the (possibly truncated) training split
    only and, when ``subtract_mean``, subtracted in place from every split.
    Each split is converted from uint8 straight into ``dtype``; no float64
    copy of the data is ever made (full float32 data is about 0.6 GB).

    Parameters
    ----------
    data_dir : path-like, optional
        Folder that is or contains ``cifar-10-batches-py``; see :func:`locate_cifar10`.
    num_val : int
        Validation images, taken from the end of the training batches.
    num_train : int, optional
        Keep only the first ``num_train`` training images (small budgets).
    dtype : numpy float dtype
        dtype of every ``X`` and of ``mean_image``.
    subtract_mean : bool
        Subtract the training mean image from every split.
    download : bool
        Download the archive when no data is found.
    quiet : bool
        No download message or progress bar.

    Returns
    -------
    CIFAR10
        ``X_*`` have shape (N, 3072) in HWC order (``X.reshape(-1, 32, 32, 3)``
        gives images); ``y_*`` are int64 of shape (N,).

    Raises
    ------
    DataError
        Data missing (with ``download=False``) or a file is missing, truncated,
        malformed or unsafe.
    DownloadError
        The download was needed and failed.
    ConfigError
        ``num_val``, ``num_train`` or ``dtype`` is invalid.
    """
    dt = _float_dtype(dtype)
    folder = locate_cifar10(data_dir, download=download, quiet=quiet)
    class_names = _load_class_names(folder / META_FILE)
    loaded = [load_batch(folder / name) for name in TRAIN_BATCHES]
    raws = [X for X, _ in loaded]
    labels = np.concatenate([y for _, y in loaded])
    del loaded
    total = labels.shape[0]
    n_train = _check_split(total, num_val, num_train)

    X_train = _gather_rows(raws, 0, n_train, dt)
    X_val = _gather_rows(raws, total - num_val, total, dt)
    del raws
    y_train = labels[:n_train].copy()
    y_val = labels[total - num_val :].copy()
    X_test, y_test = _load_test(folder, dt)

    # float64 accumulator without a float64 copy of X: the reduction casts in small buffers.
    mean_image = (X_train.sum(axis=0, dtype=np.float64) / n_train).astype(dt)
    if subtract_mean:
        for X in (X_train, X_val, X_test):
            if X is not None:
                X -= mean_image
    return CIFAR10(X_train, y_train, X_val, y_val, X_test, y_test, mean_image, class_names, folder)


def _load_test(folder: Path, dtype: np.dtype) -> tuple[np.ndarray | None, np.ndarray | None]:
    path = folder / TEST_BATCH
    if not path.exists():
        warnings.warn(
            f"{folder} has no {TEST_BATCH}: no test split is available (X_test and y_test "
            "are None). Tune and report on the validation split.",
            UserWarning,
            stacklevel=3,
        )
        return None, None
    raw, y = load_batch(path)
    return _gather_rows([raw], 0, raw.shape[0], dtype), y


def to_images(X: np.ndarray, mean_image: np.ndarray | None = None) -> np.ndarray:
    """Turn flat HWC rows back into images for plotting.

    Parameters
    ----------
    X : np.ndarray, shape (N, 3072) or (3072,)
        Rows as returned by :func:`load_cifar10` (HWC order).
    mean_image : np.ndarray, shape (3072,), optional
        Added back first, undoing mean subtraction.

    Returns
    -------
    np.ndarray of float, shape (N, 32, 32, 3)
        A new array (``X`` is not modified); pixel values are on the 0..255
        scale when the mean has been restored, e.g. ``plt.imshow(img / 255)``.
    """
    X = np.asarray(X)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != IMAGE_SIZE:
        raise DataError(f"expected rows of {IMAGE_SIZE} values, got shape {X.shape}")
    dtype = X.dtype if X.dtype.kind == "f" else np.float64
    images = X.astype(dtype, copy=True)
    if mean_image is not None:
        mean = np.asarray(mean_image)
        if mean.shape != (IMAGE_SIZE,):
            raise DataError(f"mean_image should have shape ({IMAGE_SIZE},), got {mean.shape}")
        images += mean
    return images.reshape(-1, *IMAGE_SHAPE)
