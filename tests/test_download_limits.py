"""A download has a size cap and an overall deadline, checked against a loopback HTTP server.

Before, the only limit was the socket timeout, which a server sending one
byte per second never trips: the download could run for days. The server here
is bounded too: every handler stops after a few seconds at most, and the server
is shut down after each test.
"""

from __future__ import annotations

import http.server
import threading
import time

import pytest

from autonet.data.download import download_cifar10
from autonet.errors import DownloadError


class _Hostile(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            self._serve()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _serve(self):
        self.send_response(200)
        if self.path == "/trickle":  # 1 byte every 20 ms, for at most 200 bytes (4 s)
            self.send_header("Content-Length", "10000")
            self.end_headers()
            for _ in range(200):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.02)
        elif self.path == "/silent":  # headers, then nothing for up to 4 s
            self.send_header("Content-Length", "10000")
            self.end_headers()
            self.wfile.flush()
            time.sleep(4)
        elif self.path == "/announces-a-terabyte":
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
        elif self.path == "/endless":  # no length; 1 MiB in 4 KiB pieces, then stops
            self.end_headers()
            for _ in range(256):
                self.wfile.write(b"y" * 4096)
        self.close_connection = True


@pytest.fixture
def hostile():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("path", ["/trickle", "/silent"])
def test_a_slow_server_fails_at_the_deadline_and_leaves_nothing(hostile, tmp_path, path):
    start = time.monotonic()
    with pytest.raises(
        DownloadError,
        match=rf"download of {hostile}{path} too slow: \d+ of 10,000 bytes after "
        r"the 0.5 s deadline",
    ):
        download_cifar10(tmp_path / "target", url=hostile + path, quiet=True, deadline=0.5, timeout=30)
    assert time.monotonic() - start < 2.5
    assert not (tmp_path / "target").exists()


def test_a_server_announcing_too_much_is_refused_before_the_body(hostile, tmp_path):
    start = time.monotonic()
    with pytest.raises(
        DownloadError,
        match=r"refused: the server announces 1,000,000,000,000 bytes, more than the "
        r"209,715,200 expected",
    ):
        download_cifar10(tmp_path / "target", url=hostile + "/announces-a-terabyte", quiet=True)
    assert time.monotonic() - start < 2 and not (tmp_path / "target").exists()


def test_a_server_sending_too_much_is_cut_off_at_the_cap(hostile, tmp_path):
    with pytest.raises(DownloadError, match=r"/endless refused: more than the 100,000 bytes expected"):
        download_cifar10(tmp_path / "target", url=hostile + "/endless", quiet=True, max_bytes=100_000)
    assert not (tmp_path / "target").exists()
