"""The miniature world's data in one place: pictures, sounds and batches of both.

Pictures come from :mod:`itslib.mini.pictures`, sounds from :mod:`itslib.mini.sounds`;
the canvas, the spectrogram settings (``MINI_MEL``) and the class names (the
prompts) from :mod:`itslib.mini.world`. Everything is deterministic from a seed.
"""

from __future__ import annotations

import numpy as np

from itslib.mini.pictures import make_picture
from itslib.mini.sounds import make_sound, sound_batch, sound_picture
from itslib.mini.world import (
    HEIGHT,
    MINI_MEL,
    NULL_CLASS,
    NUM_SAMPLES,
    PICTURE_CLASSES,
    SAMPLE_RATE,
    SOUND_CLASSES,
    WIDTH,
)


def picture_batch(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pictures with balanced classes: (pictures (n, HEIGHT, WIDTH), labels (n,))."""
    if n < 1:
        raise ValueError(f"n={n} must be >= 1.")
    labels = rng.permutation(np.arange(n) % len(PICTURE_CLASSES))
    pictures = np.stack([make_picture(PICTURE_CLASSES[k], rng) for k in labels])
    return pictures, labels.astype(np.int64)


__all__ = [
    "HEIGHT",
    "MINI_MEL",
    "NULL_CLASS",
    "NUM_SAMPLES",
    "PICTURE_CLASSES",
    "SAMPLE_RATE",
    "SOUND_CLASSES",
    "WIDTH",
    "make_picture",
    "make_sound",
    "picture_batch",
    "sound_batch",
    "sound_picture",
]
