"""Tiny random-weight models saved in the exact on-disk layouts of the hub repositories.

``write_tiny_stable_diffusion(folder)`` writes a Stable Diffusion 1.x repository
(``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/`` with
``vocab.json`` + ``merges.txt``, ``scheduler/`` with SD 1.5's PNDM config), and with
``vocoder=True`` Auffusion's ``vocoder/config.json`` + ``vocoder/vocoder.pt``. The
real loaders read them with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import string
import warnings
from pathlib import Path

import torch

from itslib.hifigan import HiFiGAN, HiFiGANConfig

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


def write_tokenizer(folder: Path) -> None:
    """A byte-level BPE vocabulary of single letters (CLIP's file format)."""
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


def write_vocoder(folder: Path, config: dict = TINY_VOCODER, seed: int = 0) -> HiFiGAN:
    """Save a random HiFi-GAN as Auffusion does: weight norm on every conv, key
    ``generator``. Returns the same generator without weight norm, for comparison."""
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


def write_tiny_stable_diffusion(folder: Path, seed: int = 0, vocoder: bool = False) -> Path:
    """Write a tiny random SD 1.x repository into ``folder`` and return it."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    vocab_size = write_tokenizer(folder / "_tokenizer_source")
    tokenizer = CLIPTokenizer.from_pretrained(folder / "_tokenizer_source")
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=4,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=77,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
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
        (folder / "tokenizer" / name).write_bytes(
            (folder / "_tokenizer_source" / name).read_bytes()
        )
    (folder / "tokenizer" / "tokenizer.json").unlink(missing_ok=True)
    for leftover in (folder / "_tokenizer_source").iterdir():
        leftover.unlink()
    (folder / "_tokenizer_source").rmdir()
    if vocoder:
        write_vocoder(folder / "vocoder", seed=seed)
    return folder
