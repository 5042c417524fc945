"""OTLP wire format: the hand-written span encoder and the exporters."""

from __future__ import annotations
