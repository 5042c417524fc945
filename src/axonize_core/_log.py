"""Axonize's own logging: internal errors are swallowed and logged at debug level.

``AXONIZE_DEBUG=1`` (or ``axonize.init(debug=True)``) shows them on stderr.

``AXONIZE_STRICT=1`` (for test runs) stops the swallowing: every error that :func:`debug_once`
would log is recorded in :data:`STRICT` and, on the caller's own thread, raised again; errors on
Axonize's threads (exporter, GPU sampler), which nothing could catch, and warnings of the
``axonize`` logger are only recorded.  :mod:`axonize.testing` fails the test that recorded any.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback

logger = logging.getLogger("axonize")

_seen: set[str] = set()

_TRUE = ("1", "true", "yes", "on")


class StrictModeError(RuntimeError):
    """A failure the SDK would have swallowed without an exception to re-raise (strict mode)."""


class _StrictWarnings(logging.Handler):
    """Records the SDK's warnings (e.g. "tracing disabled") in strict mode: the ``axonize``
    logger's own, not those of its children (``axonize.server`` is the backend's)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == logger.name:
            STRICT.record(f"{record.levelname.lower()}: {record.getMessage()}")


class _Strict:
    """Strict mode's switch and what it recorded (one entry per swallowed error, with its
    traceback if any), oldest first."""

    __slots__ = ("_handler", "_on", "errors")

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._on = False
        # Attached only while strict mode is on: any handler on "axonize" would otherwise stop
        # Python's last-resort handler from printing our warnings in unconfigured programs.
        self._handler = _StrictWarnings()
        self.on = os.environ.get("AXONIZE_STRICT", "").strip().lower() in _TRUE

    @property
    def on(self) -> bool:
        return self._on

    @on.setter
    def on(self, value: bool) -> None:
        self._on = bool(value)
        if self._on:
            if self._handler not in logger.handlers:
                logger.addHandler(self._handler)
        else:
            logger.removeHandler(self._handler)

    def record(self, text: str) -> None:
        self.errors.append(f"[{threading.current_thread().name}] {text}")

    def drain(self) -> list[str]:
        """What was recorded since the last drain (and forget it)."""
        out, self.errors = self.errors, []
        return out


STRICT = _Strict()


def enable_debug() -> None:
    if any(getattr(h, "_axonize", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s axonize %(levelname)s %(message)s"))
    handler._axonize = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def debug_once(key: str, msg: str, *args: object, exc_info: bool = False) -> None:
    """Log ``msg`` once per ``key`` (repeated failures must not flood the user's logs).

    In strict mode: record every occurrence, and raise it again unless on an Axonize thread.
    """
    if STRICT.on:
        _strict(msg, args)
    if key in _seen:
        return
    _seen.add(key)
    logger.debug(msg, *args, exc_info=exc_info)


def _strict(msg: str, args: tuple[object, ...]) -> None:
    try:
        text = msg % args if args else msg
    except Exception:
        text = msg
    exc = sys.exc_info()[1]
    if exc is None:
        STRICT.record(text)
        error: BaseException = StrictModeError(text)
    else:
        STRICT.record(f"{text}\n{''.join(traceback.format_exception(exc)).rstrip()}")
        error = exc
        if hasattr(error, "add_note"):  # Python 3.11+
            error.add_note(f"(swallowed in production; raised by AXONIZE_STRICT: {text})")
    if not threading.current_thread().name.startswith("axonize"):
        raise error


if os.environ.get("AXONIZE_DEBUG", "").strip().lower() in _TRUE:
    enable_debug()
