"""The SDK's version (its own module, so that no module needs the package's ``__init__``)."""

from __future__ import annotations

__version__ = "0.1.0"
