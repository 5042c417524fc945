"""The plugin framework: lazy patching on import, failures that leave the framework untouched,
selection by name, and content capture."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest
import wrapt

import axonize
from axonize_core._config import load_config
from axonize_core._plugins import discover
from axonize_core.instrumentation import (
    BaseInstrumentor,
    capture_content,
    check_requirements,
    unwrap,
)


@pytest.fixture
def fake_framework(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module that is not imported yet, as a framework would be."""
    name = "fake_framework_xyz"
    (tmp_path / f"{name}.py").write_text(
        "def generate(prompt):\n    return prompt.upper()\n\n"
        "def other(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def make_instrumentor(module: str, fail: bool = False) -> type[BaseInstrumentor]:
    class FakeInstrumentor(BaseInstrumentor):
        name = "fake"
        hook_module = module

        def instrumentation_dependencies(self) -> Collection[str]:
            return ("pytest >= 7",)

        def _instrument(self, **kwargs: Any) -> None:
            def traced(wrapped: Any, instance: Any, args: Any, kw: Any) -> Any:
                with axonize.span("fake.generate"):
                    return wrapped(*args, **kw)

            wrapt.wrap_function_wrapper(module, "generate", traced)
            if fail:
                wrapt.wrap_function_wrapper(module, "other", traced)
                raise RuntimeError("framework changed its internals")

        def _uninstrument(self, **kwargs: Any) -> None:
            mod = sys.modules[module]
            for attr in ("generate", "other"):
                unwrap(mod, attr)

    return FakeInstrumentor


def test_patches_when_the_framework_is_imported_later(traced: Any, fake_framework: str) -> None:
    inst = make_instrumentor(fake_framework)()
    assert fake_framework not in sys.modules
    assert inst.instrument()
    assert not inst.is_instrumented  # nothing to patch yet
    mod = importlib.import_module(fake_framework)
    assert inst.is_instrumented
    assert mod.generate("hi") == "HI"
    axonize.flush(5)
    assert [s.name for s in traced.wait_for_spans(1)] == ["fake.generate"]
    inst.uninstrument()
    assert not isinstance(mod.generate, wrapt.FunctionWrapper)


@pytest.mark.axonize_lenient  # breaks Axonize on purpose
def test_failed_patch_is_reverted_and_logged(fake_framework: str,
                                             caplog: pytest.LogCaptureFixture) -> None:
    mod = importlib.import_module(fake_framework)
    originals = (mod.generate, mod.other)
    with caplog.at_level(logging.WARNING, logger="axonize"):
        assert make_instrumentor(fake_framework, fail=True)().instrument() is False
    assert (mod.generate, mod.other) == originals
    assert "could not patch" in caplog.text and "left as it was" in caplog.text
    assert mod.generate("ok") == "OK"


def test_requirement_check_names_the_problem() -> None:
    assert check_requirements(["pytest >= 7"]).ok
    missing = check_requirements(["no-such-dist-xyz >= 1"])
    assert not missing.ok and "not installed" in missing.reason
    too_new = check_requirements(["pytest < 1"])
    assert not too_new.ok and "outside the supported range" in too_new.reason


def test_selection_by_name() -> None:
    plugins = {p.name: p for p in discover(load_config({"AXONIZE_PLUGINS": "vllm"}))}
    assert plugins["transformers"].will_activate is False
    assert plugins["transformers"].reason == "not listed in AXONIZE_PLUGINS"
    plugins = {p.name: p for p in discover(load_config({}))}
    assert plugins["transformers"].selected


def test_content_capture_is_off_by_default_and_truncates(sink: Any) -> None:
    axonize.init(endpoint=sink.endpoint)
    assert capture_content("a prompt") is None
    axonize.init(endpoint=sink.endpoint, capture_content=True, max_content_length=5)
    assert capture_content("a long prompt") == "a lon…"
