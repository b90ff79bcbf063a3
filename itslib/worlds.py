"""Two worlds, one code path: the real models on a GPU, the miniature ones anywhere.

A :class:`World` carries everything a chapter, a sweep or the CLI needs to know about
where it runs: its pipeline, its two judges and how to read their scores, example
prompt pairs, its canvas, and the settings that differ between worlds. Chapters ask
their world; they never branch on its name.

- ``real``: Stable Diffusion 1.5 + Auffusion (fp16 on CUDA), CLIP and CLAP as judges,
  DeepFloyd IF for colour. Every model id can be pointed elsewhere by an environment
  variable (:data:`itslib._hub.REAL_MODELS`), e.g. at the tiny random-weight copies that
  ``python -m itslib rehearse DIR`` writes, which is how CI runs the Colab path.
- ``mini``: the miniature experts and judges the project trains and ships
  (:mod:`itslib.mini`), on any CPU in seconds.

:func:`load_world` picks one: the ``ITSLIB_WORLD`` environment variable if set, else
the real models when a CUDA GPU is present, the miniature ones otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from itslib import checks
from itslib._hub import ModelUnavailableError
from itslib._hub import model_id as real_model
from itslib.audio import AUFFUSION, AUFFUSION_CANVAS
from itslib.hifigan import HiFiGAN
from itslib.metrics import ACCEPT, CLAPJudge, CLIPJudge, Judges
from itslib.mini.experts import mini_pipeline
from itslib.mini.scoring import MiniJudge
from itslib.mini.world import HEIGHT, PICTURE_CLASSES, SOUND_CLASSES, WIDTH
from itslib.pipeline import ImagesThatSound
from itslib.sds import SDSSettings
from itslib.settings import Settings

CHOICES = ("auto", "real", "mini")


@dataclass
class World:
    """What differs between worlds; the code that uses it does not.

    Attributes:
        name: ``"real"`` or ``"mini"``, for pages that say which world drew them.
        about: one line for such pages.
        canvas: (height, width) in pixels = (mel bins, frames).
        examples: (image prompt, audio prompt) pairs to start from.
        image_prompts, audio_prompts: prompts the judges can be asked about (the mini
            world's class names; the real world's example prompts).
        closed_prompts: True when prompts must be one of those (class names).
        table_guidance: the guidance scale its tables use.
        rerank_seeds: how many seeds the book draws per pair before re-ranking.
        sds: the SDS settings the CLI, sweeps and tables use here (real: the paper's).
        book_sds: SDS settings short enough for a chapter (the paper runs 40,000 steps).
        pipeline: the joint pipeline, set by :func:`load_world`.
    """

    name: str
    about: str
    canvas: tuple[int, int]
    examples: list[tuple[str, str]]
    image_prompts: list[str]
    audio_prompts: list[str]
    closed_prompts: bool
    table_guidance: float
    rerank_seeds: int
    sds: SDSSettings
    book_sds: SDSSettings
    pipeline: ImagesThatSound | None = field(default=None, repr=False)

    def check(self, settings: Settings) -> Settings:
        """All that can be known of ``settings`` before a model loads: its own rules
        (:meth:`Settings.check`), this world's canvas height (its mel bins) and, where
        prompts are class names, the prompts. Raises ``ValueError``; returns ``settings``."""
        settings.check().check_canvas(self.canvas)
        self.check_prompts(settings.image_prompt, settings.audio_prompt)
        return settings

    def check_prompts(self, image_prompt: str | None, audio_prompt: str | None) -> None:
        """Where prompts must be class names (:attr:`closed_prompts`), each given one is."""
        if not self.closed_prompts:
            return
        for name, prompt, allowed in (("image_prompt", image_prompt, self.image_prompts),
                                      ("audio_prompt", audio_prompt, self.audio_prompts)):
            if prompt and prompt.strip() not in allowed:
                raise ValueError(f"{name}={prompt!r} is not one of the {self.name} world's "
                                 f"classes: {', '.join(allowed)}.")  # fmt: skip

    def load_pipeline(self, **options: Any) -> ImagesThatSound:
        raise NotImplementedError

    def load_judges(self, device: str | torch.device | None = None) -> Judges:
        raise NotImplementedError

    def load_vocoder(self) -> HiFiGAN | None:
        """The neural vocoder, or ``None`` where the world plays spectrograms by Griffin-Lim."""
        return None

    def colorizer_unavailable(self) -> str | None:
        """Why colourisation cannot run here (``None``: it can)."""
        return None

    def sds_settings(self, **overrides: Any) -> SDSSettings:
        """A fresh copy of :attr:`book_sds` with ``overrides``."""
        return replace(self.book_sds, **overrides)

    def drawn_by(self) -> str:
        """The line a page prints to say which world drew it."""
        return f"This page was drawn by the {self.name} world: {self.about}."


class RealWorld(World):
    """Stable Diffusion 1.5 + Auffusion, judged by CLIP and CLAP."""

    def load_pipeline(self, image_model=None, audio_model=None, device=None, dtype=None,
                      offload: bool = False, **_: Any) -> ImagesThatSound:  # fmt: skip
        """Both experts (``None``: ``ITSLIB_IMAGE_MODEL`` / ``ITSLIB_AUDIO_MODEL`` or the hub)."""
        return ImagesThatSound.from_pretrained(image_model, audio_model, device, dtype, offload)

    def load_judges(self, device: str | torch.device | None = None) -> Judges:
        device = device or (self.pipeline.audio_expert.device if self.pipeline else None)
        return Judges(CLIPJudge.from_pretrained(device=device),
                      CLAPJudge.from_pretrained(device=device), unit="CLIP / CLAP score")

    def load_vocoder(self) -> HiFiGAN:
        return HiFiGAN.from_pretrained(real_model("audio"), subfolder="vocoder", mel=AUFFUSION)


class MiniWorld(World):
    """The miniature experts and judges shipped in :mod:`itslib.mini`."""

    def load_pipeline(self, device=None, dtype=None, mini_folder=None,
                      **_: Any) -> ImagesThatSound:  # fmt: skip
        return mini_pipeline(mini_folder, device=device or "cpu", dtype=dtype)

    def load_judges(self, device: str | torch.device | None = None) -> Judges:
        return Judges(*[MiniJudge.shipped()] * 2, threshold=ACCEPT, scale=100.0,
                      unit="judge probability x 100")  # fmt: skip

    def colorizer_unavailable(self) -> str | None:
        return ("colourisation needs DeepFloyd IF, a pixel model of real photographs; the "
                "miniature world has none. Open this chapter in Colab with a GPU runtime.")


# Prompt pairs (image prompt, audio prompt) to start from. The real ones follow the
# paper's examples and its advice: "a painting of X, grayscale", and style words such
# as "lithograph style" or "black background" make room for silence.
REAL_EXAMPLES = [
    ("a painting of castle towers, grayscale", "bell ringing"),
    ("a painting of cute kittens, grayscale", "a kitten meowing for attention"),
    ("a painting of a tiger, grayscale", "tiger growling"),
    ("a lithograph of a garden with flowers, grayscale", "birds singing sweetly"),
    ("a painting of a train, black background, grayscale", "a train whistling"),
    ("a painting of racing cars, grayscale", "a race car passing by and disappearing"),
]
# Pairs whose intersection the miniature experts found for both seeds of Table 1 in
# miniature (itslib/mini/results/full): a shape on black filled with a sound's texture.
# "triangles" rarely meets anything.
MINI_EXAMPLES = [
    ("city skyline", "drum beats"),
    ("trees", "bell ringing"),
    ("circles", "chord"),
    ("stars", "birds chirping"),
    ("waves", "siren"),
    ("checkerboard", "rain"),
]

# canvas_hidden 64: at 128 x 512 the paper's 256-wide canvas network alone took 0.9 s a
# step on 2 cores, 64 takes 0.15 s
MINI_SDS = SDSSettings(steps=300, audio_only_steps=40, lr=1e-2, image_guidance=7.5,
                       audio_guidance=7.5, canvas_hidden=64)  # fmt: skip

WORLDS: dict[str, World] = {
    "real": RealWorld(
        name="real",
        about="Stable Diffusion 1.5 + Auffusion, judged by CLIP and CLAP",
        canvas=AUFFUSION_CANVAS,
        examples=REAL_EXAMPLES,
        image_prompts=[image for image, _ in REAL_EXAMPLES],
        audio_prompts=[sound for _, sound in REAL_EXAMPLES],
        closed_prompts=False,
        table_guidance=10.0,
        rerank_seeds=4,
        sds=SDSSettings(),  # the paper's: 40,000 steps, about 2 hours a sample on an L40S
        # a few thousand steps through SD's VAE, with a larger learning rate
        book_sds=SDSSettings(steps=2000, audio_only_steps=250, lr=1e-3, image_guidance=40.0,
                             snapshot_every=200),  # fmt: skip
    ),
    "mini": MiniWorld(
        name="mini",
        about="the miniature models this project trains and ships, on the CPU",
        canvas=(HEIGHT, WIDTH),
        examples=MINI_EXAMPLES,
        image_prompts=list(PICTURE_CLASSES),
        audio_prompts=list(SOUND_CLASSES),
        closed_prompts=True,
        table_guidance=7.5,
        rerank_seeds=6,
        # small models learn fast: 300 steps at a larger learning rate, guidance 7.5
        sds=MINI_SDS,
        book_sds=replace(MINI_SDS, snapshot_every=30),
    ),
}
EXAMPLES = {name: world.examples for name, world in WORLDS.items()}


def pick_world(models: str = "auto", quiet: bool = False) -> str:
    """Resolve ``auto``: the ``ITSLIB_WORLD`` environment variable if set, else ``real``
    with a CUDA GPU and ``mini`` without (saying so in one printed line)."""
    if models not in CHOICES:
        raise ValueError(f"models={models!r} must be one of {', '.join(CHOICES)}.")
    if models != "auto":
        return models
    chosen = os.environ.get("ITSLIB_WORLD", "").strip().lower()
    if chosen:
        if chosen not in WORLDS:
            raise ValueError(f"ITSLIB_WORLD={chosen!r} must be 'real' or 'mini'.")
        return chosen
    if torch.cuda.is_available():
        return "real"
    if not quiet:
        print("No CUDA GPU found: using the miniature models (itslib.mini); "
              "pass --models real to use Stable Diffusion 1.5 + Auffusion.")  # fmt: skip
    return "mini"


def load_world(models: str = "auto", quiet: bool = False, **options: Any) -> World:
    """The chosen world (see :func:`pick_world`) with its pipeline loaded.

    ``options`` go to its ``load_pipeline``: ``device`` and ``dtype`` (both worlds),
    ``image_model``, ``audio_model``, ``offload`` (real), ``mini_folder`` (mini; default
    ``ITSLIB_MINI_WEIGHTS``). With ``models="auto"`` and real models that cannot be had
    (offline, not logged in), it says so and falls back to the miniature world on the CPU
    (or ``device``) in ``dtype`` (fp16, which needs CUDA, becomes fp32 there, said).
    """
    checks.device(options.get("device"))
    name = pick_world(models, quiet)
    world = replace(WORLDS[name])
    try:
        world.pipeline = world.load_pipeline(**options)
    except ModelUnavailableError as err:
        if models != "auto" or name == "mini":
            raise
        print(f"The real models are not available ({str(err).splitlines()[0]}); "
              "using the miniature models instead.")  # fmt: skip
        world = replace(WORLDS["mini"])
        device, dtype = options.get("device") or "cpu", options.get("dtype")
        if dtype == torch.float16 and torch.device(device).type == "cpu":
            print("fp16 needs a CUDA GPU; the miniature models run in fp32 on the CPU.")
            dtype = None
        world.pipeline = world.load_pipeline(device=device, dtype=dtype,
                                             mini_folder=options.get("mini_folder"))  # fmt: skip
    return world


def load_pipeline(models: str = "auto", **options: Any) -> ImagesThatSound:
    """The pipeline of :func:`load_world` (kept for scripts written before worlds)."""
    return load_world(models, **options).pipeline
