"""Fixtures of the dashboard's browser tests: data directories the embedded PostgreSQL (an
unprivileged user when the tests run as root) can traverse, as in tests/backend."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dirs() -> Iterator[Callable[[str], Path]]:
    made: list[Path] = []

    def make(prefix: str) -> Path:
        made.append(Path(tempfile.mkdtemp(prefix=f"axonize-test-{prefix}-")))
        made[-1].chmod(0o711)
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)
