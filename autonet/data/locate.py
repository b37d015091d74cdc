"""Where the CIFAR-10 batches are: the ``data_dir`` argument, ``$AUTONET_DATA``, or the cache.

The chosen folder may either *be* a ``cifar-10-batches-py`` folder or *contain*
one. When it holds neither and downloading is allowed, the official archive is
downloaded into it (:mod:`autonet.data.download`).
"""

from __future__ import annotations

import os
from pathlib import Path

from autonet.data import download as fetch
from autonet.data.cifar10_format import BATCH_DIR, META_FILE, TEST_BATCH, TRAIN_BATCHES
from autonet.errors import DataError

ENV_VAR = "AUTONET_DATA"


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
        return fetch.download_cifar10(place, url=fetch.CIFAR10_URL, md5=fetch.CIFAR10_MD5, quiet=quiet)
    raise DataError(
        f"CIFAR-10 not found. Looked in {place} (chosen by {why}) and {inner}; "
        f"neither holds the batch files. Pass data_dir=, set ${ENV_VAR}, or allow "
        f"download=True to fetch {fetch.CIFAR10_URL}."
    )
