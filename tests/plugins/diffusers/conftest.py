from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from axonize_diffusers import DiffusersInstrumentor  # noqa: E402

from axonize.testing import Capture  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def traced(axonize_capture: Capture) -> Iterator[Capture]:
    """Spans captured in memory with the Diffusers plugin active (uninstrumented after)."""
    assert DiffusersInstrumentor().instrument()
    yield axonize_capture
    DiffusersInstrumentor().uninstrument()
