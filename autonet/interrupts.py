"""Ctrl-C (SIGINT) and SIGTERM as a clean stop instead of a traceback.

While training runs inside :meth:`InterruptGuard.deferred`, the first signal
only sets a flag: the trainer finishes its current iteration, the
:meth:`InterruptGuard.check` callback raises :class:`Interrupted`, and the
caller saves a checkpoint (see :func:`autonet.run.run`). Outside that
window (loading data, writing results) the first signal raises
:class:`Interrupted` at once. A second signal always exits at once with
``SystemExit(128 + signum)``, without a checkpoint; the previous checkpoint
file stays intact because every write is atomic.

Exit statuses follow the shell convention: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Training was stopped by a signal (a KeyboardInterrupt, so ``except Exception`` lets it pass).

    Attributes
    ----------
    signum : the signal number
    exit_code : ``128 + signum`` (130 for SIGINT, 143 for SIGTERM)
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        self.signame = signal.Signals(signum).name
        self.exit_code = 128 + self.signum
        self.checkpoint: str | None = None  # "PATH (iteration N)" once the caller has saved one
        super().__init__(self.signame)


class InterruptGuard:
    """Context manager installing the SIGINT/SIGTERM handlers (main thread only).

    Use::

        with InterruptGuard() as guard:
            with guard.deferred():
                trainer.callbacks.append(guard.check)
                trainer.fit()          # raises Interrupted between iterations

    Off the main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self, stream=None) -> None:
        self.stream = stream
        self.signum: int | None = None
        self._defer = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for s in SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous.clear()

    def _say(self, text: str) -> None:
        print(text, file=self.stream or sys.stderr, flush=True)

    def _handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            self._say(f"{name} again: exiting at once, without a new checkpoint")
            raise SystemExit(128 + signum)
        self.signum = signum
        if not self._defer:
            raise Interrupted(signum)
        self._say(
            f"{name} received: stopping after this iteration to write a checkpoint (press Ctrl-C again to quit at once)"
        )

    @contextmanager
    def deferred(self) -> Iterator[InterruptGuard]:
        """Within this block the first signal only sets a flag for :meth:`check`."""
        self.check()
        self._defer = True
        try:
            yield self
        finally:
            self._defer = False

    def check(self, event: str | None = None, trainer=None) -> None:
        """Raise :class:`Interrupted` if a signal has arrived (usable as a trainer callback)."""
        if self.signum is not None:
            raise Interrupted(self.signum)
