"""A tiny random-weight Llama that vLLM loads offline, with a chat template (for ``LLM.chat``).

The tokenizer is :func:`axonize_testsupport.tiny_models.tokenizer` (a byte-level BPE trained on
a few sentences); the model has 2 layers of width 128 in 2 heads of 64 (vLLM's CPU attention
kernels have no head size 16, which the transformers tests' 64-wide, 4-head Llama has), saved
with ``save_pretrained``: no hub download.  The engine
settings that fit these machines are in :data:`ENGINE_ARGS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: A plain chat template: ``role: content`` lines, then the assistant's turn.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)

#: ``LLM(model=path, **ENGINE_ARGS)``: small, eager, in float32 (the CPU backend).
ENGINE_ARGS: dict[str, Any] = {
    "dtype": "float32",
    "enforce_eager": True,
    "max_model_len": 256,
    "max_num_seqs": 4,
    "seed": 0,
}

#: The environment the vLLM CPU engine needs here (also set by the nox sessions).
ENV = {
    "HF_HUB_OFFLINE": "1",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
}


def build_vllm_llama(path: Path) -> Path:
    """Save the tiny Llama and its tokenizer (with :data:`CHAT_TEMPLATE`) under ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from axonize_testsupport import tiny_models

    tok = tiny_models.tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=256, vocab_size=len(tok),
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=tok.bos_token_id)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(path)
    previous = getattr(tok, "chat_template", None)
    tok.chat_template = CHAT_TEMPLATE
    try:
        tok.save_pretrained(path)
    finally:
        tok.chat_template = previous
    return path


if __name__ == "__main__":  # python -m axonize_testsupport.vllm_models DIR
    import sys

    print(build_vllm_llama(Path(sys.argv[1])))
