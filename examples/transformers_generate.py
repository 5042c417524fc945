"""A plain transformers program: not one line of Axonize in it.

    axonize-instrument --exporter console python examples/transformers_generate.py

The transformers plugin patches ``generate`` at import; every call below gets a
``generate {model}`` span with TTFT, tokens/s, TPOT, token counts and finish reasons.
A tiny random-weight Llama is built on the spot (no download), so the text is gibberish.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    pipeline,
)

TEXT = ["time to first token is what the user feels first",
        "tokens per second is how fast the answer streams"]


def build_tiny_llama(path: Path) -> Path:
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(TEXT, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>",
                                  pad_token="<pad>", unk_token="<unk>",
                                  model_input_names=["input_ids", "attention_mask"])
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=tok.bos_token_id)
    LlamaForCausalLM(config).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_llama(Path(tmp) / "tiny-llama")
        model = AutoModelForCausalLM.from_pretrained(path)
        tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    generator = pipeline("text-generation", model=model, tokenizer=tok)
    print(generator("time to first token", max_new_tokens=12, do_sample=False)[0]
          ["generated_text"])
    batch = tok(["hello", "tokens per second is"], return_tensors="pt", padding=True)
    out = model.generate(**batch, max_new_tokens=16, do_sample=True, top_p=0.9)
    print(f"batch of {out.shape[0]}: {out.shape[1] - batch['input_ids'].shape[1]} new tokens each")
    model.generate(**batch, max_new_tokens=8, num_beams=3)
    print("beam search done")


if __name__ == "__main__":
    main()
