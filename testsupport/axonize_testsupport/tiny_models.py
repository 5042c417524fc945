"""Tiny random-weight models built offline, for tests and the bench (no hub downloads)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

SENTENCES = [
    "the model reads the prompt and writes the answer one token at a time",
    "time to first token is what the user feels first",
    "tokens per second is how fast the answer streams",
    "a tiny model with random weights still generates tokens",
    "hello world, hello tracing, hello inference",
]


@functools.lru_cache(maxsize=1)
def tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(SENTENCES, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>",
                                   model_input_names=["input_ids", "attention_mask"])
    fast.padding_side = "left"
    return fast


def _common(config: Any) -> Any:
    tok = tokenizer()
    config.vocab_size = len(tok)
    config.pad_token_id = tok.pad_token_id
    config.eos_token_id = tok.eos_token_id
    config.bos_token_id = tok.bos_token_id
    return config


def build_llama(path: Path) -> Path:
    """Save a 2-layer, 64-wide Llama with random weights and its tokenizer under ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = _common(LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2,
                                 max_position_embeddings=256))
    return _save(LlamaForCausalLM(config), path)


def build_gpt2(path: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = _common(GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=256))
    return _save(GPT2LMHeadModel(config), path)


def _save(model: Any, path: Path) -> Path:
    model.generation_config.pad_token_id = model.config.pad_token_id
    model.generation_config.eos_token_id = model.config.eos_token_id
    model.save_pretrained(path)
    tokenizer().save_pretrained(path)
    return path


def load(path: Path) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(path)  # saved as float32
    model.eval()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    return model, tok
