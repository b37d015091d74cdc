"""MNIST / Fashion-MNIST: IDX parsing, download from a loopback server, md5, truncation, magic numbers."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import struct
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from autonet.data import idx
from autonet.data.idx import IMAGES_MAGIC, LABELS_MAGIC, load_idx_dataset, read_idx, write_idx
from autonet.errors import ConfigError, DataError, DownloadError

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """No real cache, env data dir or proxy; fail if anything leaves the loopback."""
    monkeypatch.delenv("AUTONET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
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


def fake_idx_set(folder: Path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> dict[str, str]:
    """The four official MNIST file names in ``folder``, small, valid; returns name -> md5."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, a in arrays.items():
        write_idx(folder / name, a)
    return {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in arrays}


def files_with(md5s: dict[str, str]) -> dict[str, tuple[str, str]]:
    roles = {
        "train-images-idx3-ubyte.gz": "train_images",
        "train-labels-idx1-ubyte.gz": "train_labels",
        "t10k-images-idx3-ubyte.gz": "test_images",
        "t10k-labels-idx1-ubyte.gz": "test_labels",
    }
    return {roles[name]: (name, md5) for name, md5 in md5s.items()}


# ----- the format -----


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("compress", [True, False])
def test_write_read_round_trip(tmp_path, dtype, compress):
    a = (
        (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
        if dtype != np.uint8
        else np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    )
    write_idx(tmp_path / "a.idx", a, compress=compress)
    b = read_idx(tmp_path / "a.idx")
    assert b.dtype == a.dtype and b.dtype.isnative and np.array_equal(a, b)


def test_the_official_header_layout(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / "i.gz", images)
    raw = gzip.decompress((tmp_path / "i.gz").read_bytes())
    assert raw[:16] == struct.pack(">IIII", IMAGES_MAGIC, 2, 28, 28)
    assert len(raw) == 16 + 2 * 28 * 28
    assert np.array_equal(read_idx(tmp_path / "i.gz", IMAGES_MAGIC), images)


def write_raw(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload))
    return path


def test_wrong_magic_number_fails_by_name(tmp_path):
    labels = write_raw(tmp_path / "l.gz", struct.pack(">II", LABELS_MAGIC, 3) + bytes(3))
    with pytest.raises(DataError, match="wrong magic number 0x00000801, expected 0x00000803"):
        read_idx(labels, IMAGES_MAGIC)
    junk = write_raw(tmp_path / "j.gz", b"\x12\x34\x08\x01" + struct.pack(">I", 1) + b"x")
    with pytest.raises(DataError, match="invalid magic number 0x12340801"):
        read_idx(junk)
    bad_type = write_raw(tmp_path / "t.gz", b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"x")
    with pytest.raises(DataError, match="invalid magic number"):
        read_idx(bad_type)


def test_truncated_files_fail_by_name(tmp_path):
    full = struct.pack(">IIII", IMAGES_MAGIC, 2, 28, 28) + bytes(2 * 28 * 28)
    short = write_raw(tmp_path / "short.gz", full[:-10])
    with pytest.raises(
        DataError,
        match=r"truncated IDX file: shape \(2, 28, 28\) needs 1568 bytes of data, "
        r"the file holds 1558",
    ):
        read_idx(short, IMAGES_MAGIC)
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(write_raw(tmp_path / "h.gz", full[:10]), IMAGES_MAGIC)
    with pytest.raises(DataError, match="truncated IDX file: 2 bytes"):
        read_idx(write_raw(tmp_path / "m.gz", full[:2]))
    cut_gzip = tmp_path / "cut.gz"
    cut_gzip.write_bytes(gzip.compress(full)[:-20])  # the gzip stream itself ends early
    with pytest.raises(DataError, match="not a readable IDX file"):
        read_idx(cut_gzip)
    with pytest.raises(DataError, match="bytes after the 1568 bytes"):
        read_idx(write_raw(tmp_path / "long.gz", full + b"extra"))


def test_a_huge_header_is_refused_before_reading(tmp_path):
    bomb = write_raw(tmp_path / "bomb.gz", struct.pack(">IIII", IMAGES_MAGIC, 4_000_000_000, 60_000, 60_000))
    with pytest.raises(DataError, match="more than the limit"):
        read_idx(bomb, IMAGES_MAGIC)
    small = write_raw(tmp_path / "ok.gz", struct.pack(">II", LABELS_MAGIC, 100) + bytes(100))
    with pytest.raises(DataError, match="more than the limit of 50"):
        read_idx(small, max_bytes=50)


# ----- download against a loopback server -----


class _Quiet(http.server.SimpleHTTPRequestHandler):
    hits: list[str]

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.hits.append(self.path)
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1; yields (base_url ending in /, www, hits)."""
    www = tmp_path / "www"
    www.mkdir()
    hits: list[str] = []
    handler = functools.partial(type("H", (_Quiet,), {"hits": hits}), directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", www, hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def fake_mnist_source(server, monkeypatch):
    """IDX_SOURCES["mnist"] pointed at the loopback server, serving a small generated set."""
    base, www, hits = server
    md5s = fake_idx_set(www)
    source = idx.IdxSource("mnist", base, files_with(md5s), idx.IDX_SOURCES["mnist"].class_names)
    monkeypatch.setitem(idx.IDX_SOURCES, "mnist", source)
    return source, www, hits


def test_good_checksums_download_and_load(fake_mnist_source, tmp_path):
    source, www, hits = fake_mnist_source
    data = load_idx_dataset("mnist", tmp_path / "data", num_val=10, download=True, quiet=True)
    assert data.X_train.shape == (40, 784) and data.X_val.shape == (10, 784) and data.X_test.shape == (20, 784)
    assert data.image_shape == (28, 28, 1) and data.class_names == [str(d) for d in range(10)]
    assert data.data_dir == tmp_path / "data" / "mnist"
    assert sorted(p.name for p in data.data_dir.iterdir()) == sorted(f for f, _ in source.files.values())
    raw = read_idx(www / "train-images-idx3-ubyte.gz").reshape(50, 784).astype(np.float32)
    np.testing.assert_allclose(data.X_train + data.mean_image, raw[:40], atol=1e-4)
    np.testing.assert_allclose(data.mean_image, raw[:40].mean(axis=0), rtol=1e-5)
    assert np.array_equal(data.y_val, np.arange(40, 50) % 10)
    # present now: loading again fetches nothing
    load_idx_dataset("mnist", tmp_path / "data", num_val=10, quiet=True)
    assert len(hits) == 4


def test_wrong_checksum_fails_by_name_and_keeps_nothing(fake_mnist_source, tmp_path, monkeypatch):
    source, www, hits = fake_mnist_source
    files = dict(source.files)
    files["train_labels"] = (files["train_labels"][0], "0" * 32)
    monkeypatch.setitem(idx.IDX_SOURCES, "mnist", idx.IdxSource("mnist", source.base_url, files, source.class_names))
    with pytest.raises(
        DownloadError,
        match=r"md5 mismatch for http://127\.0\.0\.1:\d+/train-labels-idx1-ubyte"
        r"\.gz: expected 0{32}, got [0-9a-f]{32}",
    ):
        load_idx_dataset("mnist", tmp_path / "data", download=True, quiet=True)
    kept = sorted(p.name for p in (tmp_path / "data" / "mnist").iterdir())
    assert kept == ["train-images-idx3-ubyte.gz"]  # verified before it; no partial file left


def test_the_official_checksums_refuse_a_stand_in(server, tmp_path, monkeypatch):
    base, www, _ = server
    fake_idx_set(www)
    official = idx.IDX_SOURCES["fashion-mnist"]
    monkeypatch.setitem(
        idx.IDX_SOURCES, "fashion-mnist", idx.IdxSource("fashion-mnist", base, official.files, official.class_names)
    )
    with pytest.raises(DownloadError, match="md5 mismatch .* expected 8d4fb7e6c68d591d4c3dfef9ec88bf0d"):
        load_idx_dataset("fashion-mnist", tmp_path / "d", download=True, quiet=True)
    assert not (tmp_path / "d").exists()  # the folders it created are removed again


def test_a_truncated_or_mislabelled_file_on_disk_fails_by_name(tmp_path):
    folder = tmp_path / "mnist"
    fake_idx_set(folder)
    raw = gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz: truncated IDX file"):
        load_idx_dataset("mnist", tmp_path, download=False)
    fake_idx_set(folder)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.full(50, 12, dtype=np.uint8))
    with pytest.raises(DataError, match=r"label 12 outside \[0, 10\)"):
        load_idx_dataset("mnist", tmp_path, download=False)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(49, dtype=np.uint8))
    with pytest.raises(DataError, match="49 labels for the 50 images"):
        load_idx_dataset("mnist", tmp_path, download=False)
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros((50, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="wrong magic number 0x00000803, expected 0x00000801"):
        load_idx_dataset("mnist", tmp_path, download=False)


def test_missing_data_without_download_and_bad_names(tmp_path):
    with pytest.raises(DataError, match="fashion-mnist not found: .* lacks train-images-idx3-ubyte.gz"):
        load_idx_dataset("fashion-mnist", tmp_path, download=False)
    with pytest.raises(DataError, match="unknown IDX dataset 'kmnist'"):
        load_idx_dataset("kmnist", tmp_path, download=False)
    fake_idx_set(tmp_path / "mnist")
    with pytest.raises(ConfigError, match="num_val must be"):
        load_idx_dataset("mnist", tmp_path, num_val=50, download=False)


def test_env_var_chooses_the_place(tmp_path, monkeypatch):
    fake_idx_set(tmp_path / "env" / "fashion-mnist")
    monkeypatch.setenv("AUTONET_DATA", str(tmp_path / "env"))
    data = load_idx_dataset("fashion-mnist", num_val=5, num_train=20, dtype=np.float64, download=False)
    assert data.X_train.shape == (20, 784) and data.X_train.dtype == np.float64
    assert data.class_names[9] == "Ankle boot" and data.name == "fashion-mnist"


def test_the_stand_in_script_writes_a_loadable_set(tmp_path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "examples" / "make_idx_stand_in.py"
    subprocess.run(
        [sys.executable, str(script), str(tmp_path), "--name", "mnist", "--train", "60", "--test", "20"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = load_idx_dataset("mnist", tmp_path, num_val=10, download=False)
    assert data.X_train.shape == (50, 784) and data.X_test.shape == (20, 784)
    assert sorted(set(data.y_train) | set(data.y_val)) == list(range(10))


@pytest.mark.parametrize("kind", ["fifo", "directory", "dev-zero"])
def test_a_file_that_is_not_regular_is_named_not_called_missing(tmp_path, kind):
    import os

    folder = tmp_path / "mnist"
    fake_idx_set(folder)
    target = folder / "train-images-idx3-ubyte.gz"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    else:
        target.symlink_to("/dev/zero")
    what = {"fifo": "a FIFO", "directory": "a directory", "dev-zero": "a character device"}[kind]
    with pytest.raises(
        DataError, match=f"^{target}: is {what}, not a regular file; refusing to read it as an IDX file$"
    ):
        load_idx_dataset("mnist", tmp_path, download=False)
