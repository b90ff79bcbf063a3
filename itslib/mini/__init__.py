"""The miniature world: procedural pictures and sounds, small models, shipped weights.

A faithful miniature of the paper's setting that runs on any CPU in seconds:

- the canvas is 128 x 512 (128 mel bins x 512 frames = 2.56 s at 16 kHz): Auffusion's
  spectrogram at half size on every axis (:data:`MINI_MEL`);
- eight picture classes and eight sound classes, whose names are the prompts, each
  drawn broadly: a picture class is told by its shapes, whatever texture fills them
  (three in five are filled with the grain of a sound), and a sound class by its
  texture, wherever it sits and whatever shape it wears (two in three sounds live
  inside a random time-frequency region or a picture class's shapes, silent
  outside). Broad classes overlap, and their overlap is where images that sound
  live. Most pictures are drawn on black and half the sounds keep digital silence,
  so the experts agree on dark regions;
- a shared autoencoder (1 x 128 x 512 <-> 4 x 32 x 128, Auffusion's latent shape), an
  image expert and an audio expert (class-conditional UNets; class 8 is the null class
  for guidance), the audio expert fine-tuned from the image expert as Auffusion was
  from SD 1.5;
- two judges, the stand-ins for CLIP and CLAP: :func:`judge_pictures` looks,
  :func:`judge_sounds` listens.

Load the shipped weights with :func:`load_components`; retrain them with
``python -m itslib train-mini --out DIR``.
"""

from itslib.mini.pictures import make_picture, picture_batch
from itslib.mini.sounds import make_sound, sound_batch, sound_picture
from itslib.mini.store import MiniComponents, judge_pictures, judge_sounds, load_components
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

__all__ = [
    "HEIGHT",
    "MINI_MEL",
    "NULL_CLASS",
    "NUM_SAMPLES",
    "PICTURE_CLASSES",
    "SAMPLE_RATE",
    "SOUND_CLASSES",
    "WIDTH",
    "MiniComponents",
    "judge_pictures",
    "judge_sounds",
    "load_components",
    "make_picture",
    "make_sound",
    "picture_batch",
    "sound_batch",
    "sound_picture",
]
