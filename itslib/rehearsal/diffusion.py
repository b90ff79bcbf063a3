"""Random-weight Stable Diffusion 1.x and Auffusion repositories, in the hub's layouts.

:func:`write_stable_diffusion` writes what ``stable-diffusion-v1-5/stable-diffusion-v1-5``
holds on disk (``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``,
``tokenizer/`` with ``vocab.json`` + ``merges.txt``, ``scheduler/`` with SD 1.5's
PNDM config); :func:`write_auffusion` adds Auffusion's ``vocoder/config.json`` +
``vocoder/vocoder.pt``. ``size="tiny"`` (kilobytes, for tests and CI) or ``"full"``
(SD 1.5's exact shapes: 859.5 M UNet parameters, for GPU memory and speed checks).
"""

from __future__ import annotations

import json
import string
import warnings
from pathlib import Path
from typing import Any

import torch

from itslib.hifigan import HiFiGAN, HiFiGANConfig

SIZES = ("tiny", "full")

TINY_VOCODER = dict(
    num_mels=256,
    upsample_rates=[5, 4, 8],
    upsample_kernel_sizes=[11, 8, 16],
    upsample_initial_channel=16,
    resblock="1",
    resblock_kernel_sizes=[3],
    resblock_dilation_sizes=[[1, 3, 5]],
    sampling_rate=16000,
)
# HiFi-GAN V1's widths with 256 mels and a hop of 160 (5 x 4 x 2 x 2 x 2), the size
# class of Auffusion's vocoder.
FULL_VOCODER = dict(
    num_mels=256,
    upsample_rates=[5, 4, 2, 2, 2],
    upsample_kernel_sizes=[11, 8, 4, 4, 4],
    upsample_initial_channel=1024,
    resblock="1",
    resblock_kernel_sizes=[3, 7, 11],
    resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    sampling_rate=16000,
)

# Module configurations per size. "full" is Stable Diffusion 1.5's.
UNET = {
    # cross-attention at half resolution only: 5x faster at the real 32 x 128 latent
    "tiny": dict(sample_size=8, layers_per_block=1, block_out_channels=(8, 16),
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                 cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4),
    "full": dict(sample_size=64, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                 cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32),
}  # fmt: skip
VAE = {
    "tiny": dict(block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4,
                 sample_size=64),
    "full": dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                 norm_num_groups=32, sample_size=512),
}  # fmt: skip
TEXT = {
    "tiny": dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                 num_attention_heads=2),
    # CLIP ViT-L/14's text tower with its 49,408-token embedding (123.1 M parameters);
    # the tokenizer keeps its few symbols, the first rows of that embedding
    "full": dict(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                 num_hidden_layers=12, num_attention_heads=12, projection_dim=768,
                 hidden_act="quick_gelu"),
}  # fmt: skip
VOCODER = {"tiny": TINY_VOCODER, "full": FULL_VOCODER}


def check_size(size: str) -> None:
    if size not in SIZES:
        raise ValueError(f"size={size!r} must be one of {', '.join(SIZES)}.")


def write_tokenizer(folder: Path) -> int:
    """A byte-level BPE vocabulary of single letters, in CLIP's file format (vocab.json,
    merges.txt, tokenizer_config.json, special_tokens_map.json); returns its size."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for symbol in string.ascii_lowercase + string.digits + ",.'-":
        vocab.setdefault(symbol, len(vocab))
        vocab.setdefault(symbol + "</w>", len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"model_max_length": 77, "tokenizer_class": "CLIPTokenizer"})
    )
    (folder / "special_tokens_map.json").write_text(
        json.dumps({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
                    "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"})
    )  # fmt: skip
    return len(vocab)


def write_vocoder(folder: Path, config: dict[str, Any] = TINY_VOCODER, seed: int = 0) -> HiFiGAN:
    """Save a random HiFi-GAN as Auffusion does (weight norm on every conv, the state dict
    under ``generator`` in ``vocoder.pt``). Returns the same generator without weight norm."""
    torch.manual_seed(seed)
    model = HiFiGAN(HiFiGANConfig.from_dict(config))
    reference = HiFiGAN(HiFiGANConfig.from_dict(config))
    reference.load_state_dict(model.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.ConvTranspose1d)):
                torch.nn.utils.weight_norm(module)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"generator": state}, folder / "vocoder.pt")
    return reference.eval()


def write_stable_diffusion(folder: Path, seed: int = 0, size: str = "tiny") -> Path:
    """Write a random SD 1.x repository into ``folder`` and return it."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    check_size(size)
    folder = Path(folder)
    source = folder / "_tokenizer_source"
    vocab_size = write_tokenizer(source)
    tokenizer = CLIPTokenizer.from_pretrained(source)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(in_channels=4, out_channels=4, **UNET[size])
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        **VAE[size],
    )  # fmt: skip
    text = {"vocab_size": vocab_size, "max_position_embeddings": 77, "bos_token_id": 0,
            "eos_token_id": 1, "pad_token_id": 1, **TEXT[size]}  # fmt: skip
    text_encoder = CLIPTextModel(CLIPTextConfig(**text))
    scheduler = PNDMScheduler(  # SD 1.5's scheduler/ folder, as on the hub
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        num_train_timesteps=1000, set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1,
    )  # fmt: skip
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )  # fmt: skip
    pipe.save_pretrained(folder)
    # The hub's tokenizer/ holds vocab.json + merges.txt: keep those files, as there.
    for name in ("vocab.json", "merges.txt", "special_tokens_map.json"):
        (folder / "tokenizer" / name).write_bytes((source / name).read_bytes())
    (folder / "tokenizer" / "tokenizer.json").unlink(missing_ok=True)
    for leftover in source.iterdir():
        leftover.unlink()
    source.rmdir()
    return folder


def write_auffusion(folder: Path, seed: int = 1, size: str = "tiny") -> Path:
    """Write a random Auffusion repository (SD 1.x layout plus ``vocoder/``)."""
    write_stable_diffusion(folder, seed=seed, size=size)
    write_vocoder(Path(folder) / "vocoder", VOCODER[size], seed=seed)
    return Path(folder)
