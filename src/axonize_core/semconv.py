"""Axonize semantic conventions: every ``ai.*``, ``gpu.*`` and ``cost.*`` attribute name.

Each name is a module constant, and :data:`ATTRIBUTES` describes it (type, unit, meaning and the
standard OpenTelemetry GenAI name it maps to, if there is one).  The table in docs/semconv.md is
generated from :data:`ATTRIBUTES` (``python -m axonize semconv --write docs/semconv.md``) and a
test compares them, so the table and the code cannot drift apart.

Spans are exported with the Axonize names, the standard ``gen_ai.*`` names, or both
(``AXONIZE_SEMCONV=axonize|gen_ai|both``, default ``both``).  The translation is done by the
background exporter thread, never on the caller's thread.
"""

from __future__ import annotations

from typing import NamedTuple


class AttributeSpec(NamedTuple):
    """One documented attribute."""

    name: str
    type: str
    unit: str
    meaning: str
    gen_ai: str = ""  # the standard OTel name it is exported as, "" if none exists
    planned: bool = False  # named for a plugin still to come: nothing sets it yet


# --- operation and model ---------------------------------------------------------------------
AI_OPERATION_NAME = "ai.operation.name"
AI_MODEL_NAME = "ai.model.name"
AI_MODEL_VERSION = "ai.model.version"
AI_MODEL_PROVIDER = "ai.model.provider"
AI_RESPONSE_MODEL = "ai.response.model"

# --- LLM generation --------------------------------------------------------------------------
AI_LLM_TOKENS_INPUT = "ai.llm.tokens.input"
AI_LLM_TOKENS_OUTPUT = "ai.llm.tokens.output"
AI_LLM_TTFT_MS = "ai.llm.ttft_ms"
AI_LLM_TPOT_MS = "ai.llm.tpot_ms"
AI_LLM_TOKENS_PER_SECOND = "ai.llm.tokens_per_second"
AI_LLM_FINISH_REASONS = "ai.llm.finish_reasons"
AI_LLM_STREAM = "ai.llm.stream"
AI_LLM_STREAM_END = "ai.llm.stream.end"
AI_LLM_TOKEN_GAP_MAX_MS = "ai.llm.token_gap_ms.max"
AI_LLM_BATCH_SIZE = "ai.llm.batch_size"
AI_LLM_STEPS = "ai.llm.steps"
AI_LLM_REQUEST_MAX_TOKENS = "ai.llm.request.max_tokens"
AI_LLM_REQUEST_TEMPERATURE = "ai.llm.request.temperature"
AI_LLM_REQUEST_TOP_P = "ai.llm.request.top_p"
AI_LLM_REQUEST_TOP_K = "ai.llm.request.top_k"
AI_LLM_REQUEST_SEED = "ai.llm.request.seed"
AI_LLM_REQUEST_NUM_BEAMS = "ai.llm.request.num_beams"
AI_LLM_REQUEST_DO_SAMPLE = "ai.llm.request.do_sample"
AI_LLM_REQUEST_CONTEXT_LENGTH = "ai.llm.request.context_length"
AI_LLM_TOOL_CALLS = "ai.llm.tool_calls"
AI_LLM_PROMPT = "ai.llm.prompt"
AI_LLM_COMPLETION = "ai.llm.completion"

# --- server-side figures reported by an inference server --------------------------------------
AI_SERVER_TOKENS_PER_SECOND = "ai.server.tokens_per_second"
AI_SERVER_PREFILL_MS = "ai.server.prefill_ms"
AI_SERVER_LOAD_MS = "ai.server.load_ms"
AI_SERVER_TOTAL_MS = "ai.server.total_ms"
AI_SERVER_QUEUE_MS = "ai.server.queue_ms"
# Set by the vLLM plugin from the engine's per-request stats.
AI_SERVER_DECODE_MS = "ai.server.decode_ms"
AI_SERVER_TTFT_MS = "ai.server.ttft_ms"
AI_SERVER_PREEMPTIONS = "ai.server.preemptions"
AI_LLM_TOKENS_CACHED_INPUT = "ai.llm.tokens.cached_input"
AI_LLM_REQUEST_CHOICE_COUNT = "ai.llm.request.choice_count"
AI_REQUEST_ID = "ai.request.id"
AI_SERVER_ENDPOINT = "ai.server.endpoint"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_REQUEST_CHOICE_COUNT = "gen_ai.request.choice.count"

# --- embeddings and diffusion -----------------------------------------------------------------
AI_EMBEDDING_DIMENSIONS = "ai.embedding.dimensions"
AI_EMBEDDING_INPUTS = "ai.embedding.inputs"
AI_DIFFUSION_STEPS = "ai.diffusion.steps"
AI_DIFFUSION_STEP_MS_AVG = "ai.diffusion.step_ms.avg"
AI_DIFFUSION_STEP_MS_MAX = "ai.diffusion.step_ms.max"
AI_DIFFUSION_GUIDANCE_SCALE = "ai.diffusion.guidance_scale"
AI_DIFFUSION_IMAGES = "ai.diffusion.images"
AI_DIFFUSION_WIDTH = "ai.diffusion.width"
AI_DIFFUSION_HEIGHT = "ai.diffusion.height"
# --- diffusion pipelines (the Diffusers plugin) ---------------------------------------------
AI_DIFFUSION_PIPELINE = "ai.diffusion.pipeline"
AI_DIFFUSION_SCHEDULER = "ai.diffusion.scheduler"
AI_DIFFUSION_REQUEST_STEPS = "ai.diffusion.request.steps"
AI_DIFFUSION_FRAMES = "ai.diffusion.frames"
AI_DIFFUSION_BATCH_SIZE = "ai.diffusion.batch_size"
AI_DIFFUSION_OUTPUTS_PER_PROMPT = "ai.diffusion.outputs_per_prompt"
AI_DIFFUSION_DTYPE = "ai.diffusion.dtype"
AI_DIFFUSION_DEVICE = "ai.diffusion.device"
AI_DIFFUSION_OFFLOAD = "ai.diffusion.offload"
AI_DIFFUSION_ATTENTION = "ai.diffusion.attention"
AI_DIFFUSION_TORCH_COMPILE = "ai.diffusion.torch_compile"
AI_DIFFUSION_VAE_TILING = "ai.diffusion.vae.tiling"
AI_DIFFUSION_VAE_SLICING = "ai.diffusion.vae.slicing"
AI_DIFFUSION_TIME_TO_FIRST_STEP_MS = "ai.diffusion.time_to_first_step_ms"
AI_DIFFUSION_STEP_MS_P50 = "ai.diffusion.step_ms.p50"
AI_DIFFUSION_STEPS_PER_SECOND = "ai.diffusion.steps_per_second"
AI_DIFFUSION_IMAGES_PER_SECOND = "ai.diffusion.images_per_second"
AI_DIFFUSION_TEXT_ENCODE_MS = "ai.diffusion.text_encode_ms"
AI_DIFFUSION_DENOISE_MS = "ai.diffusion.denoise_ms"
AI_DIFFUSION_VAE_DECODE_MS = "ai.diffusion.vae_decode_ms"
AI_DIFFUSION_MEMORY_PEAK_BYTES = "ai.diffusion.memory.peak_bytes"
#: Span event of one denoising step (only with ``AXONIZE_CAPTURE_STEPS=true``), and its fields.
AI_DIFFUSION_STEP_EVENT = "ai.diffusion.step"
AI_DIFFUSION_STEP_INDEX = "ai.diffusion.step.index"
AI_DIFFUSION_STEP_DURATION_MS = "ai.diffusion.step.duration_ms"

# --- GPU attribution --------------------------------------------------------------------------
#: The devices a span ran on, as the process names them (``["cuda:0"]``).
GPU_DEVICES = "gpu.devices"
#: Number of GPUs attributed to the span; per-device figures follow as ``gpu.{i}.*``.
GPU_COUNT = "gpu.count"

# Suffixes of the per-device ``gpu.{i}.<suffix>`` attributes (``i`` counts from 0).
GPU_UUID = "uuid"
GPU_NAME = "name"
GPU_VENDOR = "vendor"
GPU_MIG_PROFILE = "mig.profile"
GPU_COMPUTE_RESOURCE_ID = "compute_resource.id"
GPU_RUNTIME_CONTEXT = "runtime.context"
GPU_MEMORY_USED_BYTES = "memory.used_bytes"
GPU_MEMORY_TOTAL_BYTES = "memory.total_bytes"
GPU_UTILIZATION_AVG_PCT = "utilization.avg_pct"
GPU_UTILIZATION_MAX_PCT = "utilization.max_pct"
GPU_POWER_AVG_W = "power.avg_w"
GPU_ENERGY_J = "energy_j"
GPU_TEMPERATURE_C = "temperature_c"
GPU_SM_CLOCK_MHZ = "clock.sm_mhz"
GPU_NODE = "node"
GPU_POD = "k8s.pod"
GPU_NAMESPACE = "k8s.namespace"
GPU_CONTAINER = "k8s.container"


def gpu_attr(index: int, suffix: str) -> str:
    """``gpu_attr(0, GPU_UUID) == "gpu.0.uuid"``."""
    return f"gpu.{index}.{suffix}"


# --- cost -------------------------------------------------------------------------------------
COST_GPU_USD = "cost.gpu_usd"
COST_ENERGY_USD = "cost.energy_usd"
COST_TOKENS_USD = "cost.tokens_usd"
COST_TOTAL_USD = "cost.total_usd"
COST_GPU_SECONDS = "cost.gpu_seconds"

# --- standard OpenTelemetry GenAI names -------------------------------------------------------
# --- standard OpenTelemetry names used as they are ----------------------------------------------
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"

GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K = "gen_ai.request.top_k"
GEN_AI_REQUEST_SEED = "gen_ai.request.seed"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT = "gen_ai.embeddings.dimension.count"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"

# Metric instrument names (OTLP metrics exported by the background thread).
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
# Server side (code that runs the model in-process: transformers, vLLM's engine, Diffusers).
METRIC_TIME_TO_FIRST_TOKEN = "gen_ai.server.time_to_first_token"
METRIC_TIME_PER_OUTPUT_TOKEN = "gen_ai.server.time_per_output_token"
METRIC_SERVER_REQUEST_DURATION = "gen_ai.server.request.duration"
METRIC_SERVER_QUEUE_TIME = "ai.server.queue_time"  # no standard name yet (vLLM's queue time)
# Client side (code that calls a model over the network: Ollama's client), streamed calls only,
# with OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental (conventions v1.41).
METRIC_CLIENT_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_CLIENT_TIME_PER_OUTPUT_CHUNK = "gen_ai.client.operation.time_per_output_chunk"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
METRIC_TOKENS_PER_SECOND = AI_LLM_TOKENS_PER_SECOND
METRIC_DROPPED_SPANS = "axonize.spans.dropped"
# GPU gauges (the latest sample of each device), with the device identity as attributes.
METRIC_GPU_UTILIZATION = "gpu.utilization"
METRIC_GPU_MEMORY_USED = "gpu.memory.used"
METRIC_GPU_MEMORY_TOTAL = "gpu.memory.total"
METRIC_GPU_POWER = "gpu.power"
METRIC_GPU_TEMPERATURE = "gpu.temperature"
METRIC_GPU_ENERGY = "gpu.energy"

# Operation names (values of ``gen_ai.operation.name``).
OPERATION_CHAT = "chat"
OPERATION_TEXT_COMPLETION = "text_completion"
OPERATION_GENERATE_CONTENT = "generate_content"
OPERATION_EMBEDDINGS = "embeddings"
OPERATION_IMAGE_GENERATION = "image_generation"
OPERATION_VIDEO_GENERATION = "video_generation"
OPERATION_AUDIO_GENERATION = "audio_generation"


ATTRIBUTES: tuple[AttributeSpec, ...] = (
    AttributeSpec(AI_OPERATION_NAME, "string", "", "What the span does: `chat`, "
                  "`text_completion`, `embeddings`, `image_generation`, ...",
                  GEN_AI_OPERATION_NAME),
    AttributeSpec(AI_MODEL_NAME, "string", "", "Model asked for (name or local path).",
                  GEN_AI_REQUEST_MODEL),
    AttributeSpec(AI_MODEL_VERSION, "string", "", "Model version or revision, when known."),
    AttributeSpec(AI_MODEL_PROVIDER, "string", "", "Who serves the model: `vllm`, `ollama`, "
                  "`transformers`, `diffusers`, ...", GEN_AI_PROVIDER_NAME),
    AttributeSpec(AI_RESPONSE_MODEL, "string", "", "Model that actually answered.",
                  GEN_AI_RESPONSE_MODEL),
    AttributeSpec(AI_LLM_TOKENS_INPUT, "int", "{token}", "Prompt tokens (summed over a batch).",
                  GEN_AI_USAGE_INPUT_TOKENS),
    AttributeSpec(AI_LLM_TOKENS_OUTPUT, "int", "{token}", "Generated tokens (summed over a "
                  "batch, padding excluded).", GEN_AI_USAGE_OUTPUT_TOKENS),
    AttributeSpec(AI_LLM_TTFT_MS, "double", "ms", "Time to first token: span start to the "
                  "first generated token (a client: to the first streamed chunk). Also a "
                  "metric in s: `gen_ai.server.time_to_first_token` where the model runs "
                  "in-process; for a streamed client call, with the opt-in, "
                  "`gen_ai.client.operation.time_to_first_chunk` and the span attribute "
                  "`gen_ai.response.time_to_first_chunk`."),
    AttributeSpec(AI_LLM_TPOT_MS, "double", "ms", "Time per output token after the first: "
                  "(end - first token) / (output tokens - 1); for a batch, per decode step. "
                  "Also the `gen_ai.server.time_per_output_token` metric (in s) where the "
                  "model runs in-process."),
    AttributeSpec(AI_LLM_TOKENS_PER_SECOND, "double", "{token}/s", "Output tokens / span "
                  "duration. No standard name exists; also exported as a histogram."),
    AttributeSpec(AI_LLM_FINISH_REASONS, "string[]", "", "Why generation stopped, per "
                  "sequence: `stop`, `length`, `eos`, ...", GEN_AI_RESPONSE_FINISH_REASONS),
    AttributeSpec(AI_LLM_STREAM, "boolean", "", "Whether the output was streamed."),
    AttributeSpec(AI_LLM_STREAM_END, "string", "", "How a stream ended: `complete`, `closed` "
                  "(the consumer stopped early), `error`, or `abandoned` (garbage-collected "
                  "unfinished)."),
    AttributeSpec(AI_LLM_TOKEN_GAP_MAX_MS, "double", "ms", "Longest wait between two streamed "
                  "chunks (a stall the user saw)."),
    AttributeSpec(AI_LLM_BATCH_SIZE, "int", "{sequence}", "Sequences generated in this call."),
    AttributeSpec(AI_LLM_STEPS, "int", "{step}", "Decode steps run (one token per sequence "
                  "each); for batches and beams, TPOT is per step."),
    AttributeSpec(AI_LLM_REQUEST_MAX_TOKENS, "int", "{token}", "Requested output token limit.",
                  GEN_AI_REQUEST_MAX_TOKENS),
    AttributeSpec(AI_LLM_REQUEST_TEMPERATURE, "double", "", "Sampling temperature.",
                  GEN_AI_REQUEST_TEMPERATURE),
    AttributeSpec(AI_LLM_REQUEST_TOP_P, "double", "", "Nucleus sampling threshold.",
                  GEN_AI_REQUEST_TOP_P),
    AttributeSpec(AI_LLM_REQUEST_TOP_K, "int", "", "Top-k sampling limit.", GEN_AI_REQUEST_TOP_K),
    AttributeSpec(AI_LLM_REQUEST_SEED, "int", "", "Sampling seed.", GEN_AI_REQUEST_SEED),
    AttributeSpec(AI_LLM_REQUEST_NUM_BEAMS, "int", "", "Beams in beam search."),
    AttributeSpec(AI_LLM_REQUEST_DO_SAMPLE, "boolean", "", "Sampling (true) or greedy (false)."),
    AttributeSpec(AI_LLM_REQUEST_CONTEXT_LENGTH, "int", "{token}", "Context window asked for "
                  "(Ollama `num_ctx`)."),
    AttributeSpec(AI_LLM_TOOL_CALLS, "string[]", "", "Names of the tools the model called (the "
                  "arguments only with content capture, in `ai.llm.completion`)."),
    AttributeSpec(AI_LLM_PROMPT, "string", "", "Prompt text; only with "
                  "`AXONIZE_CAPTURE_CONTENT=true`, truncated."),
    AttributeSpec(AI_LLM_COMPLETION, "string", "", "Generated text; only with "
                  "`AXONIZE_CAPTURE_CONTENT=true`, truncated."),
    AttributeSpec(SERVER_ADDRESS, "string", "", "Host of the inference server called (standard "
                  "OTel name)."),
    AttributeSpec(SERVER_PORT, "int", "", "Port of the inference server called (standard OTel "
                  "name)."),
    AttributeSpec(ERROR_TYPE, "string", "", "Class of the error that failed the call (standard "
                  "OTel name)."),
    AttributeSpec(HTTP_RESPONSE_STATUS_CODE, "int", "", "HTTP status of a failed call to an "
                  "inference server (standard OTel name)."),
    AttributeSpec(AI_SERVER_TOKENS_PER_SECOND, "double", "{token}/s", "Decode rate the "
                  "inference server reports (e.g. Ollama `eval_count / eval_duration`)."),
    AttributeSpec(AI_SERVER_PREFILL_MS, "double", "ms", "Prompt processing time the server "
                  "reports."),
    AttributeSpec(AI_SERVER_LOAD_MS, "double", "ms", "Model load time the server reports."),
    AttributeSpec(AI_SERVER_TOTAL_MS, "double", "ms", "Total time the server reports."),
    AttributeSpec(AI_SERVER_QUEUE_MS, "double", "ms", "Time the request waited in the "
                  "server's queue."),
    AttributeSpec(AI_SERVER_DECODE_MS, "double", "ms", "First to last token, as the engine "
                  "timed it (vLLM)."),
    AttributeSpec(AI_SERVER_TTFT_MS, "double", "ms", "Arrival to first token, as the engine "
                  "timed it (vLLM); `ai.llm.ttft_ms` is the span's own view."),
    AttributeSpec(AI_SERVER_PREEMPTIONS, "int", "{preemption}", "Times the scheduler preempted "
                  "the request (vLLM)."),
    AttributeSpec(AI_LLM_TOKENS_CACHED_INPUT, "int", "{token}", "Prompt tokens served from the "
                  "prefix cache.", GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    AttributeSpec(AI_LLM_REQUEST_CHOICE_COUNT, "int", "", "Completions asked for per prompt "
                  "(vLLM `n`).", GEN_AI_REQUEST_CHOICE_COUNT),
    AttributeSpec(AI_REQUEST_ID, "string", "", "The engine's id of the request."),
    AttributeSpec(AI_SERVER_ENDPOINT, "string", "", "The inference server's API endpoint that "
                  "made the request (`/v1/chat/completions`)."),
    AttributeSpec(AI_EMBEDDING_DIMENSIONS, "int", "", "Dimensions of each embedding.",
                  GEN_AI_EMBEDDINGS_DIMENSION_COUNT),
    AttributeSpec(AI_EMBEDDING_INPUTS, "int", "{input}", "Inputs embedded in the call."),
    AttributeSpec(AI_DIFFUSION_STEPS, "int", "{step}", "Denoising steps run (marked by the "
                  "pipeline's progress bar: one per step whatever the scheduler's order)."),
    AttributeSpec(AI_DIFFUSION_STEP_MS_AVG, "double", "ms", "Mean time per denoising step."),
    AttributeSpec(AI_DIFFUSION_STEP_MS_MAX, "double", "ms", "Slowest denoising step."),
    AttributeSpec(AI_DIFFUSION_GUIDANCE_SCALE, "double", "", "Classifier-free guidance scale."),
    AttributeSpec(AI_DIFFUSION_IMAGES, "int", "{image}", "Images (videos, audios) produced: "
                  "batch x outputs per prompt, or what the result holds."),
    AttributeSpec(AI_DIFFUSION_WIDTH, "int", "px", "Output width (asked for, else read from "
                  "the result)."),
    AttributeSpec(AI_DIFFUSION_HEIGHT, "int", "px", "Output height (asked for, else read "
                  "from the result)."),
    AttributeSpec(AI_DIFFUSION_PIPELINE, "string", "", "Pipeline class "
                  "(`StableDiffusionPipeline`)."),
    AttributeSpec(AI_DIFFUSION_SCHEDULER, "string", "", "Scheduler class "
                  "(`EulerDiscreteScheduler`)."),
    AttributeSpec(AI_DIFFUSION_REQUEST_STEPS, "int", "{step}", "`num_inference_steps` asked "
                  "for (the pipeline's default if not passed)."),
    AttributeSpec(AI_DIFFUSION_FRAMES, "int", "{frame}", "Frames asked for (video pipelines)."),
    AttributeSpec(AI_DIFFUSION_BATCH_SIZE, "int", "{prompt}", "Prompts in the call (or "
                  "`batch_size` of an unconditional pipeline)."),
    AttributeSpec(AI_DIFFUSION_OUTPUTS_PER_PROMPT, "int", "", "`num_images_per_prompt` (or "
                  "videos, waveforms)."),
    AttributeSpec(AI_DIFFUSION_DTYPE, "string", "", "Weights' dtype of the denoising network "
                  "(`float16`)."),
    AttributeSpec(AI_DIFFUSION_DEVICE, "string", "", "Device the denoising runs on "
                  "(`cuda:0`; the execution device under CPU offload)."),
    AttributeSpec(AI_DIFFUSION_OFFLOAD, "string", "", "CPU offload in use: `model`, "
                  "`sequential` or `group`; absent if none."),
    AttributeSpec(AI_DIFFUSION_ATTENTION, "string", "", "Attention of the denoising network: "
                  "the dispatch backend set with `set_attention_backend`, else the processor "
                  "class (`AttnProcessor2_0`)."),
    AttributeSpec(AI_DIFFUSION_TORCH_COMPILE, "boolean", "", "Whether the denoising network "
                  "is compiled with `torch.compile`."),
    AttributeSpec(AI_DIFFUSION_VAE_TILING, "boolean", "", "VAE tiling enabled."),
    AttributeSpec(AI_DIFFUSION_VAE_SLICING, "boolean", "", "VAE slicing enabled."),
    AttributeSpec(AI_DIFFUSION_TIME_TO_FIRST_STEP_MS, "double", "ms", "Span start to the end "
                  "of the first denoising step (text encoding and latent set-up included)."),
    AttributeSpec(AI_DIFFUSION_STEP_MS_P50, "double", "ms", "Median time per denoising "
                  "step."),
    AttributeSpec(AI_DIFFUSION_STEPS_PER_SECOND, "double", "{step}/s", "Steps / denoising loop "
                  "time."),
    AttributeSpec(AI_DIFFUSION_IMAGES_PER_SECOND, "double", "{image}/s", "Outputs / call "
                  "time."),
    AttributeSpec(AI_DIFFUSION_TEXT_ENCODE_MS, "double", "ms", "Time in the text encoders' "
                  "forward outside the denoising loop (host time: see docs/plugins.md)."),
    AttributeSpec(AI_DIFFUSION_DENOISE_MS, "double", "ms", "Denoising loop: progress bar "
                  "opened to last step done, summed over the call's loops."),
    AttributeSpec(AI_DIFFUSION_VAE_DECODE_MS, "double", "ms", "Time in the VAE decoder's "
                  "forward outside the denoising loop (every tile and slice)."),
    AttributeSpec(AI_DIFFUSION_MEMORY_PEAK_BYTES, "int", "By", "CUDA: "
                  "`torch.cuda.max_memory_allocated` on the call's device when it ended (the "
                  "call's peak if it set a new high-water mark)."),
    AttributeSpec(AI_DIFFUSION_STEP_EVENT, "event", "", "One denoising step, with "
                  f"`{AI_DIFFUSION_STEP_INDEX}` (from 0) and `{AI_DIFFUSION_STEP_DURATION_MS}`; "
                  "only with `AXONIZE_CAPTURE_STEPS=true`."),
    AttributeSpec(GPU_DEVICES, "string[]", "", "Devices the span ran on, as the process names "
                  "them (`cuda:0`, `mps`)."),
    AttributeSpec(GPU_COUNT, "int", "{gpu}", "GPUs attributed to the span."),
    AttributeSpec("gpu.{i}." + GPU_UUID, "string", "", "Physical GPU UUID, or the MIG "
                  "instance UUID."),
    AttributeSpec("gpu.{i}." + GPU_NAME, "string", "", "Product name (`NVIDIA H100 80GB HBM3`)."),
    AttributeSpec("gpu.{i}." + GPU_VENDOR, "string", "", "`nvidia`, `apple`, ..."),
    AttributeSpec("gpu.{i}." + GPU_MIG_PROFILE, "string", "", "MIG profile (`1g.10gb`); absent "
                  "on a whole GPU."),
    AttributeSpec("gpu.{i}." + GPU_COMPUTE_RESOURCE_ID, "string", "", "Compute resource: the GPU "
                  "UUID, or `<gpu uuid>/<gi>/<ci>` for a MIG instance."),
    AttributeSpec("gpu.{i}." + GPU_RUNTIME_CONTEXT, "string", "", "How the process named the "
                  "device (`cuda:0`)."),
    AttributeSpec("gpu.{i}." + GPU_MEMORY_USED_BYTES, "int", "By", "Device memory in use at span "
                  "end."),
    AttributeSpec("gpu.{i}." + GPU_MEMORY_TOTAL_BYTES, "int", "By", "Device memory size."),
    AttributeSpec("gpu.{i}." + GPU_UTILIZATION_AVG_PCT, "double", "%", "Mean utilization over "
                  "the span; absent where the device cannot report it (MIG)."),
    AttributeSpec("gpu.{i}." + GPU_UTILIZATION_MAX_PCT, "double", "%", "Peak utilization over "
                  "the span."),
    AttributeSpec("gpu.{i}." + GPU_POWER_AVG_W, "double", "W", "Mean board power over the span."),
    AttributeSpec("gpu.{i}." + GPU_ENERGY_J, "double", "J", "Energy used during the span."),
    AttributeSpec("gpu.{i}." + GPU_TEMPERATURE_C, "double", "Cel", "Temperature at span end."),
    AttributeSpec("gpu.{i}." + GPU_SM_CLOCK_MHZ, "double", "MHz", "Mean SM clock over the span "
                  "(throttling shows here)."),
    AttributeSpec("gpu.{i}." + GPU_NODE, "string", "", "Host name of the node."),
    AttributeSpec("gpu.{i}." + GPU_POD, "string", "", "Kubernetes pod, from the downward API."),
    AttributeSpec("gpu.{i}." + GPU_NAMESPACE, "string", "", "Kubernetes namespace."),
    AttributeSpec("gpu.{i}." + GPU_CONTAINER, "string", "", "Kubernetes container."),
    AttributeSpec(COST_GPU_SECONDS, "double", "s", "GPU-seconds the span used (MIG slices "
                  "count their fraction)."),
    AttributeSpec(COST_GPU_USD, "double", "USD", "GPU-seconds x the price per GPU-hour."),
    AttributeSpec(COST_ENERGY_USD, "double", "USD", "Energy x the price per kWh."),
    AttributeSpec(COST_TOKENS_USD, "double", "USD", "Tokens x the API price per 1k tokens."),
    AttributeSpec(COST_TOTAL_USD, "double", "USD", "Sum of the cost figures above."),
)

# --- owners, budgets, policies (the collector processors; axonize.owner) ----------------------
# Owner attributes say who a span's cost belongs to.  ``axonize.owner(team=...)`` carries them
# as OTel baggage under these names; the collector's governance processor copies them from the
# resource or the baggage-derived span attributes onto every span.  GenOps names each
# ``genops.<x>``; the collector reads those too (see docs/semconv.md).
OWNER_TEAM = "owner.team"
OWNER_PROJECT = "owner.project"
OWNER_CUSTOMER_ID = "owner.customer_id"
OWNER_COST_CENTER = "owner.cost_center"
OWNER_FEATURE = "owner.feature"
OWNER_ENVIRONMENT = "owner.environment"
#: Owner field name (as ``axonize.owner`` takes it) -> attribute name.
OWNER_ATTRIBUTES: dict[str, str] = {
    "team": OWNER_TEAM, "project": OWNER_PROJECT, "customer_id": OWNER_CUSTOMER_ID,
    "cost_center": OWNER_COST_CENTER, "feature": OWNER_FEATURE,
    "environment": OWNER_ENVIRONMENT,
}
#: Owner attribute -> the GenOps name for the same thing.
GENOPS_NAMES: dict[str, str] = {a: f"genops.{k}" for k, a in OWNER_ATTRIBUTES.items()}
COST_BUDGET_NAME = "cost.budget.name"
COST_BUDGET_LIMIT_USD = "cost.budget.limit_usd"
COST_BUDGET_SPENT_USD = "cost.budget.spent_usd"
COST_BUDGET_EXCEEDED = "cost.budget.exceeded"
POLICY_VIOLATIONS = "policy.violations"
POLICY_ACTION = "policy.action"
REDACTION_MASKED = "redaction.masked"

ATTRIBUTES += (
    AttributeSpec(OWNER_TEAM, "string", "", "Team that owns the work (GenOps "
                  "`genops.team`)."),
    AttributeSpec(OWNER_PROJECT, "string", "", "Project (GenOps `genops.project`)."),
    AttributeSpec(OWNER_CUSTOMER_ID, "string", "", "Customer the work is done for (GenOps "
                  "`genops.customer_id`)."),
    AttributeSpec(OWNER_COST_CENTER, "string", "", "Cost center charged (GenOps "
                  "`genops.cost_center`)."),
    AttributeSpec(OWNER_FEATURE, "string", "", "Product feature (GenOps `genops.feature`)."),
    AttributeSpec(OWNER_ENVIRONMENT, "string", "", "Deployment environment (GenOps "
                  "`genops.environment`)."),
    AttributeSpec(COST_BUDGET_NAME, "string", "", "Budget this span's cost counts against "
                  "(collector budget processor)."),
    AttributeSpec(COST_BUDGET_LIMIT_USD, "double", "USD", "That budget's limit per window."),
    AttributeSpec(COST_BUDGET_SPENT_USD, "double", "USD", "Spent in the budget's window, "
                  "this span included."),
    AttributeSpec(COST_BUDGET_EXCEEDED, "boolean", "", "True once the window's spending is "
                  "over the limit."),
    AttributeSpec(POLICY_VIOLATIONS, "string[]", "", "Names of the policy rules the span "
                  "breaks (collector policy processor)."),
    AttributeSpec(POLICY_ACTION, "string", "", "What the policy did: `mark`, `drop` or "
                  "`route`."),
    AttributeSpec(REDACTION_MASKED, "int", "{value}", "Values the collector masked in this "
                  "span (never the values themselves)."),
)

#: Axonize name -> standard GenAI name, for the names that have one.
GEN_AI_NAMES: dict[str, str] = {
    a.name: a.gen_ai for a in ATTRIBUTES if a.gen_ai.startswith("gen_ai.")
}

SEMCONV_MODES = ("axonize", "gen_ai", "both")


def markdown_table() -> str:
    """The attribute table of docs/semconv.md."""
    lines = [
        "| Name | Type | Unit | Meaning | OTel name |",
        "| --- | --- | --- | --- | --- |",
    ]
    for a in ATTRIBUTES:
        otel = f"`{a.gen_ai}`" if a.gen_ai else ""
        unit = f"`{a.unit}`" if a.unit else ""
        meaning = f"*Planned (nothing sets it yet).* {a.meaning}" if a.planned else a.meaning
        lines.append(f"| `{a.name}` | {a.type} | {unit} | {meaning} | {otel} |")
    return "\n".join(lines) + "\n"


DOC_BEGIN = "<!-- BEGIN GENERATED: python -m axonize semconv --write docs/semconv.md -->\n"
DOC_END = "<!-- END GENERATED -->\n"


def render_doc(existing: str) -> str:
    """Replace the generated section of docs/semconv.md with the current table."""
    head, _, rest = existing.partition(DOC_BEGIN)
    _, _, tail = rest.partition(DOC_END)
    return head + DOC_BEGIN + markdown_table() + DOC_END + tail
