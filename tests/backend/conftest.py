"""Fixtures of the backend tests.

The embedded PostgreSQL runs as an unprivileged user when the tests run as root, and pytest's
temporary folders are private to their owner (``/tmp/pytest-of-root`` is mode 0700): data
directories of servers under test live in folders of their own that others may traverse.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from axonize_testsupport.backend_server import BackendServer


def _traversable_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"axonize-test-{prefix}-"))
    path.chmod(0o711)
    return path


@pytest.fixture(scope="session")
def data_dirs() -> Iterator[Callable[[str], Path]]:
    """Makes data directories for servers under test (removed at the end of the session)."""
    made: list[Path] = []

    def make(prefix: str) -> Path:
        made.append(_traversable_dir(prefix))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest,
           data_dirs: Callable[[str], Path]) -> Iterator[BackendServer]:
    """The backend in-process on its embedded stores (chDB, PostgreSQL), one per test module:
    chDB lets a process own one data directory at a time.  Each test makes its own tenant.
    Modules that need other settings define their own ``server``."""
    from axonize_testsupport.backend_server import BackendServer

    srv = BackendServer(data_dirs(request.module.__name__.rsplit(".", 1)[-1]) / "data")
    yield srv
    srv.stop()
