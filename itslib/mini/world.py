"""The miniature world's canvas, spectrogram settings and class names (its prompts).

The canvas is 64 x 256: a gray picture of 64 rows and 256 columns, or a spectrogram
of 64 mel bins and 256 frames (2.56 s of 16 kHz audio at hop 160), with the
Auffusion conventions scaled down (same log floor and [0, 1] picture mapping).
"""

from __future__ import annotations

from itslib.audio import MelConfig

HEIGHT, WIDTH = 64, 256
SAMPLE_RATE = 16000
HOP = 160
NUM_SAMPLES = WIDTH * HOP  # 40960 samples = 2.56 s

MINI_MEL = MelConfig(n_mels=64, n_fft=1024, win_length=512, hop_length=160, fmin=0, fmax=8000)

PICTURE_CLASSES: tuple[str, ...] = (
    "circles", "stars", "triangles", "mountains",
    "waves", "city skyline", "trees", "checkerboard",
)  # fmt: skip
SOUND_CLASSES: tuple[str, ...] = (
    "bell ringing", "siren", "engine humming", "birds chirping",
    "rain", "drum beats", "chord", "whistle",
)  # fmt: skip
NULL_CLASS = len(PICTURE_CLASSES)  # the "no prompt" class for classifier-free guidance


def check_class(name: str, classes: tuple[str, ...], what: str) -> int:
    """Index of ``name`` in ``classes``; ``ValueError`` naming ``what`` if it is not one."""
    if name not in classes:
        raise ValueError(f"{what}={name!r} is not a class; choose one of {list(classes)}.")
    return classes.index(name)
