"""Frechet distances between folders of samples: FID on spectrogram pictures, FAD on audio.

Each folder holds ``sample_*/`` subfolders as written by ``Result.save``. The distance
itself comes from torchmetrics (``pip install "torchmetrics[image]"`` for the standard
Inception features); FAD here embeds audio with CLAP (:class:`itslib.metrics.CLAPJudge`),
whereas the paper's FAD uses VGGish, so values are not comparable with the paper's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from itslib._hub import ModelUnavailableError, unavailable_message
from itslib.metrics import CLAPJudge


def sample_folders(folder: str | Path, need: str) -> list[Path]:
    """The ``sample_*`` subfolders of ``folder`` (sorted), each checked to hold file ``need``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"folder {str(folder)!r} does not exist; pass a folder of "
            "sample_* folders (as a sweep or Result.save writes them)."
        )
    samples = sorted(p for p in folder.glob("sample_*") if p.is_dir())
    if not samples:
        raise ValueError(
            f"folder {str(folder)!r} holds no sample_* folders; generate samples "
            "into it first or pass the folder that holds them."
        )
    for sample in samples:
        if not (sample / need).is_file():
            raise FileNotFoundError(
                f"{str(sample / need)!r} is missing; regenerate that sample or remove its folder."
            )
    return samples


def _read_pictures(folder: str | Path, file: str) -> list[np.ndarray]:
    """Gray pictures (H, W) in [0, 1] from ``sample_*/<file>``."""
    from PIL import Image

    paths = [s / file for s in sample_folders(folder, file)]
    return [np.asarray(Image.open(p).convert("L"), dtype=np.float32) / 255 for p in paths]


def _read_sounds(folder: str | Path, file: str) -> list[tuple[np.ndarray, int]]:
    """(mono waveform, sample rate) from ``sample_*/<file>``."""
    import soundfile as sf

    sounds = []
    for sample in sample_folders(folder, file):
        wav, rate = sf.read(str(sample / file), dtype="float32", always_2d=True)
        sounds.append((wav.mean(axis=1), int(rate)))
    return sounds


def _frechet_metric(feature: int | torch.nn.Module) -> Any:
    """torchmetrics' FrechetInceptionDistance, or a clear error when it cannot be had."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except ImportError as err:
        raise ModuleNotFoundError(
            'FID and FAD use torchmetrics: pip install "torchmetrics[image]"'
            " (torch-fidelity supplies the Inception network)."
        ) from err
    try:
        return FrechetInceptionDistance(feature=feature, normalize=True)
    except (OSError, RuntimeError) as err:  # torch-fidelity fetches its weights from GitHub once
        name = "torch-fidelity Inception v3 (weights-inception-2015-12-05-6726825d.pth)"
        raise ModelUnavailableError(unavailable_message(name, type(err).__name__)) from err


class _Given(torch.nn.Module):
    """Features passed through as they are (the Frechet distance of given embeddings)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _check_counts(*sets: list) -> None:
    if min(len(s) for s in sets) < 2:
        raise ValueError(
            "a Frechet distance needs at least 2 samples in each folder, got "
            f"{[len(s) for s in sets]}."
        )


def fid(
    folder: str | Path,
    reference_folder: str | Path,
    feature: int | torch.nn.Module = 2048,
    file: str = "spectrogram.png",
    batch_size: int = 16,
) -> float:
    """FID between the pictures ``sample_*/<file>`` of two folders (gray, shown as RGB).

    torchmetrics' FrechetInceptionDistance; ``feature``: an Inception feature size (64, 192,
    768, 2048), or a module mapping (B, 3, H, W) floats in [0, 1] to (B, D) features. The
    Inception network resizes each picture to 299 x 299.
    """
    pictures, references = _read_pictures(folder, file), _read_pictures(reference_folder, file)
    _check_counts(pictures, references)
    metric = _frechet_metric(feature)
    for group, real in ((references, True), (pictures, False)):
        for start in range(0, len(group), batch_size):
            chunk = group[start : start + batch_size]
            # pictures of different sizes go one at a time
            for part in [chunk] if len({c.shape for c in chunk}) == 1 else [[c] for c in chunk]:
                gray = torch.from_numpy(np.stack(part))[:, None]
                metric.update(gray.repeat(1, 3, 1, 1), real=real)
    return float(metric.compute())


def fad(
    folder: str | Path, reference_folder: str | Path, embedder: Any = None, file: str = "audio.wav"
) -> float:
    """FAD between the sounds ``sample_*/<file>`` of two folders.

    The Frechet distance (torchmetrics) of audio embeddings from ``embedder`` (anything with
    ``embed_audio(waveforms, sample_rate) -> (B, D)``; default: the LAION CLAP of
    :class:`CLAPJudge`). Note: the paper's FAD uses VGGish embeddings, so the values differ.
    """
    sounds, references = _read_sounds(folder, file), _read_sounds(reference_folder, file)
    _check_counts(sounds, references)
    embedder = embedder if embedder is not None else CLAPJudge.from_pretrained()

    def embed(items: list[tuple[np.ndarray, int]]) -> torch.Tensor:
        rates = sorted({rate for _, rate in items})  # the order of samples does not matter
        parts = [embedder.embed_audio([w for w, r in items if r == rate], rate) for rate in rates]
        return torch.cat(parts).cpu().double()

    ours, theirs = embed(sounds), embed(references)
    metric = _frechet_metric(_Given(ours.shape[1]))
    metric.update(theirs, real=True)
    metric.update(ours, real=False)
    return float(metric.compute())
