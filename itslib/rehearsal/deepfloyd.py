"""Tiny random-weight DeepFloyd IF repositories, in the on-disk layouts of the hub ones.

``write_if_stage_1(folder)`` writes a repository shaped like
``DeepFloyd/IF-I-M-v1.0`` (``model_index.json``, ``text_encoder/`` a T5 encoder,
``tokenizer/`` a T5 Unigram tokenizer, ``unet/`` 3 -> 6 channels with learned
variance, ``scheduler/`` IF's DDPM config) and ``write_if_stage_2(folder)`` one
shaped like ``DeepFloyd/IF-II-M-v1.0`` (``unet/`` 6 -> 6 channels with the noise
level as a class embedding, plus ``image_noising_scheduler/``). ``model_index.json``
lists the safety checker, feature extractor and watermarker as the hub's do, without
their folders, so a loader that tried to read them would fail. Everything is built
offline: the tokenizer comes from a tiny vocabulary through the ``tokenizers``
library (no sentencepiece needed).
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

T5_DIM = 16

# IF's noise schedule (scheduler/scheduler_config.json of the IF repositories).
IF_SCHEDULER = dict(
    num_train_timesteps=1000,
    beta_schedule="squaredcos_cap_v2",
    beta_start=0.0001,
    beta_end=0.02,
    thresholding=True,
    dynamic_thresholding_ratio=0.95,
    sample_max_value=1.5,
    clip_sample=True,
    clip_sample_range=1.5,
    prediction_type="epsilon",
    variance_type="learned_range",
)

# Components the hub repositories list but the colorizer must never need.
HUB_ONLY_COMPONENTS = {
    "safety_checker": ["deepfloyd_if", "IFSafetyChecker"],
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "watermarker": ["deepfloyd_if", "IFWatermarker"],
}


def write_t5_tokenizer(folder: Path):
    """A T5 (Unigram) tokenizer over single letters, digits and a few words."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    words = ["a", "of", "photo", "colorful", "painting", "castle", "dog"]
    pieces += [(f"▁{w}", -1.0) for w in words]
    pieces += [(c, -3.0) for c in string.ascii_lowercase + string.digits + ",.'-"]
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=77)
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_t5(vocab_size: int):
    """A random one-layer T5 encoder with ``d_model`` 16."""
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size,
        d_model=T5_DIM,
        d_kv=8,
        d_ff=32,
        num_layers=1,
        num_heads=2,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config).eval()


def tiny_if_unet(stage: int):
    """A random UNet built like IF's: text-projected cross-attention, 6 output channels
    (noise and learned variance); stage 2 takes 6 input channels and a noise level."""
    from diffusers import UNet2DConditionModel

    extra = (
        dict(class_embed_type="timestep", mid_block_scale_factor=1.414, time_embedding_dim=32,
             time_embedding_act_fn="gelu")
        if stage == 2
        else {}
    )  # fmt: skip
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=3 if stage == 1 else 6,
        out_channels=6,
        layers_per_block=1,
        block_out_channels=(8, 16),
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        cross_attention_dim=32,  # IF normalises the text with GroupNorm(32, .)
        encoder_hid_dim=T5_DIM,
        attention_head_dim=4,
        addition_embed_type="text",
        addition_embed_type_num_heads=2,
        cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift",
        act_fn="gelu",
        norm_num_groups=4,
        **extra,
    ).eval()


def _list_hub_only_components(folder: Path) -> None:
    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index.update(HUB_ONLY_COMPONENTS)
    index_path.write_text(json.dumps(index, indent=2))


def write_if_stage_1(folder: Path, seed: int = 0) -> Path:
    """Write a tiny random IF stage I repository into ``folder`` and return it."""
    from diffusers import DDPMScheduler, IFPipeline

    folder = Path(folder)
    tokenizer = write_t5_tokenizer(folder / "tokenizer")
    torch.manual_seed(seed)
    pipe = IFPipeline(
        tokenizer=tokenizer,
        text_encoder=tiny_t5(len(tokenizer)),
        unet=tiny_if_unet(1),
        scheduler=DDPMScheduler(**IF_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    _list_hub_only_components(folder)
    return folder


def write_if_stage_2(folder: Path, seed: int = 1) -> Path:
    """Write a tiny random IF stage II repository into ``folder`` and return it.

    Like the hub's, it carries its own text encoder and tokenizer, which the
    colorizer does not load (it reuses stage I's prompt embeddings)."""
    from diffusers import DDPMScheduler, IFSuperResolutionPipeline

    folder = Path(folder)
    tokenizer = write_t5_tokenizer(folder / "tokenizer")
    torch.manual_seed(seed)
    pipe = IFSuperResolutionPipeline(
        tokenizer=tokenizer,
        text_encoder=tiny_t5(len(tokenizer)),
        unet=tiny_if_unet(2),
        scheduler=DDPMScheduler(**IF_SCHEDULER),
        image_noising_scheduler=DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", beta_end=0.02
        ),
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    _list_hub_only_components(folder)
    return folder
