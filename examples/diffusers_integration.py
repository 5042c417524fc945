"""A plain Diffusers program: not one line of Axonize in it.

    axonize-instrument --exporter console python examples/diffusers_integration.py

The Diffusers plugin wraps every pipeline's ``__call__`` (this program's own subclass too): each
call gets an ``image_generation {model}`` span with the recipe (scheduler, steps, guidance, size,
batch, dtype, device, VAE slicing...) and where the time went (time to first step, per-step
mean/p50/max, steps/s, images/s, text encoding, denoising loop, VAE decoding).  A tiny
random-weight Stable Diffusion is built on the spot (no download), so the images are noise.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDPMPipeline,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
    UNet2DModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer


def byte_alphabet() -> list[str]:
    """The 256 characters byte-level BPE maps bytes to: a CLIP vocabulary needs all of them."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def build_tiny_sd(path: Path) -> Path:
    alphabet = byte_alphabet()
    vocab = {t: i for i, t in enumerate([*alphabet, *(c + "</w>" for c in alphabet),
                                          "<|startoftext|>", "<|endoftext|>"])}
    tok_dir = path.parent / "tokenizer-src"
    tok_dir.mkdir(parents=True, exist_ok=True)
    (tok_dir / "vocab.json").write_text(json.dumps(vocab))
    (tok_dir / "merges.txt").write_text("#version: 0.2\n")
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77}))
    tokenizer = CLIPTokenizer.from_pretrained(str(tok_dir))
    torch.manual_seed(0)
    pipe = StableDiffusionPipeline(
        unet=UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
            block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=16,
            attention_head_dim=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")),
        vae=AutoencoderKL(
            latent_channels=4, block_out_channels=(8, 16), norm_num_groups=4,
            layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 2,
            up_block_types=("UpDecoderBlock2D",) * 2),
        text_encoder=CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
            num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id)),
        tokenizer=tokenizer, scheduler=EulerDiscreteScheduler(), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(path)
    return path


class SeededDDPM(DDPMPipeline):
    """A program's own pipeline, defined after the plugin activated: traced as well."""

    def __call__(self, *args: object, **kwargs: object) -> object:
        kwargs.setdefault("generator", torch.Generator().manual_seed(0))
        return super().__call__(*args, **kwargs)


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        pipe = StableDiffusionPipeline.from_pretrained(build_tiny_sd(Path(tmp) / "tiny-sd"))
    pipe.set_progress_bar_config(disable=True)
    out = pipe(["a photo of a cat", "an astronaut riding a horse"], num_inference_steps=8,
               height=64, width=64, output_type="np")
    print("text-to-image:", out.images.shape)
    pipe.vae.enable_slicing()  # a second recipe of the same pipeline, side by side
    out = pipe("a red dog", num_images_per_prompt=2, num_inference_steps=8, output_type="np")
    print("with VAE slicing:", out.images.shape)

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=16, block_out_channels=(8, 16), norm_num_groups=4,
                       layers_per_block=1, down_block_types=("DownBlock2D",) * 2,
                       up_block_types=("UpBlock2D",) * 2)
    from diffusers import DDPMScheduler

    ddpm = SeededDDPM(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=50))
    ddpm.set_progress_bar_config(disable=True)
    images = ddpm(batch_size=3, num_inference_steps=10).images
    print("unconditional:", len(images), "images of", images[0].size)


if __name__ == "__main__":
    main()
