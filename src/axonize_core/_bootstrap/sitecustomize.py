"""Loaded at interpreter start by ``axonize-instrument`` (this folder is put first on PYTHONPATH).

Starts Axonize from the environment, activates the plugins, then runs any ``sitecustomize`` the
program would have loaded without us.
"""
from __future__ import annotations

from axonize_core._auto import bootstrap

bootstrap(__file__)
