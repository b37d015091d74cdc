"""Run untrusted-input loaders in a child process under a memory and CPU cap.

A loader that segfaults, hangs or grabs gigabytes on a crafted file must not
take the test run down with it: :class:`CappedWorker` keeps one child Python
(``RLIMIT_AS`` and ``RLIMIT_CPU`` set in the child, never in the test process)
that loads one file per request and answers with one line. A crash, a time-out
or a ``MemoryError`` is reported as such, and the next request gets a fresh child.
"""

from __future__ import annotations

import json
import os
import resource
import select
import subprocess
import sys
import textwrap
from pathlib import Path

MEMORY_CAP = 1 << 30  # bytes of address space for the child
CPU_CAP = 300  # CPU seconds for one child's whole life (it is replaced every RESTART_EVERY requests)
RESTART_EVERY = 200

_CHILD = textwrap.dedent("""
    import json, sys, traceback
    import numpy as np
    from autonet.errors import AutonetError
    from autonet.data import load_batch
    from autonet.data.safe_pickle import load_class_names
    from autonet.storage.models import load_model
    from autonet.storage.checkpoints import load_checkpoint
    from autonet.sweep.space import load_space
    from autonet.run import read_json
    from autonet.cli.common import read_config_file
    from autonet.cli.plot import read_run_json
    from pathlib import Path
    LOADERS = {"config": read_config_file, "run-json": lambda p: read_run_json(Path(p)),
               "batch": load_batch, "meta": lambda p: load_class_names(Path(p)), "model": load_model,
               "checkpoint": load_checkpoint, "space": load_space, "json": read_json}
    sys.stdout.write("ready\\n"); sys.stdout.flush()
    for line in sys.stdin:
        kind, path = json.loads(line)
        try:
            LOADERS[kind](path)
            out = ["ok", ""]
        except AutonetError as e:
            out = ["error", str(e)]
        except MemoryError:
            out = ["memory", ""]
        except BaseException as e:
            out = ["other", "".join(traceback.format_exception(e))[-2000:]]
        sys.stdout.write(json.dumps(out) + "\\n"); sys.stdout.flush()
""")


def _limit(memory: int, cpu: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

    return apply


class CappedWorker:
    """One child process that loads files on request, under ``memory`` bytes and ``cpu`` seconds."""

    def __init__(self, memory: int = MEMORY_CAP, cpu: int = CPU_CAP) -> None:
        self.memory, self.cpu = memory, cpu
        self.proc: subprocess.Popen | None = None
        self.served = 0

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
            preexec_fn=_limit(self.memory, self.cpu),
        )
        assert self._line(proc, 60) == "ready"
        return proc

    @staticmethod
    def _line(proc: subprocess.Popen, timeout: float) -> str | None:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        return proc.stdout.readline().strip() if ready else None

    def load(self, kind: str, path: str | os.PathLike, timeout: float = 20) -> tuple[str, str]:
        """``("ok" | "error" | "memory" | "other" | "crash" | "timeout", detail)`` for one file."""
        if self.served >= RESTART_EVERY:
            self.close()
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
            self.served = 0
        self.served += 1
        self.proc.stdin.write(json.dumps([kind, str(path)]) + "\n")
        self.proc.stdin.flush()
        line = self._line(self.proc, timeout)
        if line:
            status, detail = json.loads(line)
            return status, detail
        self.close()
        return ("timeout" if line is None else "crash"), ""

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc = None
