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

import contextlib
import functools
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from autonet.checking import wire
from autonet.checking.layers import LAYER_NAMES
from autonet.checking.target import PARAM_NAMES, TargetError, TwoLayerTarget, UserCodeError

STARTUP_SECONDS = 30.0  # Python and NumPy starting, before the student's code is imported
MAX_STARTS = 4
NAMESPACES = ("unshare", "--user", "--net", "--pid", "--fork", "--kill-child")
MUTATIONS = {"X", *(f"params[{k!r}]" for k in PARAM_NAMES)}
KINDS = ("layers", "class", "function")
REPLIES: dict[str, Any] = {"scores": "scores", "loss": "number", "predict": "array", "init": "params"}
REPLIES |= {"train": "params", "loss_and_grads": ("number", "params")}  # what each reply must be


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


class Sandbox(contextlib.AbstractContextManager["Sandbox"]):
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
        hidden = (*hidden, str(Path(tempfile.gettempdir()) / "autonet-check-"))  # other checks' homes and copies
        self.hidden = [str(Path(h).resolve()) + (os.sep if Path(h).is_dir() else "") for h in hidden]
        self.folder = Path(tempfile.mkdtemp(prefix="autonet-check-"))
        self.home = self.folder / "home"
        self.home.mkdir()
        self.allowed = [str(Path(a).resolve()) + os.sep for a in [*allowed, str(self.folder)]]
        self.deadline = time.monotonic() + self.limits.total_seconds
        self.proc: subprocess.Popen | None = None
        self.generation = 0  # processes started so far; a cache handle names the one holding it
        self.info: dict = {}
        self.events: dict[str, None] = {}  # in order: what stopped or hurt the code (timeout, memory, output, ...)
        self.mutated: list[str] = []  # what the last call changed in place

    def __exit__(self, *exc) -> None:
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
            self.events["timeout"] = None
            raise UserCodeError(f"{what} not run: the check's time limit of {self.limits.total_seconds:g} s ran out")
        if self.proc is None:
            if self.generation >= MAX_STARTS:
                raise UserCodeError(f"{what} not run: the code's process ended {self.generation} times")
            self._start()
        return self._request((op, args), what, self.limits.call_seconds)

    def _start(self) -> dict:
        self.generation += 1
        self.channel, theirs = socket.socketpair()  # one end each, both directions
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "TMPDIR": str(self.home),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),  # autonet, as here
            "LANG": "C.UTF-8",
            **{k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
        }
        prefix = list(NAMESPACES) if namespaces_available() else []
        with open(self.folder / "output.txt", "ab") as out:  # -s: no user site-packages, -B: no .pyc written
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-s", "-B", "-m", "autonet.checking.child", str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
                cwd=self.home,
                env=env,
            )
        theirs.close()
        limits = self.limits
        setup = {
            "limits": {  # resource name -> the bound the process sets on itself before importing the code
                "RLIMIT_AS": limits.memory_mb << 20,
                "RLIMIT_CPU": int(limits.total_seconds) + 2,
                "RLIMIT_FSIZE": limits.output_mb << 20,
                "RLIMIT_CORE": 0,
            },
            "home": str(self.home),
            "hidden": self.hidden,
            "allowed": self.allowed,
            "path": [str(Path(p or ".").absolute()) for p in sys.path],  # a package.module target resolves as here
        }
        if self._request(("setup", setup), "starting Python", STARTUP_SECONDS) != "ready":
            raise UserCodeError("the checking process did not start")
        name = Path(self.spec.rpartition(":")[0] or self.spec).name if ".py" in self.spec else self.spec
        return self._request(("load", (self.spec,)), f"importing {name}", limits.call_seconds)

    def _request(self, request: tuple, what: str, seconds: float):
        deadline = min(time.monotonic() + seconds, self.deadline)
        self._io(self.channel.sendall, wire.encode("ok", list(request)), deadline, what, seconds)
        (size,) = struct.unpack("<Q", self._read(8, deadline, what, seconds))
        if size > wire.MAX_REPLY:
            self._kill()
            raise UserCodeError(f"{what} returned more than {wire.MAX_REPLY >> 20} MB")
        try:
            reply = wire.decode(self._read(size, deadline, what, seconds), self.generation)
        except wire.BadReply:
            self._kill()
            raise _garbled(what) from None
        if reply["event"] in ("memory", "output", "forbidden"):
            self.events[reply["event"]] = None
        if reply["status"] == "target":
            raise TargetError(reply["message"])
        if reply["status"] == "user":
            raise UserCodeError(reply["message"])
        if request[0] not in ("setup", "load"):
            self.mutated = [m for m in reply["mutated"] if m in MUTATIONS]
        return reply["value"]

    def _read(self, n: int, deadline: float, what: str, seconds: float) -> bytes:
        chunks: list[bytes] = []
        while n > 0:
            chunks.append(self._io(self.channel.recv, min(n, 1 << 20), deadline, what, seconds))
            if not chunks[-1]:
                self._died(what)
            n -= len(chunks[-1])
        return b"".join(chunks)

    def _io(self, method, arg, deadline: float, what: str, seconds: float):
        """``method(arg)`` on the channel; the process killed if ``deadline`` passes first, or if it has ended."""
        self.channel.settimeout(max(deadline - time.monotonic(), 1e-3))
        try:
            return method(arg)
        except TimeoutError:
            self._kill()
            self.events["timeout"] = None
            if time.monotonic() >= self.deadline - 1e-3:
                raise UserCodeError(
                    f"{what} was stopped: the check's time limit of {self.limits.total_seconds:g} s ran out"
                ) from None
            raise UserCodeError(f"{what} took longer than {seconds:g} s") from None
        except OSError:  # a broken or reset channel: the process ended
            self._died(what)

    def _died(self, what: str) -> NoReturn:
        code = self._kill()
        self.events["exited"] = None
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        tail = (self.folder / "output.txt").read_bytes()[-300:].decode(errors="replace") if self.generation == 1 else ""
        tail = f"; it printed: ...{' '.join(tail.split())[-150:]}" if "Error" in tail and not self.info else ""
        raise UserCodeError(f"{what} ended its process ({how}){tail}")

    def _kill(self) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.channel.close()
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
        self.loss_call = "loss(X, y, reg)" if self.kind == "class" else "loss_and_grads(params, X, y, reg)"

    def _call(self, op: str, what: str, *args):
        try:
            out = self.sandbox.call(op, *args, what=f"{self.short}.{what}")
        finally:
            self.mutated = self.sandbox.mutated
        if not _fits(out, REPLIES[op]):
            raise _garbled(what)
        return out

    def scores(self, params: dict, X: np.ndarray) -> np.ndarray:
        return self._call("scores", "loss(X)", params, X)

    def loss_and_grads(self, params: dict, X: np.ndarray, y: np.ndarray, reg: float):
        return tuple(self._call("loss_and_grads", self.loss_call, params, X, y, reg))

    def loss_fn(self, params: dict, X: np.ndarray, y: np.ndarray, reg: float):
        return lambda: self._call("loss", self.loss_call, params, X, y, reg)

    def predict(self, params: dict, X: np.ndarray) -> np.ndarray:
        return self._call("predict", "predict(X)", params, X)

    def init(self, D: int, H: int, C: int, std: float, seed: int) -> dict:
        return self._call("init", f"__init__({D}, {H}, {C}, std={std})", D, H, C, std, seed)

    def train(self, X: np.ndarray, y: np.ndarray, options: dict) -> dict:
        return self._call("train", "train(X, y, X_val, y_val, ...)", X, y, options)


def _garbled(what: str) -> UserCodeError:
    return UserCodeError(f"{what}: its process wrote into the checker's channel")


def _fits(x, kind) -> bool:
    """Whether a reply is of ``kind`` (a value of :data:`REPLIES`)."""
    if isinstance(kind, tuple):
        return isinstance(x, list) and len(x) == len(kind) and all(map(_fits, x, kind))
    if kind == "number":
        return isinstance(x, float)
    if kind == "params":
        return isinstance(x, dict) and list(x) == list(PARAM_NAMES) and all(_fits(v, "array") for v in x.values())
    return isinstance(x, np.ndarray) and (kind == "array" or x.ndim == 2)


class RemoteLayers:
    """A ``layers.py`` living in a :class:`Sandbox` (the interface of :class:`~autonet.checking.layers.LocalLayers`)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.functions = list(sandbox.info["functions"])

    def call(self, name: str, *args):
        if any(isinstance(a, wire.Handle) and a.generation != self.sandbox.generation for a in args):
            raise UserCodeError(f"{name} not run: the process holding its cache ended")
        return self.sandbox.call("call", name, args, what=name)
