"""What a span needs to know about an engine: model name, devices, and whether the plugin turned
its per-request stats on (cached on the engine object, read once)."""

from __future__ import annotations

from typing import Any

from axonize_core.instrumentation import log_internal_error

HIDDEN_STATS = "_axonize_hidden_stats"  # set on an LLMEngine whose stats the plugin turned on
_INFO = "_axonize_info"


class EngineInfo:
    """Model name and GPU devices of one engine (``LLM`` or ``AsyncLLM``)."""

    __slots__ = ("gpus", "model")

    def __init__(self, model: str | None, gpus: tuple[str, ...] | None) -> None:
        self.model = model
        self.gpus = gpus


def engine_info(owner: Any, vllm_config: Any) -> EngineInfo:
    info: EngineInfo | None = owner.__dict__.get(_INFO)
    if info is None:
        info = EngineInfo(_model_name(vllm_config), _devices(vllm_config))
        try:
            owner.__dict__[_INFO] = info
        except Exception:
            pass
    return info


def _model_name(vllm_config: Any) -> str | None:
    model_config = getattr(vllm_config, "model_config", None)
    if model_config is None:
        return None
    served = getattr(model_config, "served_model_name", None)
    if isinstance(served, (list, tuple)):
        served = served[0] if served else None
    return str(served or getattr(model_config, "model", "") or "") or None


def _devices(vllm_config: Any) -> tuple[str, ...] | None:
    """``cuda:0`` .. ``cuda:{tp*pp-1}``: the devices of this engine's workers, as this process
    numbers them (vLLM places rank i on local device i).  None off CUDA (CPU, TPU, ...)."""
    try:
        device_config = getattr(vllm_config, "device_config", None)
        kind = str(getattr(device_config, "device_type", "") or "")
        if kind != "cuda":
            return None
        parallel = vllm_config.parallel_config
        world = int(getattr(parallel, "world_size", 1) or 1)
        return tuple(f"cuda:{i}" for i in range(world))
    except Exception:
        log_internal_error("vllm-devices", "axonize: could not read vLLM's devices")
        return None
