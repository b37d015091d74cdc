"""The process that runs a student's code: it only computes, the checker (its parent) judges.

Started by :class:`autonet.checking.sandbox.Sandbox` as ``python -s -B -m autonet.checking.child FD``, FD one end
of a socket pair. It reads requests from its parent in the :mod:`autonet.checking.wire` format, calls the student's code
through :mod:`autonet.checking.target` and writes each result as plain numbers
(:mod:`autonet.checking.wire`). Before the student's code is imported it caps
its own memory, CPU time and file sizes, and installs an audit hook that
refuses new processes, sockets, signals to other processes, native libraries
loaded by the student's code, and files opened for writing outside its home
folder or for reading inside the folders the parent hides.
"""

from __future__ import annotations

import inspect
import os
import resource
import signal
import socket
import sys
from typing import Any

import numpy as np

from autonet.checking import target, wire
from autonet.checking.target import (
    TargetError,
    TwoLayerTarget,
    UserCodeError,
    guarded,
    one_line,
    two_layer_target,
)

BLOCKED_EVENTS = set(  # new processes, the network, signals, native code
    "os.fork os.forkpty os.system os.exec os.posix_spawn os.spawn subprocess.Popen socket.__new__ socket.connect "
    "socket.bind os.kill os.killpg ctypes.dlopen ctypes.dlsym _thread.start_new_thread".split()
)
ARRAY_NAMES = {"scores": "scores", "predict": "predict(X)", "loss_and_grads": "d{}"}  # in "... not of numbers"


def _audit(home: str, hidden: list[str], allowed: list[str]):
    home = os.path.realpath(home) + os.sep

    def hook(event: str, args: tuple) -> None:
        if event in BLOCKED_EVENTS:
            raise PermissionError(f"{event} is not allowed while checking")
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.path.realpath(os.fsdecode(args[0]))
            writing = (isinstance(args[1], str) and any(c in args[1] for c in "wax+")) or (
                isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            )
            if writing and not path.startswith(home):
                raise PermissionError(f"writing {path} is not allowed while checking")
            if any((path + os.sep).startswith(h) for h in hidden) and not any(path.startswith(a) for a in allowed):
                raise PermissionError(f"reading {path} is not allowed while checking")

    sys.addaudithook(hook)


class Child:
    """The student's target (a two-layer class or function, or a module of layers) and the handles it returned."""

    def __init__(self) -> None:
        self.target: TwoLayerTarget | None = None
        self.layers: Any = None
        self.handles: dict[int, object] = {}

    def load(self, spec: str) -> dict:
        """What ``spec`` is: ``{"kind": "layers", "functions": [...]}`` or a two-layer class/function."""
        from autonet.checking.check import find_target
        from autonet.checking.layers import layer_functions

        obj, label = find_target(spec)
        if inspect.ismodule(obj):
            self.layers = obj
            return {"kind": "layers", "functions": layer_functions(obj), "label": label}
        target = self.target = two_layer_target(obj, label)
        return {"kind": target.kind, "label": label, "has_predict": target.has_predict, "has_train": target.has_train}

    def run(self, op, args):
        """The value of request ``op``: ``load``, ``call`` or a method of the two-layer target, arrays as numbers."""
        if op in ("load", "call"):
            return getattr(self, op)(*args)
        value = self.target.loss_fn(*args)() if op == "loss" else getattr(self.target, op)(*args)
        return _plain(value, ARRAY_NAMES.get(op, "{}"))

    def call(self, name, args):
        """A layer function; what is not an array or number in its result stays here as a handle."""
        args = [self.handles[a.id] if isinstance(a, wire.Handle) else a for a in args]
        out = guarded(lambda: getattr(self.layers, name)(*args), name)
        return [self._leaf(x) for x in out[:8]] if isinstance(out, (tuple, list)) else self._leaf(out)

    def _leaf(self, x):
        if isinstance(x, (np.ndarray, int, float, np.generic)) and not isinstance(x, bool):
            try:
                return _numbers(x, "a returned value")
            except UserCodeError:
                pass
        self.handles[len(self.handles)] = x
        return wire.Handle(len(self.handles) - 1)


def _plain(x, what: str):
    """``x`` with each array as numbers; ``what`` names an array in the error (``{}``: its key)."""
    if isinstance(x, (tuple, list)):
        return [_plain(v, what) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v, what.format(k)) for k, v in x.items()}
    return _numbers(x, what) if isinstance(x, np.ndarray) else x


def _numbers(x, what: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise UserCodeError(f"{what} is an array of {arr.dtype}, not of numbers") from None
    return arr


def _reply(child: Child, op: str, args: tuple) -> bytes:
    try:
        value = child.run(op, args)
        return wire.encode("ok", value, mutated=child.target.mutated if child.target else [])
    except BaseException as e:  # the student's code, however it fails (its exceptions are already one line)
        message = str(e) if isinstance(e, (UserCodeError, TargetError)) else f"{op} raised {one_line(e)}"
        events = {"MemoryError": "memory", "File too large": "output", "is not allowed while checking": "forbidden"}
        event = next((name for words, name in events.items() if words in message), "")
        return wire.encode("target" if isinstance(e, TargetError) else "user", message=message, event=event)


def main(argv: list[str]) -> None:
    channel = socket.socket(fileno=int(argv[0]))  # before the audit hook, which refuses new sockets
    requests = channel.makefile("rb")
    _, setup = wire.decode(wire.read_message(requests))["value"]
    for name, value in setup["limits"].items():
        resource.setrlimit(getattr(resource, name), (value, value))
    sys.path[:] = setup["path"]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # so a KeyboardInterrupt is the student's own: a failed check
    target.REAL_INTERRUPTS = False
    _audit(setup["home"], setup["hidden"], setup["allowed"])
    os.chdir(setup["home"])
    child = Child()
    channel.sendall(wire.encode("ok", "ready"))
    while True:
        try:
            op, args = wire.decode(wire.read_message(requests))["value"]
        except EOFError:
            return
        channel.sendall(_reply(child, op, args))


if __name__ == "__main__":
    main(sys.argv[1:])
    os._exit(0)  # no atexit handler or never-ending thread of the student's delays the exit
