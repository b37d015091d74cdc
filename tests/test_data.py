"""Tests of autonet.data: loading, splitting, safety, lookup and download.

Everything runs on small fake data written by ``tests/fakedata.py`` and a
loopback HTTP server; only ``test_real_data`` reads the real batches, from
the folder named by ``AUTONET_DATA``.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import pickle
import tarfile
import threading
import tracemalloc
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest

from autonet import data
from autonet.data import (
    BATCH_DIR,
    default_cache_dir,
    download_cifar10,
    load_batch,
    load_cifar10,
    locate_cifar10,
    to_images,
)
from autonet.data import download as fetch
from autonet.errors import AutonetError, ConfigError, DataError, DownloadError
from fakedata import (
    CLASS_NAMES,
    make_fake_archive,
    make_fake_cifar,
    md5_of,
    raw_training_data,
    write_pickle,
)

# Read before the autouse fixture below clears it for every test.
REAL_DATA = os.environ.get("AUTONET_DATA", "")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


# --------------------------------------------------------------------------- #
# Fixtures and helpers
# --------------------------------------------------------------------------- #


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No real cache, env data dir or proxy; fail if anything leaves the loopback."""
    monkeypatch.delenv("AUTONET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

    outside = []
    real_urlopen = urllib.request.urlopen

    def guarded_urlopen(url, *args, **kwargs):
        host = urllib.parse.urlsplit(url if isinstance(url, str) else url.full_url).hostname
        if host not in LOOPBACK:
            outside.append(url)
            raise OSError(f"test tried to reach {url}")
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", guarded_urlopen)
    yield
    assert not outside, f"non-loopback URL requested: {outside}"


@pytest.fixture
def fake(tmp_path) -> Path:
    """A fake cifar-10-batches-py folder: 5 x 20 images, no test batch, Python 2 flavour."""
    return make_fake_cifar(tmp_path / "fake", n_per_batch=20)


def load_quietly(*args, **kwargs) -> data.CIFAR10:
    """load_cifar10 with the expected 'no test split' warning swallowed."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*no test split", category=UserWarning)
        return load_cifar10(*args, quiet=True, **kwargs)


def chw_to_hwc(raw: np.ndarray) -> np.ndarray:
    return raw.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).reshape(-1, 3072).astype(np.float64)


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# --------------------------------------------------------------------------- #
# Round trip on fake data
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_shapes_dtypes_and_splits(fake, dtype):
    raw, labels = raw_training_data(fake)
    with pytest.warns(UserWarning, match="no test split"):
        d = load_cifar10(fake, num_val=10, dtype=dtype, download=False, quiet=True)

    assert d.X_train.shape == (90, 3072) and d.X_val.shape == (10, 3072)
    assert d.X_train.dtype == d.X_val.dtype == d.mean_image.dtype == dtype
    assert d.mean_image.shape == (3072,)
    assert d.y_train.dtype == d.y_val.dtype == np.int64
    np.testing.assert_array_equal(d.y_train, labels[:90])
    np.testing.assert_array_equal(d.y_val, labels[90:])
    assert d.X_test is None and d.y_test is None
    assert d.class_names == CLASS_NAMES
    assert d.data_dir == fake
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(d.X_val + d.mean_image, chw_to_hwc(raw[90:]), atol=tol)


def test_num_train_truncates_and_mean_follows(fake):
    raw, labels = raw_training_data(fake)
    d = load_quietly(fake, num_val=10, num_train=25)
    assert d.X_train.shape == (25, 3072) and d.y_train.shape == (25,)
    assert d.X_val.shape == (10, 3072)
    np.testing.assert_array_equal(d.y_train, labels[:25])
    np.testing.assert_array_equal(d.y_val, labels[90:])
    np.testing.assert_allclose(d.mean_image, chw_to_hwc(raw[:25]).mean(axis=0), rtol=1e-6)
    # validation stays the last num_val images, not the ones after the truncated train split
    np.testing.assert_allclose(d.X_val + d.mean_image, chw_to_hwc(raw[90:]), atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mean_is_from_training_split_only(fake, dtype):
    raw, _ = raw_training_data(fake)
    d = load_quietly(fake, num_val=30, dtype=dtype)
    train_mean = chw_to_hwc(raw[:70]).mean(axis=0)
    all_mean = chw_to_hwc(raw).mean(axis=0)
    assert not np.allclose(train_mean, all_mean, atol=1e-2)  # the check below can tell them apart
    np.testing.assert_allclose(d.mean_image, train_mean, rtol=1e-6)
    # subtracted from every split
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(d.X_train + d.mean_image, chw_to_hwc(raw[:70]), atol=1e-4)
    np.testing.assert_allclose(d.X_val + d.mean_image, chw_to_hwc(raw[70:]), atol=1e-4)


def test_subtract_mean_false_keeps_raw_values(fake):
    raw, _ = raw_training_data(fake)
    d = load_quietly(fake, num_val=10, subtract_mean=False)
    np.testing.assert_array_equal(d.X_train, chw_to_hwc(raw[:90]))
    np.testing.assert_allclose(d.mean_image, chw_to_hwc(raw[:90]).mean(axis=0), rtol=1e-6)


def test_rows_are_hwc_order(fake):
    raw, _ = raw_training_data(fake)
    d = load_quietly(fake, num_val=10, subtract_mean=False)
    images = d.X_train.reshape(-1, 32, 32, 3)
    for i, r, c in [(0, 0, 0), (7, 3, 5), (42, 31, 0), (89, 17, 31)]:
        for ch in range(3):
            # official rows are three 32x32 planes: red, green, blue
            assert images[i, r, c, ch] == raw[i, ch * 1024 + r * 32 + c]


def test_load_batch_returns_raw_chw_uint8(fake):
    raw, labels = raw_training_data(fake)
    X, y = load_batch(fake / "data_batch_2")
    assert X.dtype == np.uint8 and X.shape == (20, 3072)
    assert y.dtype == np.int64 and y.shape == (20,)
    np.testing.assert_array_equal(X, raw[20:40])
    np.testing.assert_array_equal(y, labels[20:40])


def test_peak_memory_has_no_float64_copy(tmp_path):
    folder = make_fake_cifar(tmp_path, n_per_batch=400, py2_keys=False)
    tracemalloc.start()
    try:
        d = load_quietly(folder, num_val=100)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out_bytes = d.X_train.nbytes + d.X_val.nbytes
    # A float64 copy of X_train alone would add 2 * X_train.nbytes.
    assert peak < out_bytes + d.X_train.nbytes // 2, (peak, out_bytes)


# --------------------------------------------------------------------------- #
# Pickle flavours
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "py2_keys, protocol, key_type",
    [(True, None, bytes), (False, None, str), (False, 2, str), (False, 5, str)],
    ids=["python2-bytes-keys", "python3-default", "python3-protocol2", "python3-protocol5"],
)
def test_both_key_flavours_load(tmp_path, py2_keys, protocol, key_type):
    folder = make_fake_cifar(tmp_path, py2_keys=py2_keys, protocol=protocol)
    with open(folder / "data_batch_1", "rb") as f:  # trusted: written just above
        keys = pickle.load(f, encoding="bytes").keys()
    assert all(type(k) is key_type for k in keys)  # the flavour really differs
    legacy = b"cnumpy.core.multiarray\n_reconstruct" in (folder / "data_batch_1").read_bytes()
    assert legacy == py2_keys  # Python 2 files name numpy.core, new ones numpy._core

    X, y = load_batch(folder / "data_batch_1")
    raw, labels = raw_training_data(folder)
    np.testing.assert_array_equal(X, raw[:20])
    np.testing.assert_array_equal(y, labels[:20])
    assert load_quietly(folder, num_val=10).class_names == CLASS_NAMES


# --------------------------------------------------------------------------- #
# Malicious, truncated and malformed files
# --------------------------------------------------------------------------- #


class Payload:
    """Pickles as a call of ``func(*args)``: what an attacker would plant."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path) -> dict[str, Payload]:
    return {
        "os.system": Payload(os.system, f"touch '{marker}'"),
        "open": Payload(open, str(marker), "w"),
        "eval": Payload(eval, f"open({str(marker)!r}, 'w')"),
        "numpy.save": Payload(np.save, str(marker), np.zeros(1)),
    }


@pytest.mark.parametrize("kind", ["os.system", "open", "eval", "numpy.save"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_malicious_pickle_is_refused_and_not_run(fake, tmp_path, kind, protocol):
    marker = tmp_path / "pwned"
    evil = {b"data": _payloads(marker)[kind], b"labels": [0] * 20}
    bad = fake / "data_batch_3"
    bad.write_bytes(pickle.dumps(evil, protocol=protocol))

    with pytest.raises(DataError, match="refused") as excinfo:
        load_quietly(fake, num_val=10)
    assert str(bad) in str(excinfo.value)
    assert not marker.exists() and not marker.with_suffix(".npy").exists()

    # The payload is real: plain pickle would have run it.
    pickle.loads(pickle.dumps(_payloads(tmp_path / "proof")[kind]))
    assert (tmp_path / "proof").exists() or (tmp_path / "proof.npy").exists()


def test_codecs_encode_only_as_latin1_bytes(tmp_path):
    # GLOBAL _codecs.encode applied to ("abc", "rot13"): admitted name, wrong use.
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R.")
    with pytest.raises(DataError, match=r"refused _codecs\.encode") as excinfo:
        load_batch(path)
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize("keep", [0, 10, 0.5, -1], ids=["empty", "header", "half", "last-byte"])
def test_truncated_batch(fake, keep):
    path = fake / "data_batch_2"
    blob = path.read_bytes()
    cut = {0: 0, 10: 10, 0.5: len(blob) // 2, -1: len(blob) - 1}[keep]
    path.write_bytes(blob[:cut])
    with pytest.raises(DataError) as excinfo:
        load_batch(path)
    assert str(path) in str(excinfo.value)
    with pytest.raises(DataError, match="data_batch_2"):
        load_quietly(fake, num_val=10)


def _good_batch(n=20):
    rng = np.random.default_rng(1)
    return {
        "batch_label": "x",
        "labels": [int(v) for v in rng.integers(0, 10, n)],
        "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        "filenames": [],
    }


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.update(data=b["data"][:, :3071]), "3072"),
        (lambda b: b.update(data=b["data"].reshape(-1)), "3072"),
        (lambda b: b.update(data=b["data"].astype(np.float32)), "uint8"),
        (lambda b: b.update(data=b["data"].astype(np.int16) + 300), r"\[0, 255\]"),
        (lambda b: b.update(data=b["data"][:0]), "no images"),
        (lambda b: b.update(data=b["data"].tolist()), "numpy array"),
        (lambda b: b["labels"].__setitem__(3, 10), r"labels outside \[0, 10\)"),
        (lambda b: b["labels"].__setitem__(0, -1), r"labels outside \[0, 10\)"),
        (lambda b: b["labels"].pop(), "for 20 images"),
        (lambda b: b["labels"].__setitem__(0, 1.5), "integers"),
        (lambda b: b.update(labels="0123"), "list"),
        (lambda b: b.pop("labels"), "'labels'"),
        (lambda b: b.pop("data"), "'data'"),
    ],
    ids=[
        "columns",
        "1d",
        "float-pixels",
        "pixel-range",
        "empty",
        "list-data",
        "label-10",
        "label-neg",
        "label-count",
        "label-float",
        "label-str",
        "no-labels",
        "no-data",
    ],
)
def test_malformed_batch(fake, change, message):
    batch = _good_batch()
    change(batch)
    path = fake / "data_batch_5"
    write_pickle(path, batch, py2_keys=False)
    with pytest.raises(DataError, match=message) as excinfo:
        load_batch(path)
    assert str(path) in str(excinfo.value)


def test_good_batch_helper_is_valid(fake):
    """Control for test_malformed_batch: unchanged, the batch loads."""
    write_pickle(fake / "data_batch_5", _good_batch(), py2_keys=False)
    assert load_batch(fake / "data_batch_5")[0].shape == (20, 3072)


def test_batch_that_is_not_a_dict(fake):
    path = fake / "data_batch_1"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="expected a dict") as excinfo:
        load_batch(path)
    assert str(path) in str(excinfo.value)


def test_missing_batch(fake):
    (fake / "data_batch_4").unlink()
    with pytest.raises(DataError, match="missing") as excinfo:
        load_quietly(fake, num_val=10)
    assert str(fake / "data_batch_4") in str(excinfo.value)


def test_missing_meta(fake):
    (fake / "batches.meta").unlink()
    with pytest.raises(DataError, match="batches.meta"):
        load_quietly(fake, num_val=10)


def test_errors_are_autonet_and_builtin_types(fake):
    (fake / "data_batch_1").unlink()
    with pytest.raises(AutonetError):
        load_batch(fake / "data_batch_1")
    with pytest.raises(ValueError):
        load_batch(fake / "data_batch_1")


# --------------------------------------------------------------------------- #
# Test split
# --------------------------------------------------------------------------- #


def test_missing_test_batch_warns_and_gives_none(fake):
    with pytest.warns(UserWarning, match="no test split is available"):
        d = load_cifar10(fake, num_val=10, quiet=True)
    assert d.X_test is None and d.y_test is None


def test_present_test_batch_is_loaded(tmp_path):
    folder = make_fake_cifar(tmp_path, with_test=True)
    with open(folder / "test_batch", "rb") as f:  # trusted fake
        raw_test = pickle.load(f, encoding="bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        d = load_cifar10(folder, num_val=10, quiet=True)
    assert d.X_test.shape == (20, 3072) and d.X_test.dtype == np.float32
    np.testing.assert_array_equal(d.y_test, raw_test[b"labels"])
    assert d.y_test.dtype == np.int64
    np.testing.assert_allclose(d.X_test + d.mean_image, chw_to_hwc(raw_test[b"data"]), atol=1e-4)


# --------------------------------------------------------------------------- #
# Arguments and to_images
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(num_val=100),
        dict(num_val=-1),
        dict(num_val=1.5),
        dict(num_val=10, num_train=91),
        dict(num_val=10, num_train=0),
        dict(dtype=np.int32, num_val=10),
        dict(dtype=np.uint8, num_val=10),
    ],
)
def test_bad_arguments(fake, kwargs):
    with pytest.raises(ConfigError):
        load_quietly(fake, **kwargs)


def test_num_val_zero_and_full_train(fake):
    d = load_quietly(fake, num_val=0, num_train=100)
    assert d.X_train.shape == (100, 3072) and d.X_val.shape == (0, 3072)


def test_to_images(fake):
    raw, _ = raw_training_data(fake)
    d = load_quietly(fake, num_val=10)
    before = d.X_train.copy()
    images = to_images(d.X_train, d.mean_image)
    assert images.shape == (90, 32, 32, 3) and images.dtype.kind == "f"
    expected = raw[:90].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(images, expected, atol=1e-4)
    np.testing.assert_array_equal(d.X_train, before)  # input untouched
    assert to_images(d.X_train[0]).shape == (1, 32, 32, 3)
    flat_hwc = chw_to_hwc(raw[:2]).astype(np.uint8)
    np.testing.assert_array_equal(to_images(flat_hwc), expected[:2])
    with pytest.raises(DataError):
        to_images(np.zeros((2, 100)))


# --------------------------------------------------------------------------- #
# Lookup order
# --------------------------------------------------------------------------- #


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "autonet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "autonet"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored per XDG spec
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "autonet"


def test_argument_beats_env_beats_cache(monkeypatch, tmp_path):
    arg = make_fake_cifar(tmp_path / "arg")
    env = make_fake_cifar(tmp_path / "env")
    cache = make_fake_cifar(default_cache_dir())
    monkeypatch.setenv("AUTONET_DATA", str(tmp_path / "env"))
    assert locate_cifar10(tmp_path / "arg", download=False) == arg
    assert locate_cifar10(download=False) == env
    monkeypatch.delenv("AUTONET_DATA")
    assert locate_cifar10(download=False) == cache
    assert load_quietly(num_val=10, download=False).data_dir == cache


def test_no_fallback_past_the_chosen_place(monkeypatch, tmp_path):
    make_fake_cifar(tmp_path / "env")
    monkeypatch.setenv("AUTONET_DATA", str(tmp_path / "env"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError):
        locate_cifar10(tmp_path / "empty", download=False)


@pytest.mark.parametrize("source", ["argument", "env"])
def test_folder_may_be_or_contain_batches(monkeypatch, tmp_path, source):
    folder = make_fake_cifar(tmp_path / "root")
    for given in (tmp_path / "root", folder):
        if source == "env":
            monkeypatch.setenv("AUTONET_DATA", str(given))
            assert locate_cifar10(download=False) == folder
        else:
            assert locate_cifar10(given, download=False) == folder
            assert locate_cifar10(str(given), download=False) == folder


def _place(source: str, tmp_path: Path) -> Path:
    return {"argument": tmp_path / "a", "env": tmp_path / "e", "cache": default_cache_dir()}[source]


@pytest.mark.parametrize("source", ["argument", "env", "cache"])
def test_not_found_names_every_place(monkeypatch, tmp_path, source):
    place = _place(source, tmp_path)
    if source == "env":
        monkeypatch.setenv("AUTONET_DATA", str(place))
    with pytest.raises(DataError) as excinfo:
        locate_cifar10(place if source == "argument" else None, download=False)
    message = str(excinfo.value)
    assert str(place) in message and str(place / BATCH_DIR) in message


@pytest.mark.parametrize("source", ["argument", "env", "cache"])
def test_download_goes_to_the_chosen_place(monkeypatch, tmp_path, source):
    place = _place(source, tmp_path)
    make_fake_cifar(tmp_path / "decoy")  # a place that must not be chosen
    if source == "env":
        monkeypatch.setenv("AUTONET_DATA", str(place))
    calls = []

    def fake_download(target_dir, **kwargs):
        calls.append(Path(target_dir))
        return make_fake_cifar(target_dir)

    monkeypatch.setattr(fetch, "download_cifar10", fake_download)
    found = locate_cifar10(place if source == "argument" else None, download=True, quiet=True)
    assert calls == [place] and found == place / BATCH_DIR
    assert locate_cifar10(place if source == "argument" else None, download=True) == found
    assert len(calls) == 1  # second lookup finds the data, no new download


# --------------------------------------------------------------------------- #
# Download against a loopback HTTP server
# --------------------------------------------------------------------------- #


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits: list[str]

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.hits.append(self.path)
        if self.path == "/short.tar.gz":  # promises more bytes than it sends
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"\x1f\x8b" + b"0" * 100)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 (ephemeral port); yields (base_url, www, hits)."""
    www = tmp_path / "www"
    www.mkdir()
    hits: list[str] = []
    handler = type("Handler", (_Handler,), {"hits": hits})
    handler = functools.partial(handler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", www, hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_download_good_archive(server, tmp_path):
    base, www, hits = server
    md5 = make_fake_archive(www / "cifar.tar.gz", n_per_batch=10)
    target = tmp_path / "target"
    found = download_cifar10(target, url=f"{base}/cifar.tar.gz", md5=md5, quiet=True, timeout=10)
    assert found == target / BATCH_DIR
    assert os.listdir(target) == [BATCH_DIR]  # no archive or temp folder left
    assert sorted(os.listdir(found)) == sorted(
        ["batches.meta", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]
    )
    d = load_cifar10(target, num_val=5, download=False, quiet=True)
    assert d.X_train.shape == (45, 3072) and d.X_test.shape == (10, 3072)
    # already there: no second request
    assert download_cifar10(target, url=f"{base}/cifar.tar.gz", md5=md5, quiet=True) == found
    assert hits == ["/cifar.tar.gz"]


def test_load_cifar10_downloads_on_first_use(server, tmp_path, monkeypatch):
    base, www, hits = server
    md5 = make_fake_archive(www / "cifar.tar.gz", n_per_batch=10)
    monkeypatch.setattr(fetch, "CIFAR10_URL", f"{base}/cifar.tar.gz")
    monkeypatch.setattr(fetch, "CIFAR10_MD5", md5.upper())  # case-insensitive
    target = tmp_path / "new" / "deeper"
    d = load_cifar10(target, num_val=5, download=True, quiet=True)
    assert d.data_dir == target / BATCH_DIR and d.X_test is not None
    load_cifar10(target, num_val=5, download=True, quiet=True)
    assert hits == ["/cifar.tar.gz"]


@pytest.mark.parametrize("precreate", [True, False])
def test_download_md5_mismatch_leaves_nothing(server, tmp_path, precreate):
    base, www, _ = server
    make_fake_archive(www / "cifar.tar.gz")
    target = tmp_path / "target" / "sub"
    if precreate:
        target.mkdir(parents=True)
    with pytest.raises(DownloadError, match="md5 mismatch"):
        download_cifar10(target, url=f"{base}/cifar.tar.gz", md5="0" * 32, quiet=True)
    if precreate:
        assert files_under(target) == []
    else:
        assert not (tmp_path / "target").exists()  # folders we made are gone too


@pytest.mark.parametrize("path, match", [("/missing.tar.gz", "404"), ("/short.tar.gz", "incomplete|IncompleteRead")])
def test_download_http_failure_leaves_nothing(server, tmp_path, path, match):
    base, _, _ = server
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(DownloadError, match=match):
        download_cifar10(target, url=base + path, md5="0" * 32, quiet=True, timeout=10)
    assert files_under(target) == []


def test_download_connection_refused(tmp_path):
    import socket

    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="failed"):
        download_cifar10(tmp_path / "t", url=f"http://127.0.0.1:{port}/x.tar.gz", quiet=True, timeout=5)
    assert not (tmp_path / "t").exists()


def test_download_into_unusable_folder(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(DownloadError, match="cannot write"):
        download_cifar10(tmp_path / "a-file" / "sub", url="http://127.0.0.1:9/x.tar.gz", quiet=True)
    assert (tmp_path / "a-file").read_text() == "not a folder"


def _tar_with(path: Path, extra: list[tarfile.TarInfo], tmp: Path) -> str:
    """A gzip tar of a complete fake folder plus hostile ``extra`` members; returns md5."""
    folder = make_fake_cifar(tmp / "legit", n_per_batch=2)
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=BATCH_DIR)
        for info in extra:
            payload = b"gotcha\n" if info.isreg() else None
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return md5_of(path)


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    "member, match",
    [
        (lambda t: _member(f"{BATCH_DIR}/../../../escape.txt"), "escapes"),
        (lambda t: _member("../escape.txt"), "escapes"),
        (lambda t: _member(str(t / "escape.txt")), "absolute"),
        (lambda t: _member(f"{BATCH_DIR}/escape.txt", tarfile.SYMTYPE, "../../../escape.txt"), "link"),
        (lambda t: _member(f"{BATCH_DIR}/escape.txt", tarfile.LNKTYPE, f"{BATCH_DIR}/data_batch_1"), "link"),
        (lambda t: _member(f"{BATCH_DIR}/escape.txt", tarfile.CHRTYPE), "device"),
        (lambda t: _member("escape.txt"), "unexpected"),
    ],
    ids=["dotdot-inside", "dotdot", "absolute", "symlink", "hardlink", "device", "outside-folder"],
)
def test_unsafe_archive_is_refused(server, tmp_path, member, match):
    base, www, _ = server
    md5 = _tar_with(www / "evil.tar.gz", [member(tmp_path)], tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(DownloadError, match=match):
        download_cifar10(target, url=f"{base}/evil.tar.gz", md5=md5, quiet=True)
    assert files_under(target) == []
    assert not any(p.name == "escape.txt" for p in tmp_path.rglob("*")), "file written outside"


def test_incomplete_archive_is_refused(server, tmp_path):
    base, www, _ = server
    folder = make_fake_cifar(tmp_path / "partial", n_per_batch=2)
    (folder / "data_batch_5").unlink()
    with tarfile.open(www / "partial.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname=BATCH_DIR)
    target = tmp_path / "target"
    with pytest.raises(DownloadError, match="data_batch_5"):
        download_cifar10(target, url=f"{base}/partial.tar.gz", md5=md5_of(www / "partial.tar.gz"), quiet=True)
    assert not target.exists()


def test_not_an_archive_is_refused(server, tmp_path):
    base, www, _ = server
    (www / "junk.tar.gz").write_bytes(b"this is not a tar file" * 100)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(DownloadError, match="cannot extract"):
        download_cifar10(target, url=f"{base}/junk.tar.gz", md5=md5_of(www / "junk.tar.gz"), quiet=True)
    assert files_under(target) == []


# --------------------------------------------------------------------------- #
# Real data (only with AUTONET_DATA)
# --------------------------------------------------------------------------- #


def test_real_data():
    if not REAL_DATA:
        pytest.skip("AUTONET_DATA not set: point it at a folder holding cifar-10-batches-py to run")
    try:
        folder = locate_cifar10(REAL_DATA, download=False)
    except DataError as exc:
        pytest.skip(f"AUTONET_DATA={REAL_DATA} holds no CIFAR-10 data: {exc}")

    _, y1 = load_batch(folder / "data_batch_1")
    np.testing.assert_array_equal(
        np.bincount(y1, minlength=10), [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    )

    if (folder / "test_batch").exists():
        d = load_cifar10(folder, download=False, subtract_mean=False, quiet=True)
    else:
        with pytest.warns(UserWarning, match="no test split"):
            d = load_cifar10(folder, download=False, subtract_mean=False, quiet=True)
        assert d.X_test is None and d.y_test is None
    assert d.X_train.shape == (49000, 3072) and d.X_val.shape == (1000, 3072)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.class_names == CLASS_NAMES
    np.testing.assert_array_equal(d.y_train[:10000], y1)

    total = d.X_train.sum(axis=0, dtype=np.float64) + d.X_val.sum(axis=0, dtype=np.float64)
    channel_mean = (total / 50000).reshape(32, 32, 3).mean(axis=(0, 1))
    np.testing.assert_allclose(channel_mean, [125.307, 122.950, 113.865], atol=1e-3)
    # mean image is of the 49,000 training images only
    train_mean = d.X_train.sum(axis=0, dtype=np.float64) / 49000
    np.testing.assert_allclose(d.mean_image, train_mean, rtol=1e-6)
