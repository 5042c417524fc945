"""Start-up of an instrumented program (see ``_bootstrap/sitecustomize.py``)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

from axonize_core._log import logger


def bootstrap(sitecustomize_file: str) -> None:
    try:
        from axonize_core._plugins import activate_plugins
        from axonize_core._runtime import init

        cfg = init()
        active = activate_plugins(cfg)
        logger.debug("axonize: instrumented, plugins active: %s", ", ".join(active) or "none")
    except Exception as exc:  # never stop the program from starting
        logger.warning("axonize: instrumentation failed to start: %s", exc)
    _chain_sitecustomize(os.path.dirname(os.path.abspath(sitecustomize_file)))


def _chain_sitecustomize(our_dir: str) -> None:
    """Run the ``sitecustomize`` that ours shadowed, if there is one."""
    path = [p for p in sys.path if os.path.abspath(p or ".") != our_dir]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None or not spec.origin:
        return
    if os.path.dirname(os.path.abspath(spec.origin)) == our_dir:
        return
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as exc:
        logger.warning("axonize: the program's own sitecustomize failed: %s", exc)
