"""The built site in a real browser: the derivation's equations are typeset and the figures load.

Opens pages of ``docs/_build/html`` (built by ``.ci/run``, or by the README's command) in headless
Chromium, served from a local HTTP server so that a probe page of the same origin can read each
page's DOM after MathJax has run: every ``math`` element must hold MathJax's output
(``mjx-container``) and no TeX error, no ``$$`` may be left in the text, and every ``img`` must have
decoded (``naturalWidth > 0``). MathJax comes from the site itself (``_static/mathjax``), so this
also holds offline. Skips when no Chromium is installed or the site is not built.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[1] / "docs" / "_build" / "html"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)
pytestmark = [
    pytest.mark.skipif(BROWSER is None, reason=f"no headless browser found ({', '.join(BROWSERS)})"),
    pytest.mark.skipif(
        not (SITE / "notebooks" / "01_derivation.html").is_file(),
        reason="site not built: python -m sphinx -W --keep-going -b html docs docs/_build/html",
    ),
]

PROBE = """<!doctype html><meta charset="utf-8"><pre id="out">pending</pre>
<iframe id="page" src="/PAGE" width="1200" height="900"></iframe>
<script>
const frame = document.getElementById("page");
frame.onload = async () => {
  const w = frame.contentWindow, d = frame.contentDocument;
  const mathjax = () => w.MathJax && w.MathJax.startup && w.MathJax.startup.promise;
  for (let i = 0; i < 400 && !mathjax(); i++) await new Promise(r => setTimeout(r, 25));
  if (mathjax()) await w.MathJax.startup.promise;
  for (let i = 0; i < 400 && ![...d.images].every(img => img.complete); i++) await new Promise(r => setTimeout(r, 25));
  const math = [...d.querySelectorAll(".math")];
  document.getElementById("out").textContent = JSON.stringify({
    mathjax: Boolean(mathjax()),
    math: math.length,
    typeset: math.filter(m => m.querySelector("mjx-container")).length,
    tex_errors: d.querySelectorAll("mjx-merror").length,
    raw_dollars: d.body.innerText.includes("$$"),
    images: [...d.images].map(img => [img.getAttribute("src"), img.naturalWidth]),
  });
};
</script>"""

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=30000",  # let MathJax and the images finish before the DOM is read
]


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/__probe/"):
            body = PROBE.replace("/PAGE", "/" + self.path.removeprefix("/__probe/")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            super().do_GET()

    def log_message(self, format, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(SITE)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def browse(args: list[str], tmp_path: Path) -> str:
    done = subprocess.run(
        [BROWSER, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def probe(server: str, page: str, tmp_path: Path) -> dict:
    dom = browse(["--dump-dom", f"{server}/__probe/{page}"], tmp_path)
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert found and found.group(1) != "pending", dom[:2000]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_the_derivation_equations_are_typeset(server, tmp_path):
    seen = probe(server, "notebooks/01_derivation.html", tmp_path)
    assert seen["mathjax"], "MathJax did not load (it should come from _static/mathjax)"
    assert seen["math"] >= 50, seen  # notebook 01 writes out the exercise's equations (1)-(10) and more
    assert seen["typeset"] == seen["math"], seen
    assert seen["tex_errors"] == 0 and not seen["raw_dollars"], seen


@pytest.mark.parametrize("page", ["notebooks/02_two_layer_exercise.html", "index.html"])
def test_the_figures_load(server, tmp_path, page):
    images = probe(server, page, tmp_path)["images"]
    assert len(images) >= 5, images  # notebook 2: 7 plots; the README: 5 figures of training runs
    assert [src for src, width in images if width <= 0] == []


def test_screenshot_of_the_derivation(server, tmp_path):
    shot = tmp_path / "derivation.png"
    browse(["--window-size=1280,2400", f"--screenshot={shot}", f"{server}/notebooks/01_derivation.html"], tmp_path)
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
