"""The console exporter's line (and ``axonize summary``'s tree) shows a diffusion span's rates."""

from __future__ import annotations

from axonize_core._summary import format_span_line


def test_a_diffusion_span_line_shows_steps_and_images_per_second() -> None:
    span = {"name": "image_generation tiny-sd", "startTimeUnixNano": "1000000000",
            "endTimeUnixNano": "1500000000", "traceId": "ab" * 16, "spanId": "cd" * 8,
            "attributes": [
                {"key": "ai.diffusion.steps_per_second", "value": {"doubleValue": 12.5}},
                {"key": "ai.diffusion.images_per_second", "value": {"doubleValue": 2.0}},
            ]}
    line = format_span_line(span)
    assert "500.00 ms  12.5 steps/s  2.00 img/s  trace=abababab" in line
