"""Where the CIFAR-10 batches are: the ``data_dir`` argument, ``$AUTONET_DATA``, or the cache.

The chosen folder may either *be* a ``cifar-10-batches-py`` folder or *contain*
one. When it holds neither, the official archive is downloaded into it
(:mod:`autonet.data.download`) only if it is the default cache folder (or
``download=True``): a folder the user named (``data_dir``, ``$AUTONET_DATA``)
without the data is an error naming it and saying how to get the data
(``autonet download DIR``), not a 170 MB download the user did not ask for.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from autonet.data import download as fetch
from autonet.data.cifar10_format import BATCH_DIR, META_FILE, TEST_BATCH, TRAIN_BATCHES
from autonet.errors import DataError

ENV_VAR = "AUTONET_DATA"


def default_cache_dir(platform: str = sys.platform) -> Path:
    """Return the per-user cache folder, by each platform's convention (as ``platformdirs`` has it).

    Windows: ``%LOCALAPPDATA%\\autonet\\Cache``; macOS: ``~/Library/Caches/autonet``; elsewhere
    ``$XDG_CACHE_HOME/autonet`` or ``~/.cache/autonet`` (a relative ``XDG_CACHE_HOME`` is ignored, as
    the XDG spec requires).
    """
    if platform == "win32":
        local = os.environ.get("LOCALAPPDATA", "")
        return (Path(local) if local else Path.home() / "AppData" / "Local") / "autonet" / "Cache"
    if platform == "darwin":
        return Path.home() / "Library" / "Caches" / "autonet"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "autonet"
    return Path.home() / ".cache" / "autonet"


def chosen_place(data_dir: str | os.PathLike | None, download: bool | None) -> tuple[Path, str, bool]:
    """The one folder to use, a phrase saying why it was chosen, and whether to download into it.

    ``download`` if given, else True only for the default cache folder (an implicit place).
    """
    if data_dir is not None:
        place, why = Path(data_dir).expanduser(), "--data-dir"
    elif os.environ.get(ENV_VAR, ""):
        place, why = Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    else:
        return default_cache_dir(), "the default cache folder", download is None or bool(download)
    return place, why, bool(download)


def _is_batch_dir(folder: Path) -> bool:
    """True if ``folder`` itself holds CIFAR-10 batch files."""
    names = (*TRAIN_BATCHES, TEST_BATCH, META_FILE)
    return folder.is_dir() and any((folder / name).is_file() for name in names)


def locate_cifar10(
    data_dir: str | os.PathLike | None = None, download: bool | None = None, quiet: bool = False
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
    download : bool or None
        If the folder holds no data, download the official archive into it:
        True always, False never, None (default) only into the default cache
        folder (a folder the user chose is never filled without being asked).
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
        No data found and no download allowed; the message names every path
        looked in and the command that gets the data.
    DownloadError
        Downloading was needed and failed.
    """
    place, why, may_download = chosen_place(data_dir, download)
    if _is_batch_dir(place):
        return place
    inner = place / BATCH_DIR
    if inner.is_dir():
        return inner
    if may_download:
        # Module globals looked up at call time, so tests can point them at a local server.
        return fetch.download_cifar10(place, url=fetch.CIFAR10_URL, md5=fetch.CIFAR10_MD5, quiet=quiet)
    raise DataError(
        f"CIFAR-10 not found in {place} (chosen by {why}): neither it nor {inner} holds the batch files; "
        f"get them with: autonet download {shlex.quote(str(place))}"
    )
