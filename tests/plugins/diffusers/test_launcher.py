"""Zero code: the plain Diffusers example under ``axonize-instrument``, spans over real
OTLP/gRPC to a local sink."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from axonize_testsupport.otlp_sink import GrpcSink, attrs

ROOT = Path(__file__).resolve().parents[3]


def test_the_example_runs_unchanged_under_the_launcher(sink: GrpcSink) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AXONIZE_", "OTEL_"))}
    launcher = Path(sys.executable).with_name("axonize-instrument")
    proc = subprocess.run(
        [str(launcher), "--service-name", "diffusers-svc", sys.executable,
         str(ROOT / "examples" / "diffusers_integration.py")],
        env={**clean, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "HF_HUB_OFFLINE": "1"},
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "unconditional: 3 images of (16, 16)" in proc.stdout
    spans = sink.wait_for_spans(3)
    assert [s.name for s in spans] == ["image_generation tiny-sd", "image_generation tiny-sd",
                                       "image_generation SeededDDPM"]
    first, sliced, own = (attrs(s.attributes) for s in spans)
    assert {k: first[k] for k in ("ai.diffusion.steps", "ai.diffusion.images",
                                  "ai.diffusion.height", "ai.diffusion.scheduler",
                                  "ai.diffusion.vae.slicing", "gen_ai.operation.name")} == {
        "ai.diffusion.steps": 8, "ai.diffusion.images": 2, "ai.diffusion.height": 64,
        "ai.diffusion.scheduler": "EulerDiscreteScheduler", "ai.diffusion.vae.slicing": False,
        "gen_ai.operation.name": "image_generation"}
    assert (sliced["ai.diffusion.vae.slicing"], sliced["ai.diffusion.images"]) == (True, 2)
    assert (own["ai.diffusion.steps"], own["ai.diffusion.images"]) == (10, 3)
    for a in (first, sliced, own):
        assert a["ai.diffusion.denoise_ms"] > 0 and a["ai.diffusion.steps_per_second"] > 0
