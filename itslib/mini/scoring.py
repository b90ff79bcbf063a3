"""The miniature world's judges behind the CLIP/CLAP interface (:class:`MiniJudge`), so
that tables, sweeps and re-ranking score both worlds through one door
(:mod:`itslib.metrics`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from itslib.metrics import _batch, _prompt_list
from itslib.mini.store import judge_pictures, judge_sounds, load_components
from itslib.mini.world import NUM_SAMPLES, PICTURE_CLASSES, SAMPLE_RATE, SOUND_CLASSES, check_class


class MiniJudge:
    """The miniature world's judges behind the CLIP/CLAP interface.

    ``picture_judge`` and ``sound_judge`` are :class:`itslib.mini.models.Judge` modules;
    scores are the probability of the prompted class x 100 (accepted when >= 50).
    """

    def __init__(
        self,
        picture_judge: torch.nn.Module,
        sound_judge: torch.nn.Module,
        picture_classes: Sequence[str] | None = None,
        sound_classes: Sequence[str] | None = None,
    ) -> None:
        self.picture_judge, self.sound_judge = picture_judge.eval(), sound_judge.eval()
        self.picture_classes = tuple(picture_classes or PICTURE_CLASSES)
        self.sound_classes = tuple(sound_classes or SOUND_CLASSES)

    @classmethod
    def shipped(cls, folder: str | Path | None = None, device: str = "cpu") -> MiniJudge:
        """The judges shipped in the package (or in ``folder``), via ``load_components``."""
        parts = load_components(folder, device=device)
        return cls(
            parts.picture_judge, parts.sound_judge, parts.picture_classes, parts.sound_classes
        )

    @staticmethod
    def _classes(prompts: list[str], classes: tuple[str, ...], name: str) -> np.ndarray:
        return np.array([check_class(p, classes, name) for p in prompts])

    def score_pictures(self, pictures: Any, prompts: str | Sequence[str]) -> np.ndarray:
        """p(prompted picture class) x 100, shape (B,), for pictures (B, 128, 512) in [0, 1]."""
        batch = np.stack(_batch(pictures, 2, "pictures"))
        wanted = self._classes(_prompt_list(prompts, len(batch)), self.picture_classes, "prompt")
        probs = judge_pictures(batch, judge=self.picture_judge)
        return probs[np.arange(len(batch)), wanted] * 100

    def score_sounds(
        self, waveforms: Any, sample_rate: int, prompts: str | Sequence[str]
    ) -> np.ndarray:
        """p(prompted sound class) x 100, shape (B,), for waveforms (B, 40960) at 16 kHz (other
        rates are resampled to 16 kHz first). The judge listens to the waveform itself."""
        import librosa

        wavs = _batch(waveforms, 1, "waveforms")
        if sample_rate != SAMPLE_RATE:
            wavs = [librosa.resample(w, orig_sr=sample_rate, target_sr=SAMPLE_RATE) for w in wavs]
        wanted = self._classes(_prompt_list(prompts, len(wavs)), self.sound_classes, "prompt")
        if len({w.shape for w in wavs}) > 1:
            raise ValueError(f"waveforms must have {NUM_SAMPLES} samples each at 16 kHz.")
        probs = judge_sounds(np.stack(wavs), judge=self.sound_judge)
        return probs[np.arange(len(wavs)), wanted] * 100
