"""How much each figure group measures: the full run, ``--quick``, and ``--smoke``.

The full sizes are the README's; ``--quick`` takes fewer trials and smaller loads with the same
method; ``--smoke`` runs every group end to end at tiny sizes (minutes on 2 cores), to show that
the bench still works, not to measure anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Sizes:
    trials: int  # caller-cost trials per side (span, record_token, sampled, gpu)
    n: int  # operations per caller-cost trial (record_token: 5x this)
    memory_trials: int  # buffered_bytes_per_span: max(3, this // 2) samples per side
    memory_n: int  # spans per memory sample
    hf_trials: int  # rounds of 5 plain + 5 traced generate calls
    gpu_seconds: float  # how long the GPU sampler's CPU clock is read
    backend_spans: int  # spans sent to axonize-server (512 of them warm it up)
    backend_ref_spans: int  # spans one OTel SDK process sends to it, for the reference rate
    api_calls: int  # calls of each timed API endpoint
    ollama_trials: int  # rounds, each measuring every client state
    ollama_calls: int  # streamed calls per state and round (3x as many non-streamed)
    ollama_warmup: int  # calls per client state before the rounds
    export_n: int  # spans in each end-to-end export burst
    sdk_down_seconds: float  # how long spans are made with the endpoint down, per side
    fuzz_cases: int  # mutated OTLP requests sent to axonize-server
    fault_kills: int  # rounds of kill -9 under load
    fault_load_seconds: float  # load before each kill
    diffusers_trials: int = 31  # rounds of 4 pipeline calls (plugin off and on, 2 lengths)
    relay_spans: int = 200_000  # spans sent through axonize-collector (and straight, for the base)
    relay_queue_mb: float = 64.0  # the relay's queue bound while its destination is down


FULL = Sizes(trials=31, n=5_000, memory_trials=9, memory_n=10_000, hf_trials=15,
             gpu_seconds=10.0, backend_spans=1_000_000, backend_ref_spans=20_000, api_calls=200,
             ollama_trials=41, ollama_calls=100, ollama_warmup=20, export_n=100_000,
             sdk_down_seconds=180.0, fuzz_cases=10_000, fault_kills=3,
             fault_load_seconds=5.0)
QUICK = replace(FULL, trials=5, n=2_000, hf_trials=5, gpu_seconds=3.0, backend_spans=100_000,
                api_calls=20, ollama_trials=5, ollama_calls=40, export_n=20_000,
                sdk_down_seconds=30.0, fuzz_cases=2_000, fault_kills=1, diffusers_trials=9)
SMOKE = Sizes(trials=2, n=200, memory_trials=2, memory_n=500, hf_trials=1, gpu_seconds=0.5,
              backend_spans=2_048, backend_ref_spans=500, api_calls=3, ollama_trials=2,
              ollama_calls=2, ollama_warmup=2, export_n=1_000, sdk_down_seconds=2.0,
              fuzz_cases=50, fault_kills=1, fault_load_seconds=1.0, diffusers_trials=1)

# The collector relay's sizes (bench/relay.py).
QUICK = replace(QUICK, relay_spans=50_000, relay_queue_mb=16.0)
SMOKE = replace(SMOKE, relay_spans=4_096, relay_queue_mb=1.0)
