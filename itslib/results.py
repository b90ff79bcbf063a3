"""A generated sample and how it is written to disk."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from itslib import files
from itslib._io import atomic_path, check_output_folder, staged_folder, write_png


@dataclass
class Result:
    """One image that sounds.

    Attributes:
        image: (H, W', 3) RGB in [0, 1], the image VAE's decode.
        spectrogram: (H, W') in [0, 1], the audio VAE's decode (channel mean), low
            frequencies at the bottom. W' = W less the right-edge crop when on.
        logmel: (n_mels, W') the spectrogram as a log-mel.
        waveform: (W' * hop,) float32 in [-1, 1].
        sample_rate: of ``waveform`` (16 kHz).
        latents: (c, H/f, W/f) float32, the clean latent (f: the VAE's downsampling
            factor, 8 in SD; c: its latent channels, 4) (``None`` for baselines
            that have none).
        params: every parameter used, the seed, models, timings.
        trajectory: the sampler's per-step record when captured.
        extras: method-specific records (e.g. SDS's loss history and snapshots).
    """

    image: np.ndarray
    spectrogram: np.ndarray
    logmel: np.ndarray
    waveform: np.ndarray
    sample_rate: int
    latents: torch.Tensor | None
    params: dict[str, Any]
    trajectory: list = field(default_factory=list, repr=False)
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    def save(
        self,
        folder: str | os.PathLike,
        save_latents: bool = False,
        video: bool = False,
        overwrite: bool = False,
    ) -> Path:
        """Write the sample into ``folder`` (created; must not exist unless ``overwrite``).

        Files: ``image.png``, ``spectrogram.png`` (gray, low frequencies at the bottom),
        ``audio.wav`` (16-bit, ``sample_rate``), ``params.json``; with ``save_latents``
        ``latents.npy`` (float32, c x H/f x W/f); with ``video`` ``video.mp4`` (the
        spectrogram with a playhead, with the audio). Everything is written into a
        temporary folder beside it and renamed at the end, so a failure leaves no
        partial sample folder; ``overwrite`` replaces an old folder whole. Missing
        parent folders are created. Raises ``ValueError`` when ``folder`` is a file.
        """
        folder = check_output_folder(folder, name="folder", overwrite=overwrite)
        with staged_folder(folder, name="folder") as staging:
            write_png(staging / "image.png", self.image)
            write_png(staging / "spectrogram.png", self.spectrogram)
            files.write_wav(staging / "audio.wav", self.waveform, self.sample_rate)
            if save_latents and self.latents is not None:
                np.save(staging / "latents.npy", self.latents.float().numpy().astype(np.float32))
            if video:
                from itslib.viz import write_video

                write_video(
                    staging / "video.mp4", self.spectrogram, self.waveform, self.sample_rate
                )
            with atomic_path(staging / "params.json") as tmp:
                tmp.write_text(json.dumps(self.params, indent=2, default=str) + "\n")
        return folder
