"""Prompts in, images that sound out: experts + sampler + decoders + vocoder.

``ImagesThatSound(image_expert, audio_expert)(image_prompt, audio_prompt)`` reads top to
bottom as the method does:

1. check the inputs;
2. draw the starting latent for each sample (a CPU generator seeded ``seed + k``),
   or encode and noise the reader's own picture or recording;
3. run the product-of-experts denoising loop (:func:`itslib.sampler.sample`);
4. decode the clean latent twice: the image VAE gives the RGB picture, the audio
   VAE gives the spectrogram (channel mean);
5. spectrogram -> log-mel -> waveform (HiFi-GAN, or Griffin-Lim);
6. pack everything, with the parameters used, into a :class:`Result`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

import itslib
from itslib import audio
from itslib.experts import Expert
from itslib.results import Result
from itslib.sampler import SampleOutput, image_audio_terms, sample

SCHEDULERS = ("ddim", "dpm++", "dpm++sde", "euler", "pndm")
VOCODERS = ("hifigan", "griffin-lim")


def make_scheduler(name: str, config: dict[str, Any]):
    """A diffusers scheduler by short name, built from the expert's schedule config.

    ``ddim`` (the paper's, eta 0), ``dpm++`` (DPM-Solver++ multistep, 2nd order),
    ``dpm++sde``, ``euler``, ``pndm``.
    """
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        DPMSolverSDEScheduler,
        EulerDiscreteScheduler,
        PNDMScheduler,
    )

    classes = {
        "ddim": DDIMScheduler,
        "dpm++": DPMSolverMultistepScheduler,
        "dpm++sde": DPMSolverSDEScheduler,
        "euler": EulerDiscreteScheduler,
        "pndm": PNDMScheduler,
    }
    if name not in classes:
        raise ValueError(f"scheduler={name!r} is not one of {', '.join(classes)}.")
    extra = {"algorithm_type": "dpmsolver++", "solver_order": 2} if name == "dpm++" else {}
    return classes[name].from_config(config, **extra)


@dataclass
class Settings:
    """Every knob of one generation, with the paper's defaults (FACTS.md)."""

    image_prompt: str
    audio_prompt: str
    negative_image_prompt: str = ""
    negative_audio_prompt: str = ""
    steps: int = 100
    image_guidance: float = 10.0
    audio_guidance: float = 10.0
    audio_weight: float = 0.5
    image_start: float = 0.1
    audio_start: float = 0.0
    height: int | None = None  # None: the world's canvas (256 x 1024 real, 64 x 256 mini)
    width: int | None = None
    seed: int = 0
    scheduler: str = "ddim"
    eta: float = 0.0
    vocoder: str | None = None  # None: HiFi-GAN when the audio expert has one, else Griffin-Lim
    crop_right: bool | None = None  # None: on for the real models (FACTS.md), off for mini
    strength: float = 1.0
    init: str | None = None

    def check(self) -> None:
        """Raise ``ValueError`` naming the parameter and its allowed range."""
        for name in ("height", "width"):
            if getattr(self, name) is None:
                raise ValueError(f"{name} is not set.")
            value = getattr(self, name)
            if value <= 0 or value % 8:
                raise ValueError(
                    f"{name}={value} must be a positive multiple of 8 (the VAE downsamples "
                    f"by 8); try {max(8, round(value / 8) * 8)}."
                )
        if self.steps < 1:
            raise ValueError(f"steps={self.steps} must be >= 1.")
        for name in ("image_guidance", "audio_guidance"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0.")
        if not 0.0 <= self.audio_weight <= 1.0:
            raise ValueError(f"audio_weight={self.audio_weight} must be in [0, 1].")
        for name in ("image_start", "audio_start"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}={getattr(self, name)} must be in [0, 1).")
        if min(round(self.image_start * self.steps), round(self.audio_start * self.steps)) > 0:
            raise ValueError(
                "no expert is active at step 0: set image_start=0 or audio_start=0 "
                f"(got image_start={self.image_start}, audio_start={self.audio_start})."
            )
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler={self.scheduler!r} is not one of {', '.join(SCHEDULERS)}.")
        if self.vocoder not in VOCODERS:
            raise ValueError(f"vocoder={self.vocoder!r} is not one of {', '.join(VOCODERS)}.")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength={self.strength} must be in (0, 1].")


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
    canvas: tuple[int, int] = (256, 1024)
    crop_right: bool = True
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vocoder is None:
            self.vocoder = self.audio_expert.extras.get("vocoder")

    def settings(self, image_prompt: str, audio_prompt: str, **overrides: Any) -> Settings:
        """A checked :class:`Settings` with this world's defaults filled in."""
        config = Settings(image_prompt, audio_prompt, **overrides)
        config.height = config.height or self.canvas[0]
        config.width = config.width or self.canvas[1]
        if config.vocoder is None:
            config.vocoder = "hifigan" if self.vocoder is not None else "griffin-lim"
        if config.crop_right is None:
            config.crop_right = self.crop_right
        config.check()
        if config.vocoder == "hifigan" and self.vocoder is None:
            raise ValueError("vocoder='hifigan' but this audio expert has none; use 'griffin-lim'.")
        return config

    @classmethod
    def from_pretrained(
        cls,
        image_model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5",
        audio_model: str = "auffusion/auffusion-full-no-adapter",
        device: str | None = None,
        dtype: torch.dtype | None = None,
        offload: bool = False,
    ) -> ImagesThatSound:
        """Stable Diffusion 1.5 + Auffusion (hub ids or local folders); fp16 on CUDA.

        ``offload``: keep text encoders and VAEs in CPU memory between uses (saves
        about 0.8 GB of GPU memory in fp16; the UNets stay on the GPU).
        """
        from itslib.experts import load_audio_expert, load_image_expert

        return cls(
            load_image_expert(image_model, device, dtype, offload=offload),
            load_audio_expert(audio_model, device, dtype, offload=offload),
            world="real",
        )

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        factor = 2 ** (len(self.audio_expert.vae.config.block_out_channels) - 1)
        return (1, self.audio_expert.vae.config.latent_channels, height // factor, width // factor)

    def initial_latent(self, settings: Settings, sample_index: int, init_picture=None):
        """Step 2: the starting latent of sample ``k`` (seed + k), and the first step."""
        generator = torch.Generator("cpu").manual_seed(settings.seed + sample_index)
        shape = self.latent_shape(settings.height, settings.width)
        noise = torch.randn(shape, generator=generator, dtype=self.audio_expert.dtype)
        if init_picture is None:
            return noise, 0, generator
        scheduler = make_scheduler(settings.scheduler, self.image_expert.scheduler_config)
        scheduler.set_timesteps(settings.steps)
        first = settings.steps - max(1, round(settings.steps * settings.strength))
        expert = self.image_expert if settings.init == "picture" else self.audio_expert
        clean = expert.encode(torch.as_tensor(init_picture, dtype=torch.float32)[None, None])
        t = scheduler.timesteps[first : first + 1]
        return scheduler.add_noise(clean, noise.float(), t), first, generator

    def __call__(
        self,
        image_prompt: str,
        audio_prompt: str,
        num_samples: int = 1,
        init_picture: np.ndarray | None = None,
        init_sound: np.ndarray | None = None,
        capture: bool = False,
        progress: bool = True,
        **settings: Any,
    ) -> list[Result]:
        """Generate ``num_samples`` images that sound; keyword settings as in
        :class:`Settings` (steps, image_guidance, audio_weight, image_start, seed, ...).

        ``init_picture``: (H, W) in [0, 1] to start from a picture (image VAE);
        ``init_sound``: a 16 kHz waveform to start from a recording (audio VAE);
        both are noised to ``strength`` as image-to-image diffusion does.
        """
        # 1. Check the inputs.
        config = self.settings(image_prompt, audio_prompt, **settings)
        if init_picture is not None and init_sound is not None:
            raise ValueError("give init_picture or init_sound, not both.")
        init = None
        if init_picture is not None:
            config.init, init = "picture", np.asarray(init_picture, dtype=np.float32)
        elif init_sound is not None:
            config.init = "sound"
            init = audio.logmel_to_picture(audio.wav_to_logmel(init_sound, self.audio_expert.mel))
        if init is not None and init.shape != (config.height, config.width):
            raise ValueError(
                f"the init picture/sound has shape {init.shape} but height x width is "
                f"{config.height} x {config.width}; resize it (itslib.audio.load_picture) "
                "or cut the sound to width * hop samples."
            )
        if num_samples < 1:
            raise ValueError(f"num_samples={num_samples} must be >= 1.")

        results = []
        for k in range(num_samples):
            # 2. The starting latent: noise from seed + k, or a noised picture/recording.
            latents, first, generator = self.initial_latent(config, k, init)
            # 3. The product-of-experts denoising loop.
            start = time.perf_counter()
            terms = image_audio_terms(
                self.image_expert, self.audio_expert, image_prompt, audio_prompt,
                config.negative_image_prompt, config.negative_audio_prompt,
                config.image_guidance, config.audio_guidance,
                config.audio_weight, config.image_start, config.audio_start,
            )  # fmt: skip
            scheduler = make_scheduler(config.scheduler, self.image_expert.scheduler_config)
            out = sample(
                terms, scheduler, latents, config.steps, eta=config.eta, first_step=first,
                generator=generator, capture=capture, progress=progress,
            )  # fmt: skip
            # 4.-6. Decode, vocode, pack.
            results.append(self.finish(out, config, seed=config.seed + k, start=start))
        return results

    def finish(self, out: SampleOutput, config: Settings, seed: int, start: float) -> Result:
        """Steps 4-6: decode both ways, vocode, and pack a :class:`Result`."""
        image = self.image_expert.decode(out.latents)[0]
        spectrogram = self.audio_expert.decode(out.latents)[0].mean(dim=0).numpy()
        image = image.expand(3, -1, -1).permute(1, 2, 0).numpy()  # gray models: 1 -> 3
        if config.crop_right:  # the dark band the VAE leaves at the right edge
            keep = config.width - round(config.width * 32 / 1024)
            image, spectrogram = image[:, :keep], spectrogram[:, :keep]
        mel = self.audio_expert.mel
        logmel = audio.picture_to_logmel(spectrogram, mel)
        waveform = self.vocode(logmel, config.vocoder)
        params = (
            asdict(config)
            | {
                "seed": seed,
                "world": self.world,
                "image_model": self.image_expert.model_id,
                "audio_model": self.audio_expert.model_id,
                "unet_calls": out.unet_calls,
                "unet_evaluations": out.unet_evaluations,
                "seconds": round(time.perf_counter() - start, 3),
                "device": str(self.audio_expert.device),
                "dtype": str(self.audio_expert.dtype).replace("torch.", ""),
                "itslib_version": itslib.__version__,
                "mel": mel.to_dict(),
            }
            | self.info
        )
        return Result(
            image=image,
            spectrogram=spectrogram,
            logmel=logmel,
            waveform=waveform,
            sample_rate=mel.sample_rate,
            latents=out.latents[0],
            params=params,
            trajectory=out.trajectory,
        )

    def vocode(self, logmel: np.ndarray, vocoder: str = "hifigan") -> np.ndarray:
        """Log-mel (n_mels, frames) -> waveform (frames * hop,) in [-1, 1]."""
        mel = self.audio_expert.mel
        if vocoder == "griffin-lim" or self.vocoder is None:
            return audio.peak_normalize(audio.griffin_lim(logmel, mel), mel.peak)
        param = next(self.vocoder.parameters())
        with torch.inference_mode():
            wav = self.vocoder(torch.from_numpy(logmel)[None].to(param.device, param.dtype))
        return wav[0].float().cpu().numpy()


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
