"""Run a student's code in a separate, bounded process and talk to it: the checker's side.

:class:`Sandbox` starts ``python -m autonet.checking.child`` in its own process
group (inside new user, network and PID namespaces when ``unshare`` allows:
no network, and every process it forks dies with it), in a fresh folder that
is its working directory and home, with its output sent to a file capped by
``RLIMIT_FSIZE``, its memory by ``RLIMIT_AS`` and its CPU time by
``RLIMIT_CPU``. Each request has a time limit, the whole check another; at
either the process group is killed. The process only computes: what comes
back is numbers (:mod:`autonet.checking.wire`), and every comparison and the
verdict are made here, with this process's own NumPy. A process that dies is
restarted for the next request (at most :data:`MAX_STARTS` times).
"""

from __future__ import annotations

import functools
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autonet.checking import wire
from autonet.checking.layers import LAYER_NAMES
from autonet.checking.target import PARAM_NAMES, TargetError, TwoLayerTarget, UserCodeError

STARTUP_SECONDS = 30.0  # Python and NumPy starting, before the student's code is imported
MAX_STARTS = 4
NAMESPACES = ("unshare", "--user", "--net", "--pid", "--fork", "--kill-child")
MUTATIONS = {"X", *(f"params[{k!r}]" for k in PARAM_NAMES)}
KINDS = ("layers", "class", "function")


@dataclass(frozen=True)
class Limits:
    """Bounds on the checked code.

    Attributes
    ----------
    call_seconds : wall-clock time of one call (an import, one ``loss``, ...)
    total_seconds : wall-clock time of the whole check of one submission
    memory_mb : address space of the process running it (``RLIMIT_AS``)
    output_mb : largest file it may write, its captured prints included (``RLIMIT_FSIZE``)
    """

    call_seconds: float = 10.0
    total_seconds: float = 120.0
    memory_mb: int = 2048
    output_mb: int = 1


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether ``unshare`` can give this user new user, network and PID namespaces here."""
    if shutil.which("unshare") is None:
        return False
    try:
        return subprocess.run([*NAMESPACES, "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class Sandbox:
    """One student's code in its own process; :meth:`call` one request at a time.

    Parameters
    ----------
    spec : what to load (``FILE.py[:Name]`` / ``package.module:Name``)
    limits : the bounds
    hidden : files and folders the code may not read (other submissions, the rubric, the reports); a path
        that does not exist hides everything whose path starts with it
    allowed : folders it may read even inside ``hidden`` (its own files)
    """

    def __init__(
        self, spec: str, limits: Limits | None = None, hidden: tuple[str, ...] = (), allowed: tuple[str, ...] = ()
    ) -> None:
        module, colon, name = spec.rpartition(":") if ":" in spec else (spec, "", "")
        self.shown = (module, module)
        if module.endswith(".py") or "/" in module or os.sep in module:  # the process runs in another folder
            self.shown = (str(Path(module).expanduser().absolute()), module)
            spec = self.shown[0] + colon + name
        self.spec, self.limits = spec, limits or Limits()
        hidden = (*hidden, str(Path(tempfile.gettempdir()) / "autonet-check-"))  # other checks' homes
        self.hidden = [str(Path(h).resolve()) + (os.sep if Path(h).is_dir() else "") for h in hidden]
        self.folder = Path(tempfile.mkdtemp(prefix="autonet-check-"))
        self.home = self.folder / "home"
        self.home.mkdir()
        self.allowed = [str(Path(a).resolve()) + os.sep for a in [*allowed, str(self.folder)]]
        self.deadline = time.monotonic() + self.limits.total_seconds
        self.proc: subprocess.Popen | None = None
        self.generation = 0  # processes started so far; a cache handle names the one holding it
        self.info: dict = {}
        self.events: list[str] = []  # timeout, memory, output, exited, forbidden: what stopped or hurt the code
        self.mutated: list[str] = []  # what the last call changed in place

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def load(self) -> dict:
        """Start the process and import the target; what it found (kind, label, functions, has_predict ...).

        Raises
        ------
        TargetError
            The code cannot be imported (it raised, exited, hung) or has neither API.
        """
        try:
            self.info = self._start()
        except (UserCodeError, TargetError) as e:
            raise TargetError(str(e).replace(*self.shown)) from None
        info = self.info
        if not (isinstance(info, dict) and info.get("kind") in KINDS and isinstance(info.get("label"), str)):
            self._kill()
            raise TargetError(f"importing {self.shown[1]}: its process wrote into the checker's channel")
        info["label"] = info["label"].replace(*self.shown, 1)  # the path as the caller wrote it
        names = info.get("functions")
        info["functions"] = [f for f in names if f in LAYER_NAMES] if isinstance(names, list) else []
        return info

    def call(self, op: str, *args, what: str):
        """Run ``op`` in the student's process; its value, or :class:`UserCodeError` / :class:`TargetError`."""
        if time.monotonic() >= self.deadline:
            self._event("timeout")
            raise UserCodeError(f"{what} not run: the check's time limit of {self.limits.total_seconds:g} s ran out")
        if self.proc is None:
            if self.generation >= MAX_STARTS:
                raise UserCodeError(f"{what} not run: the code's process ended {self.generation} times")
            self._start()
        return self._request((op, args), what, self.limits.call_seconds)

    def _start(self) -> dict:
        self.generation += 1
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        root = str(Path(__file__).resolve().parents[2])
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.home),
            "PYTHONPATH": root,
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
            **{k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        }
        prefix = list(NAMESPACES) if namespaces_available() else []
        with open(self.folder / "output.txt", "ab") as out:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "autonet.checking.child", str(req_r), str(rep_w)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                pass_fds=(req_r, rep_w),
                start_new_session=True,
                cwd=self.home,
                env=env,
            )
        os.close(req_r)
        os.close(rep_w)
        self.requests, self.replies = req_w, rep_r
        os.set_blocking(req_w, False)
        setup = {
            "memory_mb": self.limits.memory_mb,
            "cpu_seconds": int(self.limits.total_seconds) + 2,
            "file_mb": self.limits.output_mb,
            "home": str(self.home),
            "hidden": self.hidden,
            "allowed": self.allowed,
            "path": [str(Path(p or ".").absolute()) for p in sys.path],  # a package.module target resolves as here
        }
        startup = min(time.monotonic() + STARTUP_SECONDS, self.deadline)
        self._send(wire.encode("ok", setup), startup, "starting Python")
        if self._receive(startup, "starting Python").get("value") != "ready":
            raise UserCodeError("the checking process did not start")
        name = Path(self.spec.rpartition(":")[0] or self.spec).name if ".py" in self.spec else self.spec
        return self._request(("load", (self.spec,)), f"importing {name}", self.limits.call_seconds)

    def _request(self, request: tuple, what: str, seconds: float):
        deadline = min(time.monotonic() + seconds, self.deadline)
        self._send(wire.encode("ok", list(request)), deadline, what, seconds)
        reply = self._receive(deadline, what, seconds)
        if reply["event"] in ("memory", "output", "forbidden"):
            self._event(reply["event"])
        if reply["status"] == "target":
            raise TargetError(reply["message"])
        if reply["status"] == "user":
            raise UserCodeError(reply["message"])
        if request[0] != "load":
            self.mutated = [m for m in reply["mutated"] if m in MUTATIONS]
        return reply["value"]

    def _send(self, data: bytes, deadline: float, what: str, seconds: float = STARTUP_SECONDS) -> None:
        view = memoryview(data)
        while view:
            self._wait(select.select([], [self.requests], [], max(0.0, deadline - time.monotonic()))[1], what, seconds)
            try:
                view = view[os.write(self.requests, view) :]
            except (BrokenPipeError, BlockingIOError):
                self._died(what)

    def _receive(self, deadline: float, what: str, seconds: float = STARTUP_SECONDS) -> dict:
        (size,) = struct.unpack("<Q", self._read(8, deadline, what, seconds))
        if size > wire.MAX_REPLY:
            self._kill()
            raise UserCodeError(f"{what} returned more than {wire.MAX_REPLY >> 20} MB")
        try:
            return wire.decode(self._read(size, deadline, what, seconds), self.generation)
        except wire.BadReply:
            self._kill()
            raise _garbled(what) from None

    def _read(self, n: int, deadline: float, what: str, seconds: float) -> bytes:
        chunks, got = [], 0
        while got < n:
            self._wait(select.select([self.replies], [], [], max(0.0, deadline - time.monotonic()))[0], what, seconds)
            chunk = os.read(self.replies, min(n - got, 1 << 20))
            if not chunk:
                self._died(what)
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _wait(self, ready: list, what: str, seconds: float) -> None:
        if ready:
            return
        self._kill()
        self._event("timeout")
        if time.monotonic() >= self.deadline - 1e-3:
            raise UserCodeError(
                f"{what} was stopped: the check's time limit of {self.limits.total_seconds:g} s ran out"
            )
        raise UserCodeError(f"{what} took longer than {seconds:g} s")

    def _died(self, what: str):
        code = self._kill()
        self._event("exited")
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        tail = (self.folder / "output.txt").read_bytes()[-300:].decode(errors="replace") if self.generation == 1 else ""
        tail = f"; it printed: ...{' '.join(tail.split())[-150:]}" if "Error" in tail and not self.info else ""
        raise UserCodeError(f"{what} ended its process ({how}){tail}")

    def _event(self, name: str) -> None:
        if name not in self.events:
            self.events.append(name)

    def _kill(self) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for fd in (self.requests, self.replies):
            os.close(fd)
        return proc.wait()


class RemoteTarget(TwoLayerTarget):
    """A two-layer class or function living in a :class:`Sandbox`: each method is one request."""

    def __init__(self, sandbox: Sandbox) -> None:
        info = sandbox.info
        super().__init__(None, info["label"])
        self.sandbox, self.kind = sandbox, info["kind"]
        self.has_scores = self.has_init = info["kind"] == "class"
        self.has_predict, self.has_train = bool(info.get("has_predict")), bool(info.get("has_train"))
        self.short = self.label.rpartition(":")[2] or self.label

    def _call(self, op: str, what: str, *args):
        try:
            return self.sandbox.call(op, *args, what=f"{self.short}.{what}")
        finally:
            self.mutated = self.sandbox.mutated

    @property
    def _loss_call(self) -> str:
        return "loss(X, y, reg)" if self.kind == "class" else "loss_and_grads(params, X, y, reg)"

    def scores(self, params: dict, X: np.ndarray) -> np.ndarray:
        out = self._call("scores", "loss(X)", params, X)
        if not isinstance(out, np.ndarray) or out.ndim != 2:
            raise TargetError(f"{self.label}.loss(X) must return the scores, an (N, C) array")
        return out

    def loss_and_grads(self, params: dict, X: np.ndarray, y: np.ndarray, reg: float):
        out = self._call("loss_and_grads", self._loss_call, params, X, y, reg)
        if not (isinstance(out, list) and len(out) == 2):
            raise _garbled(self._loss_call)
        return _number(out[0], self._loss_call), _arrays(out[1], self._loss_call)

    def loss_fn(self, params: dict, X: np.ndarray, y: np.ndarray, reg: float):
        return lambda: _number(self._call("loss", self._loss_call, params, X, y, reg), self._loss_call)

    def predict(self, params: dict, X: np.ndarray) -> np.ndarray:
        out = self._call("predict", "predict(X)", params, X)
        if not isinstance(out, np.ndarray):
            raise _garbled("predict(X)")
        return out

    def init(self, D: int, H: int, C: int, std: float, seed: int) -> dict:
        what = f"__init__({D}, {H}, {C}, std={std})"
        return _arrays(self._call("init", what, D, H, C, std, seed), what)

    def train(self, X: np.ndarray, y: np.ndarray, options: dict) -> dict:
        what = "train(X, y, X_val, y_val, ...)"
        return _arrays(self._call("train", what, X, y, options), what)


def _garbled(what: str) -> UserCodeError:
    return UserCodeError(f"{what}: its process wrote into the checker's channel")


def _number(x, what: str) -> float:
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return float(x)
    raise _garbled(what)


def _arrays(x, what: str) -> dict:
    if isinstance(x, dict) and all(isinstance(x.get(k), np.ndarray) for k in PARAM_NAMES):
        return {k: x[k] for k in PARAM_NAMES}
    raise _garbled(what)


class RemoteLayers:
    """A ``layers.py`` living in a :class:`Sandbox` (the interface of :class:`~autonet.checking.layers.LocalLayers`)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.functions = list(sandbox.info["functions"])

    def call(self, name: str, *args):
        stale = any(isinstance(a, wire.Handle) and a.generation != self.sandbox.generation for a in args)
        if stale:
            raise UserCodeError(f"{name} not run: the process holding its cache ended")
        return self.sandbox.call("call", name, args, what=name)
