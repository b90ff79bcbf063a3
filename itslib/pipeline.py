"""Prompts in, images that sound out: experts + sampler + decoders + vocoder.

``ImagesThatSound(image_expert, audio_expert)(image_prompt, audio_prompt)`` reads top to
bottom as the method does:

1. check the inputs (:class:`itslib.settings.Settings`, the paper's defaults);
2. encode each expert's prompt pair (and the reader's picture), once for all samples;
3. draw the starting latent for each sample (a CPU generator seeded ``seed + k``),
   or encode and noise the reader's own picture or recording;
4. run the product-of-experts denoising loop (:func:`itslib.sampler.sample`);
5. decode the clean latent twice: the image VAE gives the RGB picture, the audio
   VAE gives the spectrogram (channel mean);
6. spectrogram -> log-mel -> waveform (HiFi-GAN, or Griffin-Lim);
7. pack everything, with the parameters used, into a :class:`Result`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

import itslib
from itslib import audio
from itslib.checks import whole
from itslib.experts import Expert, load_audio_expert, load_image_expert
from itslib.results import Result
from itslib.sampler import SampleOutput, image_audio_terms, sample
from itslib.settings import SCHEDULERS, SETTING_KEYWORDS, Settings

# the keywords of ImagesThatSound.__call__ that are Settings fields
# samples denoised together by default: enough to keep a GPU busy at the 4 x 32 x 128
# latent and to amortise the miniature UNets' per-call overhead on a CPU
DEFAULT_BATCH = 8


class BatchTooLargeError(ValueError):
    """A batch of samples did not fit in the device's memory."""


@contextmanager
def batch_fits(batch_size: int):
    """Inside, a CUDA out-of-memory error becomes a :class:`BatchTooLargeError` that
    names ``batch_size`` and suggests half of it."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        raise BatchTooLargeError(
            f"batch_size={batch_size} does not fit in the GPU's memory; pass a smaller "
            f"batch_size (--batch-size {max(1, batch_size // 2)}) or offload (--offload)."
        ) from err

def make_scheduler(name: str, config: dict[str, Any]):
    """A diffusers scheduler by short name, built from the expert's schedule config.

    ``name``: one of :data:`itslib.settings.SCHEDULERS` (``ddim``, the paper's, eta 0;
    ``dpm++``, DPM-Solver++ multistep, 2nd order; ``euler``; ``pndm``, PLMS).
    """
    import diffusers

    if name not in SCHEDULERS:
        raise ValueError(f"scheduler={name!r} is not one of {', '.join(SCHEDULERS)}.")
    class_name, extra = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(config, **extra)


def right_band(width: int) -> int:
    """Columns of the dark right-edge band the VAEs leave: 32 of every 1024 (rounded)."""
    return round(width * 32 / 1024)


def crop_band(picture: np.ndarray) -> np.ndarray:
    """``picture`` (H, W) or (H, W, C) without its right-edge band (as the joint method's
    :meth:`ImagesThatSound.finish` crops it)."""
    return np.ascontiguousarray(picture[:, : picture.shape[1] - right_band(picture.shape[1])])


@dataclass
class ImagesThatSound:
    """The joint pipeline: an image expert, an audio expert and a vocoder.

    ``vocoder`` defaults to the audio expert's own (``extras["vocoder"]``); the
    Griffin-Lim option needs none.
    """

    image_expert: Expert
    audio_expert: Expert
    vocoder: torch.nn.Module | None = None
    world: str = "real"
    canvas: tuple[int, int] = audio.AUFFUSION_CANVAS  # (mel bins, frames)
    crop_right: bool = True
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vocoder is None:
            self.vocoder = self.audio_expert.extras.get("vocoder")

    def settings(self, image_prompt: str, audio_prompt: str, settings: Settings | None = None,
                 **overrides: Any) -> Settings:  # fmt: skip
        """The one checked :class:`Settings` of a call: ``settings`` (default: the paper's),
        the prompts and the ``overrides`` that are not ``None`` over it, and this world's
        canvas, vocoder and crop where they are still ``None``. ``settings`` itself is not
        changed."""
        unknown = sorted(set(overrides) - set(Settings.names()))
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)}; the settings are: "
                             f"{', '.join(sorted(SETTING_KEYWORDS))}.")  # fmt: skip
        given = {k: v for k, v in overrides.items() if v is not None}
        config = replace(settings or Settings(), image_prompt=image_prompt,
                         audio_prompt=audio_prompt, **given)  # fmt: skip
        if config.height is None:
            config.height = self.canvas[0]
        if config.width is None:
            config.width = self.canvas[1]
        if config.vocoder is None:
            config.vocoder = "hifigan" if self.vocoder is not None else "griffin-lim"
        if config.crop_right is None:
            config.crop_right = self.crop_right
        config.check().check_canvas((self.audio_expert.mel.n_mels, self.canvas[1]))
        if config.vocoder == "hifigan" and self.vocoder is None:
            raise ValueError("vocoder='hifigan' but this audio expert has none; use 'griffin-lim'.")
        return config

    @classmethod
    def from_pretrained(
        cls,
        image_model: str | None = None,
        audio_model: str | None = None,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        offload: bool = False,
    ) -> ImagesThatSound:
        """Stable Diffusion 1.5 + Auffusion (hub ids or local folders; ``None``: the
        ``ITSLIB_IMAGE_MODEL`` / ``ITSLIB_AUDIO_MODEL`` variables, else the hub); fp16 on CUDA.

        ``offload``: keep text encoders and VAEs in CPU memory between uses (saves
        about 0.8 GB of GPU memory in fp16; the UNets stay on the GPU).
        """
        return cls(
            load_image_expert(image_model, device, dtype, offload=offload),
            load_audio_expert(audio_model, device, dtype, offload=offload),
            world="real",
        )

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        factor = 2 ** (len(self.audio_expert.vae.config.block_out_channels) - 1)
        return (1, self.audio_expert.vae.config.latent_channels, height // factor, width // factor)

    def check_init(self, config: Settings, init_picture: Any, init_sound: Any) -> np.ndarray | None:
        """The start, as a gray (height, width) picture in [0, 1]: ``init_picture`` (H, W)
        or colour (H, W, C), made gray by channel mean, or ``init_sound`` (samples,) at the
        audio model's rate as its spectrogram. Raises ``ValueError`` in the canvas's terms,
        naming the loader that fits a file to it."""
        mel, (height, width) = self.audio_expert.mel, (config.height, config.width)
        if init_picture is not None:
            picture = audio.check_picture(init_picture, "init_picture")
            picture = picture.mean(axis=2) if picture.ndim == 3 else picture
            if picture.shape != (height, width):
                raise ValueError(
                    f"init_picture is {picture.shape[0]} x {picture.shape[1]} pixels but the "
                    f"canvas is {height} x {width} (mel bins x frames); load it with "
                    f"itslib.files.load_picture(path, {height}, {width}), which scales and "
                    "crops it."
                )  # fmt: skip
            return picture
        if init_sound is not None:
            wav = audio._as_numpy(init_sound, "init_sound")
            if wav.ndim != 1:
                raise ValueError(f"init_sound must be mono, shape (samples,); got {wav.shape} "
                                 "(itslib.files.load_audio mixes a file down).")  # fmt: skip
            want = width * mel.hop_length
            if wav.shape[-1] != want:
                raise ValueError(
                    f"init_sound is {wav.shape[-1]} samples ({wav.shape[-1] / mel.sample_rate:.3f}"
                    f" s at {mel.sample_rate} Hz) but the canvas holds {width} frames = {want} "
                    f"samples ({mel.seconds(width):.2f} s); load it with itslib.files.load_audio("
                    f"path, {mel.sample_rate}, seconds={mel.seconds(width):.2f}), which cuts or "
                    "pads it."
                )  # fmt: skip
            return audio.logmel_to_picture(audio.wav_to_logmel(wav, mel), mel)
        return None

    def encode_init(self, settings: Settings, init_picture: np.ndarray) -> torch.Tensor:
        """The reader's picture or spectrogram (H, W) in [0, 1] as a clean latent
        (1, 4, h, w), through the image VAE (``init="picture"``) or the audio VAE."""
        expert = self.image_expert if settings.init == "picture" else self.audio_expert
        return expert.encode(torch.as_tensor(init_picture, dtype=torch.float32)[None, None])

    def initial_latents(self, settings: Settings, samples: range, clean: torch.Tensor | None):
        """Step 3: the starting latents (B, 4, h, w) of ``samples`` (sample k's noise from
        seed + k; with a ``clean`` latent, noised to ``strength``), the first step, and the
        first sample's generator (for the stochastic schedulers)."""
        generators = [torch.Generator("cpu").manual_seed(settings.seed + k) for k in samples]
        shape = self.latent_shape(settings.height, settings.width)
        # fp32 whatever the experts' precision: a seed starts from the same noise in each
        noise = torch.cat([torch.randn(shape, generator=g) for g in generators])
        if clean is None:
            return noise, 0, generators[0]
        scheduler = make_scheduler(settings.scheduler, self.image_expert.scheduler_config)
        scheduler.set_timesteps(settings.steps)
        # diffusers' image-to-image rule (int, not round), at least one step
        first = settings.steps - max(1, int(settings.steps * settings.strength))
        t = scheduler.timesteps[first : first + 1]
        clean = clean.expand(len(generators), -1, -1, -1)
        return scheduler.add_noise(clean, noise.float(), t), first, generators[0]

    def __call__(
        self,
        image_prompt: str,
        audio_prompt: str,
        num_samples: int = 1,
        *,
        settings: Settings | None = None,
        seed: int | None = None,
        steps: int | None = None,
        image_guidance: float | None = None,
        audio_guidance: float | None = None,
        audio_weight: float | None = None,
        image_start: float | None = None,
        audio_start: float | None = None,
        negative_image_prompt: str | None = None,
        negative_audio_prompt: str | None = None,
        scheduler: str | None = None,
        eta: float | None = None,
        height: int | None = None,
        width: int | None = None,
        vocoder: str | None = None,
        crop_right: bool | None = None,
        strength: float | None = None,
        init_picture: np.ndarray | None = None,
        init_sound: np.ndarray | None = None,
        batch_size: int | None = None,
        capture: bool = False,
        progress: bool = True,
    ) -> list[Result]:
        """Generate ``num_samples`` images that sound; sample k starts from seed + k.

        The settings are one :class:`~itslib.settings.Settings` (``settings``, default the
        paper's), with each keyword given here over it; what is still ``None`` takes this
        world's canvas and vocoder. ``init_picture``: (H, W) in
        [0, 1] to start from a picture (image VAE); ``init_sound``: a waveform at the audio
        expert's rate to start from a recording (audio VAE); either is noised to
        ``strength`` as image-to-image diffusion does. ``batch_size``: samples denoised
        together (default: up to 8); a batched sample equals the one drawn alone, up to
        floating-point rounding, for the deterministic schedulers (DDIM with eta 0,
        DPM-Solver++, Euler, PNDM). ``capture``: keep each step's record in
        ``result.trajectory``, per sample.
        """
        # 1. Check the inputs, before any model runs.
        num_samples = whole(num_samples, "num_samples")
        batch_size = min(num_samples, DEFAULT_BATCH if batch_size is None
                         else whole(batch_size, "batch_size"))  # fmt: skip
        if init_picture is not None and init_sound is not None:
            raise ValueError("give init_picture or init_sound, not both.")
        kind = "picture" if init_picture is not None else "sound" if init_sound is not None \
            else None  # fmt: skip
        config = self.settings(
            image_prompt, audio_prompt, replace(settings or Settings(), init=kind),
            seed=seed, steps=steps,
            image_guidance=image_guidance, audio_guidance=audio_guidance,
            audio_weight=audio_weight, image_start=image_start, audio_start=audio_start,
            negative_image_prompt=negative_image_prompt,
            negative_audio_prompt=negative_audio_prompt, scheduler=scheduler, eta=eta,
            height=height, width=width, vocoder=vocoder, crop_right=crop_right,
            strength=strength,
        )  # fmt: skip
        init = self.check_init(config, init_picture, init_sound)
        # 2. Encode each expert's prompt pair once for all the samples.
        terms = image_audio_terms(self.image_expert, self.audio_expert, config)
        for term in terms:
            term.condition = term.expert.condition(term.prompt, term.negative_prompt)
        # params record what the encoders read (a prompt over 77 tokens is cut, and said)
        image_read, audio_read = (term.condition for term in terms)
        config = replace(config, image_prompt=image_read.prompt, audio_prompt=audio_read.prompt,
                         negative_image_prompt=image_read.negative_prompt,
                         negative_audio_prompt=audio_read.negative_prompt)  # fmt: skip
        clean = None if init is None else self.encode_init(config, init)  # once, too

        results: list[Result] = []
        for first_k in range(0, num_samples, batch_size):
            # 3. The starting latents: sample k's noise from seed + k, or a noised
            #    picture/recording; a batch denoises them together.
            ks = range(first_k, min(first_k + batch_size, num_samples))
            latents, first, generator = self.initial_latents(config, ks, clean)
            # 4. The product-of-experts denoising loop.
            start = time.perf_counter()
            scheduler = make_scheduler(config.scheduler, self.image_expert.scheduler_config)
            with batch_fits(len(ks)):
                out = sample(
                    terms, scheduler, latents, config.steps, eta=config.eta, first_step=first,
                    noised=clean is not None, generator=generator, capture=capture,
                    progress=progress,
                )  # fmt: skip
                # 5.-7. Decode, vocode, pack.
                results += self.finish(out, config, [config.seed + k for k in ks], start)
        return results

    def finish(
        self, out: SampleOutput, config: Settings, seeds: list[int], start: float
    ) -> list[Result]:
        """Steps 5-7 for a batch: decode both ways, vocode each sample, pack the
        :class:`Result` objects (``seconds``: the batch's time shared out)."""
        images = self.image_expert.decode(out.latents)  # (B, C, H, W) in [0, 1]
        spectrograms = self.audio_expert.decode(out.latents).mean(dim=1).numpy()
        images = images.expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()  # gray -> RGB
        if config.crop_right:  # the dark band the VAE leaves at the right edge
            images = np.stack([crop_band(image) for image in images])
            spectrograms = np.stack([crop_band(s) for s in spectrograms])
        mel = self.audio_expert.mel
        logmels = np.stack([audio.picture_to_logmel(s, mel) for s in spectrograms])
        waveforms = self.vocode(logmels, config.vocoder)  # the whole batch at once
        results = []
        for i, seed in enumerate(seeds):
            params = asdict(config) | {
                "seed": seed, "world": self.world, "batch_size": len(seeds),
                "image_model": self.image_expert.model_id,
                "audio_model": self.audio_expert.model_id,
                "unet_calls": out.unet_calls, "unet_evaluations": out.unet_evaluations,
                "seconds": round((time.perf_counter() - start) / len(seeds), 3),
                "device": str(self.audio_expert.device),
                "dtype": str(self.audio_expert.dtype).replace("torch.", ""),
                "itslib_version": itslib.__version__, "mel": mel.to_dict(),
            } | self.info  # fmt: skip
            results.append(Result(
                image=images[i], spectrogram=spectrograms[i], logmel=logmels[i],
                waveform=waveforms[i],
                sample_rate=mel.sample_rate, latents=out.latents[i], params=params,
                trajectory=[step.one(i) for step in out.trajectory],
            ))  # fmt: skip
        return results

    def vocode(self, logmel: np.ndarray, vocoder: str = "hifigan") -> np.ndarray:
        """Log-mel (n_mels, frames) -> waveform (frames * hop,) in [-1, 1]; a batch
        (B, n_mels, frames) -> (B, frames * hop), vocoded together."""
        model = None if vocoder == "griffin-lim" else self.vocoder
        return audio.vocode(logmel, self.audio_expert.mel, model)


def footprint_bytes(pipeline: ImagesThatSound) -> dict[str, int]:
    """Bytes of weights per module (both experts, their VAEs, encoders and vocoder)."""
    sizes: dict[str, int] = {}
    for expert in (pipeline.image_expert, pipeline.audio_expert):
        modules = {"unet": expert.unet, "vae": expert.vae, "text": expert.prompt_encoder}
        for name, module in modules.items():
            sizes[f"{expert.name}.{name}"] = sum(
                p.numel() * p.element_size() for p in module.parameters()
            )
    if pipeline.vocoder is not None:
        sizes["vocoder"] = sum(p.numel() * p.element_size() for p in pipeline.vocoder.parameters())
    return sizes


__all__ = ["ImagesThatSound", "Result", "Settings", "footprint_bytes", "make_scheduler"]
