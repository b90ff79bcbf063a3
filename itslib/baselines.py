"""The paper's imprint baseline (Sec. 4.1, Appendix A.3), and what both baselines share.

**Imprint** carves a picture into a spectrogram: the picture is made gray and
inverted, and the spectrogram is dimmed where the picture is dark::

    result = spectrogram * (1 - strength * (1 - gray(picture)))      all in [0, 1]

**SDS**, the other baseline, lives in :mod:`itslib.sds`.

**The right-edge band.** Both VAEs leave a dark band at the right edge of what they
decode. Where the world crops it from the joint method's samples (``crop_right``, on in
the real world: 32/1024 of the width, see :meth:`ImagesThatSound.finish`), the baselines
crop their results the same way, so all methods are scored on the same canvas, as the
paper's public code does (``crop_image`` in its imprint and SDS example configs).

**The reader's own picture and recording** need no diffusion model:
:func:`imprint_files` carves one into the other on Auffusion's canvas with nothing but
the spectrogram arithmetic of :mod:`itslib.audio` and a vocoder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from itslib import audio, files
from itslib._hub import model_id
from itslib.audio import AUFFUSION, MelConfig
from itslib.checks import number, whole
from itslib.experts import Expert
from itslib.hifigan import HiFiGAN
from itslib.pipeline import (
    DEFAULT_BATCH,
    ImagesThatSound,
    batch_fits,
    crop_band,
    make_scheduler,
)
from itslib.results import Result
from itslib.sampler import Term, sample

IMPRINT_STRENGTH = 0.5  # the paper's (Appendix A.3): black halves the sound, white keeps it


def imprint(spectrogram: np.ndarray, picture: np.ndarray,
            strength: float = IMPRINT_STRENGTH) -> np.ndarray:  # fmt: skip
    """Carve ``picture`` into ``spectrogram`` (both (H, W) in [0, 1]).

    ``picture`` may be (H, W, 3) colour: it is made gray by channel mean. White
    leaves the sound as it is; black scales it by ``1 - strength``. Raises
    ``ValueError`` for NaN/infinite values or values outside [0, 1] (e.g. 0-255 pixels,
    which would otherwise carve nothing at all).
    """
    strength = number(strength, "strength", 0, 1)
    picture = audio.check_picture(picture, "picture")
    spectrogram = audio.check_picture(spectrogram, "spectrogram")
    if picture.ndim == 3:
        picture = picture.mean(axis=-1)
    if picture.shape != spectrogram.shape:
        raise ValueError(
            f"picture shape {picture.shape} must match spectrogram shape {spectrogram.shape}."
        )
    inverted = 1.0 - picture
    return spectrogram * (1.0 - strength * inverted)


def generate_alone(
    expert: Expert,
    prompt: str,
    steps: int,
    guidance: float,
    seed: int,
    shape,
    scheduler="ddim",
    latents: torch.Tensor | None = None,
) -> torch.Tensor:
    """One expert alone, as plain text-to-image diffusion: its decoded pictures
    (B, C, H, W) in [0, 1], one per starting latent. It starts from ``latents``
    (B, 4, h, w) when given, denoised together, else from one noise drawn from a CPU
    generator seeded with ``seed``."""
    if latents is None:
        generator = torch.Generator().manual_seed(seed)
        latents = torch.randn(shape, generator=generator)
    term = Term(expert, prompt, guidance=guidance, weight=1.0)
    out = sample([term], make_scheduler(scheduler, expert.scheduler_config), latents, steps,
                 progress=False)  # fmt: skip
    return expert.decode(out.latents)


def starting_noises(seed: int, shape) -> tuple[torch.Tensor, torch.Tensor]:
    """Imprint's two starting noises (fp32), two different draws from one CPU generator
    seeded with ``seed``: the picture's first, then the spectrogram's (the paper's code
    draws both, in that order, from one seeded generator)."""
    generator = torch.Generator("cpu").manual_seed(seed)
    image_noise = torch.randn(shape, generator=generator)
    audio_noise = torch.randn(shape, generator=generator)
    return image_noise, audio_noise


def imprint_many(
    pipeline: ImagesThatSound,
    image_prompt: str | None = None,
    audio_prompt: str | None = None,
    picture: np.ndarray | None = None,
    sound: np.ndarray | None = None,
    strength: float = IMPRINT_STRENGTH,
    image_steps: int = 50,
    image_guidance: float = 7.5,
    audio_steps: int = 100,
    audio_guidance: float = 7.5,
    seeds: Sequence[int] = (0,),
    height: int | None = None,
    width: int | None = None,
    vocoder: str | None = None,
    crop_right: bool | None = None,
    batch_size: int | None = None,
) -> list[Result]:
    """The imprint baseline, with generated or the reader's own inputs: one
    :class:`Result` per seed. The seeds' pictures (and spectrograms) are denoised and
    vocoded together, ``batch_size`` at a time (``None``: up to 8, as the joint
    pipeline); a batch too large for the GPU is a ``BatchTooLargeError`` naming it.
    :func:`imprint_baseline` draws one seed.

    The picture comes from ``picture`` ((H, W) or (H, W, 3) in [0, 1], e.g. from
    :func:`itslib.files.load_picture`) or is generated by the image expert from
    ``image_prompt`` (the paper: 50 DDIM steps, CFG 7.5); the spectrogram comes from
    ``sound`` (a waveform at the audio expert's rate) or is generated by the audio
    expert from ``audio_prompt`` (100 steps, CFG 7.5).

    Noise: for each seed, one CPU generator seeded with it gives the picture's starting
    noise first, then the spectrogram's, two different draws (as the paper's code
    does). Both are drawn even when the picture is the reader's own, so a seed's
    spectrogram is the same with a generated or a given picture, and in a batch or
    alone.

    ``crop_right`` (``None``: the pipeline's; on in the real world) drops the right
    32/1024 of the width of the picture, the spectrogram, the log-mel and the waveform,
    as the joint method's samples are cropped, so both are scored on the same canvas.
    The band is a VAE artefact, so it is cropped only when something was generated:
    with the reader's own picture *and* recording nothing went through a VAE, and the
    whole canvas is kept (``params["crop_right"]`` records what was done).
    """
    strength = number(strength, "strength", 0, 1)
    if not isinstance(seeds, Sequence) or not seeds:
        raise ValueError(f"seeds={seeds!r} must be a non-empty list of whole numbers.")
    try:
        seeds = [whole(s, "seed", low=None) for s in seeds]
    except ValueError:
        raise ValueError(f"seeds={seeds!r} must be a non-empty list of whole numbers.") from None
    batch_size = whole(DEFAULT_BATCH if batch_size is None else batch_size, "batch_size")
    if (picture is None) == (image_prompt is None):
        raise ValueError("give exactly one of image_prompt and picture.")
    if (sound is None) == (audio_prompt is None):
        raise ValueError("give exactly one of audio_prompt and sound.")
    if picture is not None:
        picture = audio.check_picture(picture, "picture")
    if sound is not None:
        sound = np.asarray(sound, dtype=np.float32)
        if not np.all(np.isfinite(sound)):
            raise ValueError("sound contains NaN or infinite values; clean the recording first.")
    canvas = pipeline.settings("", "", height=height, width=width, vocoder=vocoder,
                               crop_right=crop_right)  # fmt: skip
    height, width, vocoder = canvas.height, canvas.width, canvas.vocoder
    mel = pipeline.audio_expert.mel
    # Check the given inputs' sizes before any generation.
    if picture is not None and picture.shape[:2] != (height, width):
        raise ValueError(
            f"picture {picture.shape[:2]} and the canvas ({height}, {width}) differ in size: "
            f"load the picture with itslib.files.load_picture(path, {height}, {width})."
        )
    if sound is not None and (sound.ndim != 1 or mel.frames(sound.size) != width):
        raise ValueError(
            f"sound of shape {sound.shape} gives "
            f"{mel.frames(sound.size) if sound.ndim == 1 else '?'} frames but the canvas is "
            f"{width} frames wide: cut or pad the sound to {width * mel.hop_length} samples "
            f"(itslib.files.load_audio(path, seconds={mel.seconds(width)}))."
        )
    shape = pipeline.latent_shape(height, width)
    cropped = bool(canvas.crop_right) and (image_prompt is not None or audio_prompt is not None)
    if picture is not None and picture.ndim == 2:  # the reader's own inputs, prepared once
        picture = np.repeat(picture[..., None], 3, axis=2)
    if sound is not None:
        heard = audio.logmel_to_picture(audio.wav_to_logmel(sound, mel), mel)

    def one_batch(batch: list[int]) -> list[Result]:
        start = time.perf_counter()
        noises = [starting_noises(seed, shape) for seed in batch]
        if picture is None:
            made = generate_alone(pipeline.image_expert, image_prompt, image_steps,
                                  image_guidance, batch[0], shape,
                                  latents=torch.cat([image for image, _ in noises]))  # fmt: skip
            pictures = made.expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()  # gray: 1 -> 3
        else:
            pictures = np.stack([picture for _ in batch])
        if sound is None:
            spectrograms = generate_alone(pipeline.audio_expert, audio_prompt, audio_steps,
                                          audio_guidance, batch[0], shape,
                                          latents=torch.cat([a for _, a in noises]))  # fmt: skip
            spectrograms = spectrograms.mean(dim=1).numpy()
        else:
            spectrograms = np.stack([heard for _ in batch])
        carved = [imprint(s, p, strength) for s, p in zip(spectrograms, pictures, strict=True)]
        if cropped:
            pictures, carved = [crop_band(p) for p in pictures], [crop_band(c) for c in carved]
        logmels = np.stack([audio.picture_to_logmel(c, mel) for c in carved])
        waveforms = pipeline.vocode(logmels, vocoder)
        seconds = round((time.perf_counter() - start) / len(batch), 3)
        return [Result(
            image=pictures[i], spectrogram=carved[i], logmel=logmels[i], waveform=waveforms[i],
            sample_rate=mel.sample_rate, latents=None, params={
                "method": "imprint", "image_prompt": image_prompt, "audio_prompt": audio_prompt,
                "strength": strength, "image_steps": image_steps,
                "image_guidance": image_guidance, "audio_steps": audio_steps,
                "audio_guidance": audio_guidance, "seed": seed, "height": height,
                "width": width, "crop_right": cropped, "vocoder": vocoder,
                "world": pipeline.world, "own_picture": image_prompt is None,
                "own_sound": audio_prompt is None, "seconds": seconds, "batch_size": len(batch),
            },
        ) for i, seed in enumerate(batch)]  # fmt: skip

    results: list[Result] = []
    for first in range(0, len(seeds), batch_size):
        with batch_fits(len(seeds[first : first + batch_size])):
            results += one_batch(seeds[first : first + batch_size])
    return results


def imprint_baseline(
    pipeline: ImagesThatSound,
    image_prompt: str | None = None,
    audio_prompt: str | None = None,
    picture: np.ndarray | None = None,
    sound: np.ndarray | None = None,
    *,
    seed: int = 0,
    **settings,
) -> Result:
    """The imprint baseline for one ``seed``: :func:`imprint_many` with ``seeds=[seed]``
    (``settings``: its keywords and defaults, e.g. ``strength``, ``image_steps``,
    ``audio_steps``, guidance, canvas, vocoder)."""
    return imprint_many(pipeline, image_prompt, audio_prompt, picture, sound,
                        seeds=[whole(seed, "seed", low=None)], **settings)[0]  # fmt: skip


def vocoder_name(vocoder: nn.Module | None) -> str:
    """How :func:`itslib.audio.vocode` plays a log-mel with ``vocoder``, for ``params``."""
    if vocoder is None:
        return "griffin-lim"
    return "hifigan" if isinstance(vocoder, HiFiGAN) else type(vocoder).__name__


def file_vocoder(vocoder: nn.Module | str | None, model: str | os.PathLike | None = None):
    """The vocoder module for :func:`imprint_files`: ``None`` / ``"griffin-lim"`` -> None
    (Griffin-Lim); ``"hifigan"`` -> Auffusion's HiFi-GAN alone from ``model`` (``None``:
    ``ITSLIB_AUDIO_MODEL`` if set, else the hub's Auffusion), no diffusion model; a module
    is used as it is."""
    if vocoder is None or vocoder == "griffin-lim":
        return None
    if vocoder == "hifigan":
        return HiFiGAN.from_pretrained(str(model or model_id("audio")), subfolder="vocoder",
                                       mel=AUFFUSION)  # fmt: skip
    if isinstance(vocoder, nn.Module):
        return vocoder
    raise ValueError(f"vocoder={vocoder!r} must be None, 'griffin-lim', 'hifigan' or a module.")


def imprint_files(
    picture_path: str | os.PathLike,
    sound_path: str | os.PathLike,
    strength: float = IMPRINT_STRENGTH,
    mel: MelConfig = AUFFUSION,
    frames: int = audio.AUFFUSION_CANVAS[1],
    vocoder: nn.Module | str | None = None,
    seed: int = 0,
    n_iter: int = 32,
    height: int | None = None,
    width: int | None = None,
    vocoder_model: str | os.PathLike | None = None,
) -> Result:
    """Imprint the reader's own picture file into their own recording, with no diffusion
    model: it runs on any machine.

    The canvas is Auffusion's: ``mel.n_mels`` (256) mel bins x ``frames`` (1024, i.e.
    10.24 s at 100 frames a second). The picture is scaled to 256 rows keeping its
    aspect ratio, then centre-cropped to ``frames`` columns or padded with white (which
    carves nothing) (:func:`itslib.files.load_picture`). The recording is resampled to
    16 kHz and cut or padded with silence to the canvas (:func:`itslib.files.load_audio`
    says what it did, and when the recording is silent). The carved spectrogram is
    played by ``vocoder``: a module (e.g.
    :class:`itslib.hifigan.HiFiGAN`), ``"hifigan"`` to load Auffusion's HiFi-GAN alone
    from ``vocoder_model`` (its ``vocoder/`` folder; the default Auffusion id), or
    ``None`` / ``"griffin-lim"`` for Griffin-Lim (``n_iter`` iterations, phases from
    ``seed``), which needs no weights at all.

    ``height`` and ``width`` are the canvas as :func:`imprint_baseline` names it: ``width``
    (when given) is ``frames``; ``height`` must be ``mel.n_mels``.

    Nothing here went through a VAE, so there is no right-edge band and nothing is
    cropped: the result keeps the whole canvas (``params["crop_right"]`` is False).
    """
    strength = number(strength, "strength", 0, 1)
    frames = whole(frames if width is None else width, "frames")
    if height is not None and height != mel.n_mels:
        raise ValueError(f"height={height}: the spectrogram has {mel.n_mels} mel bins, so the "
                         f"picture is {mel.n_mels} rows high; leave height out.")  # fmt: skip
    start = time.perf_counter()
    picture = files.load_picture(picture_path, mel.n_mels, frames, fill=1.0)
    wav = files.load_audio(sound_path, mel.sample_rate, seconds=mel.seconds(frames))  # said
    vocoder = file_vocoder(vocoder, vocoder_model)
    spectrogram = audio.logmel_to_picture(audio.wav_to_logmel(wav, mel), mel)
    carved = imprint(spectrogram, picture, strength)
    logmel = audio.picture_to_logmel(carved, mel)
    waveform = audio.vocode(logmel, mel, vocoder, seed=seed, n_iter=n_iter)
    params = {
        "method": "imprint", "image_prompt": None, "audio_prompt": None,
        "picture": str(picture_path), "sound": str(sound_path), "strength": strength,
        "seed": seed, "height": mel.n_mels, "width": frames, "crop_right": False,
        "vocoder": vocoder_name(vocoder),
        "griffin_lim_iterations": n_iter if vocoder is None else None,
        "world": None, "own_picture": True, "own_sound": True,
        "recording_seconds": round(files.audio_seconds(sound_path), 3),
        "canvas_seconds": mel.seconds(frames), "mel": mel.to_dict(),
        "seconds": round(time.perf_counter() - start, 3),
    }  # fmt: skip
    return Result(
        image=np.repeat(picture[..., None], 3, axis=2), spectrogram=carved, logmel=logmel,
        waveform=waveform, sample_rate=mel.sample_rate, latents=None, params=params,
    )  # fmt: skip
