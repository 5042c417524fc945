"""Flush on SIGTERM: the way deployments stop a process (Kubernetes, systemd, docker stop).

Python's default SIGTERM ends the process on the spot, with no ``atexit``: spans still in the
buffer would be lost.  ``init`` (from the main thread) puts :func:`_on_sigterm` in front of the
default: it flushes within a bounded time, then puts the previous disposition back and raises
the signal again, so that the process ends exactly as it would have (killed by SIGTERM, exit
status -15 / 143).  A program that installs its own handler replaces ours and keeps full control:
its own shutdown then runs, and the exit-time flush (``atexit``) covers it.  Servers that
restore the handler they found and re-raise the signal after a graceful shutdown (uvicorn) find
ours and reach it.  SIGINT needs nothing: its KeyboardInterrupt unwinds to the exit-time flush.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from axonize_core._log import debug_once

_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class _SigtermFlush:
    """What our handler needs: how to flush, for how long, and what it replaced."""

    def __init__(self) -> None:
        self.flush: Callable[[float], Any] | None = None
        self.timeout_s = 5.0
        self.previous: _Handler = None
        self.installed = False


_STATE = _SigtermFlush()


def install(flush: Callable[[float], Any], timeout_s: float) -> bool:
    """Flush on SIGTERM if the process would otherwise die with its buffer (default handler).

    Returns whether our handler is in place.  Only the main thread can install signal handlers;
    a handler the program installed itself is left alone.
    """
    _STATE.flush = flush
    _STATE.timeout_s = timeout_s
    if _STATE.installed:
        return signal.getsignal(signal.SIGTERM) is _on_sigterm
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current not in (signal.SIG_DFL, None):
            return False  # the program's own, or ignored: theirs to keep
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # no signals here (e.g. some embedders)
        return False
    _STATE.previous = current
    _STATE.installed = True
    return True


def uninstall() -> None:
    """Put the previous disposition back, if ours is still the one installed."""
    if not _STATE.installed:
        return
    try:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGTERM) is _on_sigterm):
            signal.signal(signal.SIGTERM, _STATE.previous or signal.SIG_DFL)
            _STATE.installed = False
    except (ValueError, OSError):
        pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    flush = _STATE.flush
    if flush is not None:
        try:
            flush(_STATE.timeout_s)
        except Exception:
            debug_once("sigterm-flush", "axonize: flush on SIGTERM failed", exc_info=True)
    previous = _STATE.previous
    _STATE.installed = False
    if callable(previous):
        signal.signal(signum, previous)
        previous(signum, frame)
        return
    # The default: end the process by the signal itself, as it would have ended without us.
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)
