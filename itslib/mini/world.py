"""The miniature world's canvas, spectrogram settings and class names (its prompts).

The canvas is 128 x 512: a gray picture of 128 rows and 512 columns, or a
spectrogram of 128 mel bins and 512 frames (2.56 s of 16 kHz audio at hop 80).
It is Auffusion's spectrogram at half size on every axis (256 mel bins, n_fft 2048,
window 1024, hop 160 become 128, 1024, 512, 80), with the same log floor and
ceiling, the same [0, 1] picture mapping, and low frequencies at the bottom.
"""

from __future__ import annotations

from itslib.audio import MelConfig

HEIGHT, WIDTH = 128, 512
SAMPLE_RATE = 16000
HOP = 80
NUM_SAMPLES = WIDTH * HOP  # 40960 samples = 2.56 s
# Procedural shapes and blob sizes are given in design units on a 64 x 256 grid,
# whatever the canvas, so that every class keeps its proportions.
DESIGN_HEIGHT, DESIGN_WIDTH = 64, 256
UNIT = HEIGHT / DESIGN_HEIGHT  # canvas pixels per design unit

MINI_MEL = MelConfig(n_mels=HEIGHT, n_fft=1024, win_length=512, hop_length=HOP, fmin=0, fmax=8000)

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
