"""The ``generate`` wrapper: reads the call, times the first token, counts what came out."""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Any

from axonize_core.instrumentation import (
    LlmSpan,
    is_tracing,
    log_internal_error,
    now_ns,
    semconv,
)
from axonize_transformers._scope import SCOPE
from axonize_transformers._streamer import StreamerTap

_IN_GENERATE: ContextVar[bool] = ContextVar("axonize_in_generate", default=False)
_DECODING = (
    ("max_new_tokens", semconv.AI_LLM_REQUEST_MAX_TOKENS),
    ("temperature", semconv.AI_LLM_REQUEST_TEMPERATURE),
    ("top_p", semconv.AI_LLM_REQUEST_TOP_P),
    ("top_k", semconv.AI_LLM_REQUEST_TOP_K),
    ("num_beams", semconv.AI_LLM_REQUEST_NUM_BEAMS),
    ("do_sample", semconv.AI_LLM_REQUEST_DO_SAMPLE),
)
_SAMPLING_ONLY = frozenset(("temperature", "top_p", "top_k"))
_STOPPING_CRITERIA_POSITION = 3  # generate(self, inputs, generation_config, logits_processor, ...)
_criteria_class: Any = None


def traced_generate(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    # Assisted generation calls generate again from inside: one span for the user's call.
    if not is_tracing() or _IN_GENERATE.get():
        return wrapped(*args, **kwargs)
    try:
        call = _GenerateCall(instance, args, kwargs)
    except Exception:
        log_internal_error("hf-prepare", "axonize: could not read a generate call")
        return wrapped(*args, **kwargs)
    token = _IN_GENERATE.set(True)
    try:
        with call.span:
            output = wrapped(*call.args, **call.kwargs)
            call.finish(output)
            return output
    finally:
        _IN_GENERATE.reset(token)
        if call.tap is not None:
            call.tap.release()  # the caller's streamer ends after the span


class _GenerateCall:
    __slots__ = ("args", "criteria", "eos", "input_len", "is_encoder_decoder", "kwargs",
                 "max_new_tokens", "pad", "span", "tap")

    def __init__(self, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        config = model.config
        self.is_encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
        gen_config = kwargs.get("generation_config")
        if gen_config is None and len(args) > 1:
            gen_config = args[1]
        if gen_config is None:
            gen_config = getattr(model, "generation_config", None)
        # What decides the finish reason: the call's own values win over the model's config.
        self.eos = _ids(kwargs.get("eos_token_id", getattr(gen_config, "eos_token_id", None)))
        self.pad = kwargs.get("pad_token_id", getattr(gen_config, "pad_token_id", None))
        self.max_new_tokens = kwargs.get("max_new_tokens",
                                         getattr(gen_config, "max_new_tokens", None))
        name = _model_name(model)
        span = SCOPE.LlmSpan(f"generate {name}", name,
                             operation=semconv.OPERATION_TEXT_COMPLETION, provider="transformers")
        self.span = span
        inputs = args[0] if args else kwargs.get("inputs", kwargs.get("input_ids"))
        attrs: dict[str, Any] = {}
        self.input_len = 0
        if inputs is not None and hasattr(inputs, "shape") and len(inputs.shape) >= 2:
            batch = int(inputs.shape[0])
            self.input_len = int(inputs.shape[1])
            mask = kwargs.get("attention_mask")
            span.set_tokens_input(int(mask.sum()) if mask is not None else batch * self.input_len)
            attrs[semconv.AI_LLM_BATCH_SIZE] = batch
        elif kwargs.get("inputs_embeds") is not None:
            embeds = kwargs["inputs_embeds"]
            attrs[semconv.AI_LLM_BATCH_SIZE] = int(embeds.shape[0])
            span.set_tokens_input(int(embeds.shape[0] * embeds.shape[1]))
        sampling = bool(kwargs.get("do_sample", getattr(gen_config, "do_sample", False)))
        for key, attr in _DECODING:
            value = kwargs.get(key, getattr(gen_config, key, None))
            if value is None or (key == "num_beams" and value == 1):
                continue
            if key in _SAMPLING_ONLY and not sampling:
                continue  # greedy and beam search ignore them (their defaults differ by version)
            attrs[attr] = value
        self.tap: StreamerTap | None = None
        streamer = kwargs.get("streamer")
        if streamer is not None:
            attrs[semconv.AI_LLM_STREAM] = True
            self.tap = StreamerTap(streamer, span)
            kwargs = {**kwargs, "streamer": self.tap}
        span.set_attributes(attrs)
        devices = _accelerators(model)
        if devices:
            span.set_gpus(devices)
        self.args, self.kwargs = args, kwargs
        self.criteria = self._inject_first_token_criteria()

    def _inject_first_token_criteria(self) -> Any:
        """Time the first token with a stopping criterion: called after every step, in every
        decoding mode (beam search refuses streamers), and never stopping anything."""
        if len(self.args) > _STOPPING_CRITERIA_POSITION:
            return None  # passed positionally: leave the call exactly as it was
        from transformers.generation.stopping_criteria import StoppingCriteriaList

        criteria = _first_token_criteria_class()(self.span)
        user = self.kwargs.get("stopping_criteria")
        merged = StoppingCriteriaList(list(user) if user is not None else [])
        merged.append(criteria)
        self.kwargs = {**self.kwargs, "stopping_criteria": merged}
        return criteria

    def finish(self, output: Any) -> None:
        """Count the new tokens and finish reasons (never raises)."""
        try:
            self._count(output)
        except Exception:
            log_internal_error("hf-finish", "axonize: could not read a generate result")

    def _count(self, output: Any) -> None:
        import torch

        seqs = getattr(output, "sequences", output)
        if not isinstance(seqs, torch.Tensor) or seqs.dim() != 2:
            return
        start = 1 if self.is_encoder_decoder else self.input_len
        new = seqs[:, start:]
        rows, width = new.shape
        span = self.span
        eos, pad = self.eos, self.pad
        if width == 0:
            span.set_tokens_output(0)
            return
        if eos:
            is_eos = torch.isin(new, torch.tensor(eos, device=new.device))
            has_eos = is_eos.any(dim=1)
            first_eos = is_eos.to(torch.int8).argmax(dim=1)
        else:
            has_eos = torch.zeros(rows, dtype=torch.bool, device=new.device)
            first_eos = torch.zeros(rows, dtype=torch.long, device=new.device)
        if pad is not None:
            trailing_pad = torch.flip(new == pad, dims=[1]).to(torch.int32).cumprod(dim=1).sum(1)
        else:
            trailing_pad = torch.zeros(rows, dtype=torch.long, device=new.device)
        counts = torch.where(has_eos, first_eos + 1, width - trailing_pad).tolist()
        max_new = self.max_new_tokens or width
        reasons = []
        for count, ended_by_eos in zip(counts, has_eos.tolist(), strict=True):
            if ended_by_eos:
                reasons.append("eos")
            elif count >= max_new:
                reasons.append("length")
            else:
                reasons.append("stop")
        total = int(sum(counts))
        span.set_tokens_output(total)
        span.set_attribute(semconv.AI_LLM_FINISH_REASONS, reasons)
        steps = self.criteria.steps if self.criteria is not None else 0
        if steps:
            span.set_attribute(semconv.AI_LLM_STEPS, steps)
        if (rows > 1 or total != steps) and steps > 1 and span.first_token_ns:
            # Batched or beam search: one step makes a token for every row, so the time per
            # output token is the time per decode step after the first.
            elapsed_ms = (now_ns() - span.first_token_ns) / 1e6
            span.set_attribute(semconv.AI_LLM_TPOT_MS, elapsed_ms / (steps - 1))


def _ids(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, int):
        return [value]
    try:
        return [int(v) for v in value]
    except TypeError:
        return []


def _accelerators(model: Any) -> list[str]:
    """The accelerators the model's weights are on (all of them for a sharded model)."""
    device_map = getattr(model, "hf_device_map", None)
    if isinstance(device_map, dict) and device_map:
        found = set()
        for where in device_map.values():
            if isinstance(where, int):
                found.add(f"cuda:{where}")
            elif isinstance(where, str) and where.split(":")[0] in ("cuda", "mps", "xpu"):
                found.add(where if ":" in where or where == "mps" else f"{where}:0")
        return sorted(found)
    device = getattr(model, "device", None)
    if device is not None and getattr(device, "type", "cpu") in ("cuda", "mps", "xpu"):
        return [str(device)]
    return []


def _model_name(model: Any) -> str:
    config = model.config
    path = getattr(config, "_name_or_path", "") or ""
    if path:
        return os.path.basename(path.rstrip("/")) if os.path.isabs(path) else path
    archs = getattr(config, "architectures", None)
    if archs:
        return str(archs[0])
    return type(model).__name__


def _first_token_criteria_class() -> Any:
    global _criteria_class
    if _criteria_class is None:
        import torch
        from transformers.generation.stopping_criteria import StoppingCriteria

        class FirstTokenCriteria(StoppingCriteria):  # type: ignore[misc]
            """Marks the first generated token on the span; never stops generation."""

            def __init__(self, span: LlmSpan) -> None:
                self.span = span
                self.steps = 0
                self._false: Any = None

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                if not self.steps and not self.span.first_token_ns:  # a streamer's put may
                    self.span.set_first_token_time()                # have timed it already
                self.steps += 1
                false = self._false
                if false is None or false.shape[0] != input_ids.shape[0] or (
                        false.device != input_ids.device):
                    false = self._false = torch.zeros(input_ids.shape[0], dtype=torch.bool,
                                                      device=input_ids.device)
                return false

        _criteria_class = FirstTokenCriteria
    return _criteria_class
