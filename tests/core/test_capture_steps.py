"""``AXONIZE_CAPTURE_STEPS``: off by default, on from the environment or ``axonize.init``, and
what plugins read through the plugin API."""

from __future__ import annotations

import pytest

import axonize
from axonize_core._config import load_config
from axonize_core.instrumentation import capture_steps_enabled


def test_off_by_default_and_before_init() -> None:
    assert load_config({}).capture_steps is False
    axonize.shutdown()
    assert capture_steps_enabled() is False


def test_environment_and_keyword_turn_it_on() -> None:
    assert load_config({"AXONIZE_CAPTURE_STEPS": "true"}).capture_steps is True
    assert load_config({"AXONIZE_CAPTURE_STEPS": "0"}, capture_steps=True).capture_steps is True


@pytest.mark.axonize_lenient  # the ignored environment value is logged as a warning
def test_a_bad_value_is_refused() -> None:
    assert load_config({"AXONIZE_CAPTURE_STEPS": "maybe"}).capture_steps is False
    with pytest.raises(ValueError, match="capture_steps"):
        load_config({}, capture_steps="maybe")


def test_plugins_see_the_running_setting() -> None:
    axonize.init(exporter="none", capture_steps=True)
    assert capture_steps_enabled() is True
    axonize.shutdown()
    axonize.init(exporter="none")
    assert capture_steps_enabled() is False
