"""Two worlds, one code path: the real models on a GPU, the miniature ones anywhere.

- ``real``: Stable Diffusion 1.5 + Auffusion from the Hugging Face hub (fp16 on CUDA).
- ``mini``: the miniature image and audio experts the project trains and ships
  (:mod:`itslib.mini`), on any CPU in seconds.

Both are an :class:`~itslib.pipeline.ImagesThatSound`; the sampler cannot tell them
apart. :func:`load_pipeline` picks one: the real models when a CUDA GPU is present,
the miniature ones otherwise, unless told (``models=`` or ``ITSLIB_WORLD``).
"""

from __future__ import annotations

import os

import torch

from itslib.experts import AUDIO_MODEL, IMAGE_MODEL, ClassPromptEncoder, Expert
from itslib.pipeline import ImagesThatSound

WORLDS = ("auto", "real", "mini")

# Prompt pairs (image prompt, audio prompt) to start from, per world. The real ones
# follow the paper's examples and its advice: "a painting of X, grayscale", and
# style words such as "lithograph style" or "black background" make room for silence.
EXAMPLES = {
    "real": [
        ("a painting of castle towers, grayscale", "bell ringing"),
        ("a painting of cute kittens, grayscale", "a kitten meowing for attention"),
        ("a painting of a tiger, grayscale", "tiger growling"),
        ("a lithograph of a garden with flowers, grayscale", "birds singing sweetly"),
        ("a painting of a train, black background, grayscale", "a train whistling"),
        ("a painting of racing cars, grayscale", "a race car passing by and disappearing"),
    ],
    # Pairs whose intersection the miniature experts find for most seeds (Table 1 in
    # miniature, itslib/mini/results/full): large shapes with a continuous or rhythmic
    # sound. "bell ringing" and "triangles" rarely meet anything.
    "mini": [
        ("city skyline", "drum beats"),
        ("mountains", "siren"),
        ("waves", "engine humming"),
        ("stars", "rain"),
        ("circles", "drum beats"),
        ("trees", "rain"),
    ],
}


def pick_world(models: str = "auto", quiet: bool = False) -> str:
    """Resolve ``auto``: the ``ITSLIB_WORLD`` environment variable if set, else ``real``
    with a CUDA GPU and ``mini`` without (saying so in one printed line)."""
    if models not in WORLDS:
        raise ValueError(f"models={models!r} must be one of {', '.join(WORLDS)}.")
    if models != "auto":
        return models
    chosen = os.environ.get("ITSLIB_WORLD", "").strip().lower()
    if chosen:
        if chosen not in ("real", "mini"):
            raise ValueError(f"ITSLIB_WORLD={chosen!r} must be 'real' or 'mini'.")
        return chosen
    if torch.cuda.is_available():
        return "real"
    if not quiet:
        print("No CUDA GPU found: using the miniature models (itslib.mini); "
              "pass --models real to use Stable Diffusion 1.5 + Auffusion.")  # fmt: skip
    return "mini"


def mini_pipeline(
    folder: str | os.PathLike | None = None, device: str = "cpu", threads: int | None = 1
) -> ImagesThatSound:
    """The miniature world as a joint pipeline: class-name prompts, a 64 x 256 canvas,
    one shared autoencoder, Griffin-Lim as the vocoder.

    ``threads``: sets ``torch.set_num_threads`` (process-wide). The miniature UNets are
    too small to gain from more CPU threads, and with other work running a second
    thread made each UNet call up to 10x slower here; ``None`` leaves it alone.
    """
    from itslib import mini

    if threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(threads)

    folder = folder or os.environ.get("ITSLIB_MINI_WEIGHTS") or None
    parts = mini.load_components(folder, device=device)
    source = str(folder) if folder is not None else "itslib/mini/weights"

    def expert(name: str, unet, classes) -> Expert:
        return Expert(name=name, unet=unet, vae=parts.vae,
                      prompt_encoder=ClassPromptEncoder(classes),
                      scheduler_config=dict(parts.scheduler_config), model_id=f"{source}:{name}",
                      mel=mini.MINI_MEL)  # fmt: skip

    return ImagesThatSound(
        expert("image", parts.image_unet, parts.picture_classes),
        expert("audio", parts.audio_unet, parts.sound_classes),
        world="mini",
        canvas=(mini.HEIGHT, mini.WIDTH),
        crop_right=False,
        info={"world": "mini"},
    )


def load_pipeline(
    models: str = "auto",
    image_model: str = IMAGE_MODEL,
    audio_model: str = AUDIO_MODEL,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    offload: bool = False,
    mini_folder: str | os.PathLike | None = None,
    quiet: bool = False,
) -> ImagesThatSound:
    """The pipeline of the chosen world (see :func:`pick_world`).

    With ``models="auto"`` and a GPU whose hub access fails (offline, not logged in),
    it says so and falls back to the miniature world. ``ITSLIB_MINI_WEIGHTS`` points
    at another folder of miniature weights (e.g. ones you trained).
    """
    from itslib._hub import ModelUnavailableError

    world = pick_world(models, quiet)
    if world == "mini":
        return mini_pipeline(mini_folder, device=device or "cpu")
    try:
        return ImagesThatSound.from_pretrained(image_model, audio_model, device, dtype, offload)
    except ModelUnavailableError as err:
        if models != "auto":
            raise
        print(f"The real models are not available ({str(err).splitlines()[0]}); "
              "using the miniature models instead.")  # fmt: skip
        return mini_pipeline(mini_folder, device="cpu")
