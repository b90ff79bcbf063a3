"""Random-weight CLIP and CLAP repositories, in the hub's layouts.

:func:`write_clip` writes what ``openai/clip-vit-base-patch16`` holds (``config.json``,
``model.safetensors``, the processor's ``preprocessor_config.json`` and a BPE
tokenizer); :func:`write_clap` what ``laion/clap-htsat-unfused`` holds (a HTSAT audio
tower, a RoBERTa tokenizer, the feature extractor with ``rand_trunc``). Both load
through ``transformers``' ``from_pretrained``, as the judges in :mod:`itslib.metrics` do.

``size="tiny"`` (kilobytes, for tests and CI) or ``"full"`` (the hub models' shapes:
CLIP ViT-B/16 with 149.6 M parameters, CLAP HTSAT-unfused with 153.5 M, for GPU memory
checks). The tokenizers keep their small vocabularies at both sizes; at full size the
embedding matrices have the real vocabularies' rows, of which the tokenizers use the
first few. Full-size weights are saved in fp32, as the hub's are: ``transformers``
loads a checkpoint in the dtype it was saved in, so this keeps the judges' memory real.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import torch

from itslib.rehearsal.diffusion import check_size

# openai/clip-vit-base-patch16: text 512 wide, 12 layers, 8 heads; vision ViT-B/16 at 224.
CLIP_TEXT = {
    "tiny": dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2),
    "full": dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                 num_attention_heads=8),
}  # fmt: skip
CLIP_VISION = {
    "tiny": dict(image_size=32, patch_size=8, hidden_size=16, intermediate_size=32,
                 num_hidden_layers=1, num_attention_heads=2),
    "full": dict(image_size=224, patch_size=16, hidden_size=768, intermediate_size=3072,
                 num_hidden_layers=12, num_attention_heads=12),
}  # fmt: skip
CLIP_PROJECTION = {"tiny": 8, "full": 512}

# laion/clap-htsat-unfused: a HTSAT-tiny audio tower (Swin, depths 2-2-6-2, 768 wide, no
# fusion) and a RoBERTa-base text tower, both projected to 512 (transformers' defaults).
CLAP_AUDIO = {
    "tiny": dict(hidden_size=16, patch_embeds_hidden_size=8, depths=[1, 1],
                 num_attention_heads=[2, 2], num_hidden_layers=2, spec_size=256, window_size=8,
                 projection_dim=8),
    "full": dict(hidden_size=768, patch_embeds_hidden_size=96, depths=[2, 2, 6, 2],
                 num_attention_heads=[4, 8, 16, 32], spec_size=256, window_size=8,
                 num_mel_bins=64, enable_fusion=False, projection_dim=512),
}  # fmt: skip
CLAP_TEXT = {
    "tiny": dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                 num_attention_heads=2, max_position_embeddings=80, projection_dim=8),
    "full": dict(vocab_size=50265, hidden_size=768, intermediate_size=3072,
                 num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=514,
                 type_vocab_size=1, projection_dim=512),
}  # fmt: skip
CLAP_PROJECTION = {"tiny": 8, "full": 512}


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


def write_clip(folder: Path, seed: int = 0, size: str = "tiny") -> Path:
    """Write a random CLIP into ``folder``; return it. ``"tiny"``: vision 32 x 32, patch
    8; ``"full"``: ViT-B/16's shapes (``openai/clip-vit-base-patch16``)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    check_size(size)
    folder = Path(folder)
    vocab_size = bpe_files(folder, ["<|startoftext|>", "<|endoftext|>"], ("", "</w>"))
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                              model_max_length=77)  # fmt: skip
    text = {"vocab_size": vocab_size, **CLIP_TEXT[size], "max_position_embeddings": 77,
            "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1}  # fmt: skip
    vision = CLIP_VISION[size]
    torch.manual_seed(seed)
    config = CLIPConfig(text_config=text, vision_config=vision,
                        projection_dim=CLIP_PROJECTION[size])  # fmt: skip
    CLIPModel(config).save_pretrained(folder)
    side = vision["image_size"]
    images = CLIPImageProcessor(size={"shortest_edge": side},
                                crop_size={"height": side, "width": side})  # fmt: skip
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def write_clap(folder: Path, seed: int = 0, size: str = "tiny") -> Path:
    """Write a random CLAP (HTSAT audio tower, RoBERTa text) into ``folder``; return it.
    ``"full"``: ``laion/clap-htsat-unfused``'s shapes."""
    from transformers import (
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapProcessor,
        RobertaTokenizer,
    )

    check_size(size)
    folder = Path(folder)
    vocab_size = bpe_files(
        folder, ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "\u0120"], ("", "\u0120")
    )
    tokenizer = RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                                 model_max_length=77 if size == "tiny" else 512)  # fmt: skip
    audio = CLAP_AUDIO[size]
    text = {"vocab_size": vocab_size, **CLAP_TEXT[size], "pad_token_id": 1, "bos_token_id": 0,
            "eos_token_id": 2}  # fmt: skip
    torch.manual_seed(seed)
    config = ClapConfig(text_config=text, audio_config=audio, projection_dim=CLAP_PROJECTION[size])
    ClapModel(config).save_pretrained(folder)
    # the hub's laion/clap-htsat-unfused feature extractor: defaults with rand_trunc, 50 Hz
    extractor = ClapFeatureExtractor(truncation="rand_trunc", frequency_min=50)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder
