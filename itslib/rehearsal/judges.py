"""Tiny random-weight CLIP and CLAP repositories, in the hub's layouts.

:func:`write_clip` writes what ``openai/clip-vit-base-patch16`` holds (``config.json``,
``model.safetensors``, the processor's ``preprocessor_config.json`` and a BPE
tokenizer); :func:`write_clap` what ``laion/clap-htsat-unfused`` holds (a HTSAT audio
tower, a RoBERTa tokenizer, the feature extractor with ``rand_trunc``). Both load
through ``transformers``' ``from_pretrained``, as the judges in :mod:`itslib.metrics` do.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch


def bpe_files(folder: Path, specials: list[str], suffixes: tuple[str, ...]) -> int:
    """A byte-level BPE vocabulary of single symbols (vocab.json + merges.txt); its size."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(specials)}
    for symbol in string.ascii_lowercase + string.digits + ",.'-":
        for suffix in suffixes:
            vocab.setdefault(symbol + suffix, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return len(vocab)


def write_clip(folder: Path, seed: int = 0) -> Path:
    """Write a tiny random CLIP (vision 32 x 32, patch 8) into ``folder``; return it."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder = Path(folder)
    size = bpe_files(folder, ["<|startoftext|>", "<|endoftext|>"], ("", "</w>"))
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                              model_max_length=77)  # fmt: skip
    text = dict(vocab_size=size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=77, bos_token_id=0,
                eos_token_id=1, pad_token_id=1)  # fmt: skip
    vision = dict(image_size=32, patch_size=8, hidden_size=16, intermediate_size=32,
                  num_hidden_layers=1, num_attention_heads=2)  # fmt: skip
    torch.manual_seed(seed)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)
    CLIPModel(config).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def write_clap(folder: Path, seed: int = 0) -> Path:
    """Write a tiny random CLAP (HTSAT audio tower, RoBERTa text) into ``folder``; return it."""
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        RobertaTokenizer,
    )

    folder = Path(folder)
    size = bpe_files(folder, ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "\u0120"], ("", "\u0120"))
    tokenizer = RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                                 model_max_length=77)  # fmt: skip
    audio = dict(hidden_size=16, patch_embeds_hidden_size=8, depths=[1, 1],
                 num_attention_heads=[2, 2], num_hidden_layers=2, spec_size=256, window_size=8,
                 projection_dim=8)  # fmt: skip
    text = dict(vocab_size=size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=80, projection_dim=8,
                pad_token_id=1, bos_token_id=0, eos_token_id=2)  # fmt: skip
    torch.manual_seed(seed)
    ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=8)).save_pretrained(
        folder
    )
    # the hub's laion/clap-htsat-unfused feature extractor: defaults with rand_trunc, 50 Hz
    extractor = ClapFeatureExtractor(truncation="rand_trunc", frequency_min=50)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder
