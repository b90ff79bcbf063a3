"""Random-weight DeepFloyd IF repositories, in the on-disk layouts of the hub ones.

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

``size="tiny"`` (kilobytes, for tests and CI) or ``"full"``: the hub models' shapes, for
GPU memory checks: a T5-XXL encoder (4.76 B parameters, in both repositories as on the
hub) and UNets of IF-I-M's and IF-II-M's sizes (about 372 M and 443 M parameters; see
:data:`FULL_UNET` for which parts are approximate). Full-size weights are saved in fp16
as the ``fp16`` variant (``model.fp16.safetensors``, ...), the files the loaders in
:mod:`itslib` try first on CUDA; there are no fp32 files (T5-XXL alone would be 19 GB),
so a full-size copy loads in fp16 only. The tokenizer keeps its small vocabulary: the
embedding matrix has T5's 32,128 rows, of which it uses the first few.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

from itslib.rehearsal.diffusion import check_size

T5_DIM = 16

# google/t5-v1_1-xxl's encoder, the text encoder of every IF repository (DeepFloyd's
# conversion script loads it from there): gated GELU, 24 layers, 64 heads of 64.
T5_XXL = dict(
    vocab_size=32128,
    d_model=4096,
    d_kv=64,
    d_ff=10240,
    num_layers=24,
    num_heads=64,
    relative_attention_num_buckets=32,
    relative_attention_max_distance=128,
    feed_forward_proj="gated-gelu",
    layer_norm_epsilon=1e-6,
    tie_word_embeddings=False,
)

# Full-size UNets. What is known (diffusers' scripts/convert_if.py and the IF model
# cards): stage I (IF-I-M, "400M") is 3 -> 6 channels at 64 x 64, a first
# ResnetDownsampleBlock2D then SimpleCrossAttn blocks, 3 layers per block, heads of 64,
# T5's 4096-d states projected by ``encoder_hid_proj``, attention pooling of the text
# into the time embedding (addition_embed_type="text"), GELU, scale-shift norms;
# stage II (IF-II-M, "450M") is 6 -> 6 channels at 256 x 256 over five resolutions
# with (2, 2, 3, 5, 5) layers per block (the layer counts convert_if.py checks),
# cross-attention only (no self-attention), the noise level as a timestep class
# embedding, residuals scaled by 1/0.7071. APPROXIMATE, chosen to match the cards'
# parameter counts because the hub's unet/config.json files were not at hand: the
# channel widths (stage I 192 x (1, 2, 3, 4): 371.6 M; stage II 128 x (1, 2, 3, 4, 6):
# 442.9 M), the cross-attention width (the last block's), and that stage II attends at
# its two lowest resolutions.
FULL_UNET = {
    1: dict(
        sample_size=64,
        layers_per_block=3,
        block_out_channels=(192, 384, 576, 768),
        down_block_types=("ResnetDownsampleBlock2D",) + ("SimpleCrossAttnDownBlock2D",) * 3,
        up_block_types=("SimpleCrossAttnUpBlock2D",) * 3 + ("ResnetUpsampleBlock2D",),
        cross_attention_dim=768,
    ),
    2: dict(
        sample_size=256,
        layers_per_block=(2, 2, 3, 5, 5),
        block_out_channels=(128, 256, 384, 512, 768),
        down_block_types=("ResnetDownsampleBlock2D",) * 3 + ("SimpleCrossAttnDownBlock2D",) * 2,
        up_block_types=("SimpleCrossAttnUpBlock2D",) * 2 + ("ResnetUpsampleBlock2D",) * 3,
        cross_attention_dim=768,
        class_embed_type="timestep",
        time_embedding_dim=768,
        time_embedding_act_fn="gelu",
        only_cross_attention=True,
        resnet_skip_time_act=True,
        resnet_out_scale_factor=1 / 0.7071,
        mid_block_scale_factor=1 / 0.7071,
    ),
}

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


def t5_encoder(vocab_size: int, size: str):
    """The text encoder: :func:`tiny_t5`, or a random T5-XXL encoder built in fp16."""
    from transformers import T5Config, T5EncoderModel

    if size == "tiny":
        return tiny_t5(vocab_size)
    config = T5Config(**T5_XXL, is_encoder_decoder=False, use_cache=False, pad_token_id=0,
                      eos_token_id=1, decoder_start_token_id=0)  # fmt: skip
    return T5EncoderModel._from_config(config, dtype=torch.float16).eval()


def full_if_unet(stage: int):
    """A random UNet of IF-I-M's (stage 1) or IF-II-M's (stage 2) size, in fp16."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(
        in_channels=3 if stage == 1 else 6,
        out_channels=6,
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        encoder_hid_dim=T5_XXL["d_model"],
        attention_head_dim=64,
        addition_embed_type="text",
        addition_embed_type_num_heads=64,
        cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift",
        act_fn="gelu",
        **FULL_UNET[stage],
    )
    return unet.half().eval()


def if_unet(stage: int, size: str):
    return tiny_if_unet(stage) if size == "tiny" else full_if_unet(stage)


def _save(pipe, folder: Path, size: str) -> None:
    """Save as the hub does: plain files (tiny) or the fp16 variant (full)."""
    pipe.save_pretrained(folder, **({} if size == "tiny" else {"variant": "fp16"}))


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
        # stage II works at the full canvas (256 x 1024): attention only after three
        # halvings, or its self-attention over 128 x 512 positions takes minutes on a CPU
        block_out_channels=(8, 16) if stage == 1 else (8, 8, 8, 16),
        down_block_types=("ResnetDownsampleBlock2D",) * (1 if stage == 1 else 3)
        + ("SimpleCrossAttnDownBlock2D",),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        up_block_types=("SimpleCrossAttnUpBlock2D",)
        + ("ResnetUpsampleBlock2D",) * (1 if stage == 1 else 3),
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


def write_if_stage_1(folder: Path, seed: int = 0, size: str = "tiny") -> Path:
    """Write a random IF stage I repository (``size`` "tiny" or "full", IF-I-M's shapes)
    into ``folder`` and return it."""
    from diffusers import DDPMScheduler, IFPipeline

    check_size(size)
    folder = Path(folder)
    tokenizer = write_t5_tokenizer(folder / "tokenizer")
    torch.manual_seed(seed)
    pipe = IFPipeline(
        tokenizer=tokenizer,
        text_encoder=t5_encoder(len(tokenizer), size),
        unet=if_unet(1, size),
        scheduler=DDPMScheduler(**IF_SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )
    _save(pipe, folder, size)
    _list_hub_only_components(folder)
    return folder


def write_if_stage_2(folder: Path, seed: int = 1, size: str = "tiny") -> Path:
    """Write a random IF stage II repository (``size`` "tiny" or "full", IF-II-M's
    shapes) into ``folder`` and return it.

    Like the hub's, it carries its own text encoder and tokenizer (at full size a second
    T5-XXL, 9.5 GB), which the colorizer does not load (it reuses stage I's prompt
    embeddings)."""
    from diffusers import DDPMScheduler, IFSuperResolutionPipeline

    check_size(size)
    folder = Path(folder)
    tokenizer = write_t5_tokenizer(folder / "tokenizer")
    torch.manual_seed(seed)
    pipe = IFSuperResolutionPipeline(
        tokenizer=tokenizer,
        text_encoder=t5_encoder(len(tokenizer), size),
        unet=if_unet(2, size),
        scheduler=DDPMScheduler(**IF_SCHEDULER),
        image_noising_scheduler=DDPMScheduler(
            num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", beta_end=0.02
        ),
        safety_checker=None,
        feature_extractor=None,
        watermarker=None,
        requires_safety_checker=False,
    )
    _save(pipe, folder, size)
    _list_hub_only_components(folder)
    return folder
