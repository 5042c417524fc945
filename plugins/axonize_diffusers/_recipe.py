"""What a pipeline call asks for and how the pipeline is set up: read once per call."""

from __future__ import annotations

import inspect
import os
import weakref
from itertools import islice
from typing import Any

from axonize_core.instrumentation import semconv

_PARAMS: weakref.WeakKeyDictionary[type, tuple[tuple[str, ...], dict[str, Any], str]] = (
    weakref.WeakKeyDictionary())
_ATTENTION: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_ACCELERATORS = ("cuda", "mps", "xpu", "npu")
_VIDEO_PACKAGES = frozenset((
    "allegro", "animatediff", "cogvideo", "consisid", "easyanimate", "hunyuan_video",
    "hunyuan_video1_5", "i2vgen_xl", "latte", "ltx", "ltx2", "mochi", "pia", "skyreels_v2",
    "stable_video_diffusion", "text_to_video_synthesis", "wan", "sana_video", "kandinsky5",
))
_AUDIO_PACKAGES = frozenset((
    "audioldm", "audioldm2", "dance_diffusion", "musicldm", "stable_audio", "aura_flow_audio",
))
#: Keyword arguments that mean "outputs per prompt" in image, video and audio pipelines.
_PER_PROMPT = ("num_images_per_prompt", "num_videos_per_prompt", "num_waveforms_per_prompt")
#: Components that are (or hold) the denoising network, in the order they are looked for.
_DENOISERS = ("unet", "transformer", "prior", "decoder", "transformer_2")


def _signature(cls: type) -> tuple[tuple[str, ...], dict[str, Any], str]:
    """(parameter names after self, defaults, operation) of ``cls.__call__``, cached."""
    cached = _PARAMS.get(cls)
    if cached is None:
        names: list[str] = []
        defaults: dict[str, Any] = {}
        try:
            params = list(inspect.signature(cls.__call__).parameters.values())[1:]
        except (TypeError, ValueError):
            params = []
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            names.append(p.name)
            if p.default is not p.empty:
                defaults[p.name] = p.default
        cached = (tuple(names), defaults, _operation(cls, defaults))
        _PARAMS[cls] = cached
    return cached


def _operation(cls: type, params: dict[str, Any]) -> str:
    parts = cls.__module__.split(".")
    package = parts[parts.index("pipelines") + 1] if "pipelines" in parts[:-1] else ""
    name = cls.__name__.lower()
    if package in _VIDEO_PACKAGES or "video" in name or "num_frames" in params:
        return semconv.OPERATION_VIDEO_GENERATION
    if package in _AUDIO_PACKAGES or "audio" in name or "num_waveforms_per_prompt" in params:
        return semconv.OPERATION_AUDIO_GENERATION
    return semconv.OPERATION_IMAGE_GENERATION


def bind(pipe: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The call's arguments by name, defaults included, and the operation it performs."""
    names, defaults, operation = _signature(type(pipe))
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound, operation


def model_name(pipe: Any) -> str:
    path = getattr(getattr(pipe, "config", None), "_name_or_path", None) or ""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, str) and path:
        return os.path.basename(path.rstrip("/")) if os.path.isabs(path) else path
    return type(pipe).__name__


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _batch(bound: dict[str, Any]) -> int | None:
    prompt = bound.get("prompt")
    if isinstance(prompt, str):
        return 1
    if isinstance(prompt, list | tuple) and prompt:
        return len(prompt)
    embeds = bound.get("prompt_embeds")
    shape = getattr(embeds, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    size = bound.get("batch_size")
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def request_attributes(pipe: Any, bound: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """The recipe as span attributes, and the number of outputs asked for (None: unknown)."""
    attrs: dict[str, Any] = {semconv.AI_DIFFUSION_PIPELINE: type(pipe).__name__}
    scheduler = getattr(pipe, "scheduler", None)
    if scheduler is not None:
        attrs[semconv.AI_DIFFUSION_SCHEDULER] = type(scheduler).__name__
    for key, name in (("num_inference_steps", semconv.AI_DIFFUSION_REQUEST_STEPS),
                      ("guidance_scale", semconv.AI_DIFFUSION_GUIDANCE_SCALE),
                      ("height", semconv.AI_DIFFUSION_HEIGHT),
                      ("width", semconv.AI_DIFFUSION_WIDTH),
                      ("num_frames", semconv.AI_DIFFUSION_FRAMES)):
        value = _number(bound.get(key))
        if value is not None:
            attrs[name] = value
    batch = _batch(bound)
    per_prompt = next((v for k in _PER_PROMPT if isinstance(v := bound.get(k), int)), None)
    if batch is not None:
        attrs[semconv.AI_DIFFUSION_BATCH_SIZE] = batch
    if per_prompt is not None:
        attrs[semconv.AI_DIFFUSION_OUTPUTS_PER_PROMPT] = per_prompt
    outputs = batch * (per_prompt or 1) if batch is not None else None
    return attrs, outputs


def denoiser(pipe: Any) -> Any:
    for name in _DENOISERS:
        module = getattr(pipe, name, None)
        if module is not None and hasattr(module, "parameters"):
            return module
    return None


def _first_parameter(module: Any) -> Any:
    try:
        return next(iter(module.parameters()), None)
    except Exception:
        return None


def _offload(pipe: Any, net: Any) -> str | None:
    if getattr(pipe, "_all_hooks", None):
        return "model"
    if net is not None:
        for module in (net, *islice(net.children(), 4)):
            hooks = getattr(getattr(module, "_diffusers_hook", None), "hooks", None)
            if isinstance(hooks, dict) and "group_offloading" in hooks:
                return "group"
    if getattr(pipe, "_offload_device", None) is not None and hasattr(net, "_hf_hook"):
        return "sequential"
    if net is not None and any(hasattr(m, "_hf_hook") for m in islice(net.children(), 4)):
        return "sequential"
    return None


def _attention(net: Any) -> str | None:
    """The attention processor (or dispatch backend) of the denoiser's first attention layer."""
    try:
        layer = _ATTENTION.get(net)
    except TypeError:
        return None
    if layer is None:
        layer = next((m for m in net.modules() if hasattr(m, "processor")
                      and hasattr(m, "set_processor")), False)
        _ATTENTION[net] = layer
    if layer is False:
        return None
    processor = getattr(layer, "processor", None)
    if processor is None:
        return None
    backend = getattr(processor, "_attention_backend", None)
    if backend is not None:
        return str(getattr(backend, "value", backend))
    return type(processor).__name__


def setup_attributes(pipe: Any) -> tuple[dict[str, Any], Any]:
    """dtype, device, offload, attention, ``torch.compile``, VAE tiling and slicing; and the
    device the call computes on (a ``torch.device``, or None)."""
    attrs: dict[str, Any] = {}
    net = denoiser(pipe)
    param = _first_parameter(net) if net is not None else None
    device = getattr(param, "device", None)
    if param is not None:
        attrs[semconv.AI_DIFFUSION_DTYPE] = str(param.dtype).removeprefix("torch.")
    offload = _offload(pipe, net)
    if offload is not None:
        attrs[semconv.AI_DIFFUSION_OFFLOAD] = offload
        try:
            device = pipe._execution_device
        except Exception:
            pass
    if device is not None:
        attrs[semconv.AI_DIFFUSION_DEVICE] = str(device)
    if net is not None:
        compiled = (type(net).__name__ == "OptimizedModule"
                    or getattr(net, "_compiled_call_impl", None) is not None
                    or hasattr(getattr(net, "__dict__", {}).get("forward"),
                               "_torchdynamo_orig_callable"))
        attrs[semconv.AI_DIFFUSION_TORCH_COMPILE] = bool(compiled)
        attention = _attention(getattr(net, "_orig_mod", net))
        if attention is not None:
            attrs[semconv.AI_DIFFUSION_ATTENTION] = attention
    vae = getattr(pipe, "vae", None)
    if vae is not None:
        attrs[semconv.AI_DIFFUSION_VAE_TILING] = bool(getattr(vae, "use_tiling", False))
        attrs[semconv.AI_DIFFUSION_VAE_SLICING] = bool(getattr(vae, "use_slicing", False))
    return attrs, device


def accelerator(device: Any) -> str | None:
    """``cuda:0`` for an accelerator device, None for the CPU."""
    kind = getattr(device, "type", None)
    if kind not in _ACCELERATORS:
        return None
    if kind == "mps":
        return "mps"
    index = getattr(device, "index", None)
    return f"{kind}:{index or 0}"
