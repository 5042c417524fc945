"""Axonize's own logging: internal errors are swallowed and logged at debug level.

``AXONIZE_DEBUG=1`` (or ``axonize.init(debug=True)``) shows them on stderr.
"""

from __future__ import annotations

import logging
import os
import sys

logger = logging.getLogger("axonize")

_seen: set[str] = set()


def enable_debug() -> None:
    if any(getattr(h, "_axonize", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s axonize %(levelname)s %(message)s"))
    handler._axonize = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def debug_once(key: str, msg: str, *args: object, exc_info: bool = False) -> None:
    """Log ``msg`` once per ``key`` (repeated failures must not flood the user's logs)."""
    if key in _seen:
        return
    _seen.add(key)
    logger.debug(msg, *args, exc_info=exc_info)


if os.environ.get("AXONIZE_DEBUG", "").strip().lower() in ("1", "true", "yes", "on"):
    enable_debug()
