"""The paper's SDS baseline (Sec. 4.1, Appendix A.3).

Score distillation sampling (Poole et al. 2022; as in Diffusion Illusions) optimises a
single-channel canvas drawn by a small Fourier-feature network so that both experts
find it likely: each step noises the canvas (through an expert's VAE when it is a
latent model) at a random t in [20, 980], asks the expert for the noise, and pushes
the canvas along w(t) (eps_hat - eps), w(t) = 1 - alpha_bar_t. Its results are cropped
like the joint method's (see :mod:`itslib.baselines` on the right-edge band).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from itslib import audio
from itslib.checks import number, whole
from itslib.experts import Expert
from itslib.pipeline import ImagesThatSound, crop_band, make_scheduler
from itslib.results import Result
from itslib.settings import setting


class FourierCanvas(nn.Module):
    """A single-channel picture drawn by a coordinate network.

    Pixel coordinates in [0, 1]^2 -> 128 random Gaussian Fourier features (scale 10),
    as sin and cos -> three 1x1 convs of ``width`` with BatchNorm and ReLU -> a 1x1
    conv to one channel -> sigmoid. ``forward()`` returns (1, 1, H, W) in (0, 1).
    """

    def __init__(self, height: int, width: int, features: int = 128, scale: float = 10.0,
                 hidden: int = 256, seed: int = 0):  # fmt: skip
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        ys, xs = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width),
                                indexing="ij")  # fmt: skip
        self.register_buffer("coords", torch.stack([ys, xs])[None])  # (1, 2, H, W)
        self.register_buffer("frequencies", torch.randn(features, 2, generator=generator) * scale)
        layers: list[nn.Module] = []
        channels = 2 * features
        for _ in range(3):
            layers += [nn.Conv2d(channels, hidden, 1), nn.BatchNorm2d(hidden), nn.ReLU()]
            channels = hidden
        layers.append(nn.Conv2d(channels, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self) -> torch.Tensor:
        angles = 2 * math.pi * torch.einsum("fc,bchw->bfhw", self.frequencies, self.coords)
        return torch.sigmoid(self.net(torch.cat([angles.sin(), angles.cos()], dim=1)))


@dataclass
class SDSLoss:
    """One expert's score-distillation loss on the canvas.

    ``crops``: with a number, score that many random square crops of side
    ``crop_size`` resized to ``resize`` (the paper's image SDS with IF: 8 crops of
    256 resized to 64); ``None`` scores the whole canvas.
    """

    expert: Expert
    prompt: str
    guidance: float
    weight: float
    crops: int | None = None
    crop_size: int = 256
    resize: int = 64
    t_range: tuple[int, int] = (20, 980)

    def __call__(self, canvas: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """SDS loss for ``canvas`` (1, 1, H, W) in [0, 1]; its gradient is
        weight * w(t) * (eps_hat - eps) pushed back through the encoder."""
        pictures = self.views(canvas, generator)
        latents = encode_differentiably(self.expert, pictures)
        count = latents.shape[0]
        t = torch.randint(self.t_range[0], self.t_range[1] + 1, (count,), generator=generator)
        alpha_bar = self.alphas_cumprod()[t].view(-1, 1, 1, 1).to(latents)
        noise = torch.randn(latents.shape, generator=generator).to(latents)
        noisy = alpha_bar.sqrt() * latents + (1 - alpha_bar).sqrt() * noise
        with torch.no_grad():
            estimate = self.expert.predict_noise(
                noisy, t.to(self.expert.device), self.condition(), self.guidance
            ).to(latents)
        grad = (1 - alpha_bar) * (estimate - noise)
        target = (latents - grad).detach()
        return self.weight * 0.5 * ((latents - target) ** 2).sum() / count

    def views(self, canvas: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crops is None:
            return canvas
        _, _, height, width = canvas.shape
        size = min(self.crop_size, height, width)
        views = []
        for _ in range(self.crops):
            top = int(torch.randint(0, height - size + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - size + 1, (1,), generator=generator))
            crop = canvas[:, :, top : top + size, left : left + size]
            views.append(
                nn.functional.interpolate(
                    crop, size=(self.resize, self.resize), mode="bilinear", align_corners=False
                )
            )
        return torch.cat(views)

    def alphas_cumprod(self) -> torch.Tensor:
        if not hasattr(self, "_alphas"):
            self._alphas = make_scheduler("ddim", self.expert.scheduler_config).alphas_cumprod
        return self._alphas

    def condition(self):
        if not hasattr(self, "_condition"):
            self._condition = self.expert.condition(self.prompt)
        return self._condition


def encode_differentiably(expert: Expert, pictures: torch.Tensor) -> torch.Tensor:
    """Pictures (B, 1, H, W) in [0, 1] -> the expert's scaled latents, keeping the graph.

    A pixel-space expert (``vae=None``, DeepFloyd IF) takes the picture itself, gray in
    all its input channels, in [-1, 1]."""
    vae = expert.vae
    if vae is None:
        channels = expert.unet.config.in_channels
        return (pictures.expand(-1, channels, -1, -1).to(expert.device) * 2 - 1).float()
    channels = vae.config.in_channels
    x = pictures.expand(-1, channels, -1, -1).to(expert.device, vae.dtype) * 2 - 1
    return vae.encode(x).latent_dist.mean.float() * vae.config.scaling_factor


@dataclass
class SDSSettings:
    """The paper's SDS settings (its appendix and its public code, github.com/IFICL/
    images-that-sound, main_sds.py); each world chooses its own (:attr:`World.sds`)."""

    steps: int = setting(40_000, "optimisation steps, >= 1")
    audio_only_steps: int = setting(5_000, "the first steps that use the audio loss alone "
                                    "(the warm start), in 0..steps")  # fmt: skip
    lr: float = setting(1e-4, "the canvas network's Adam learning rate, > 0")
    weight_decay: float = setting(1e-3, "Adam's weight decay", flag=False)
    image_weight: float = setting(0.4, "the image SDS loss's weight, >= 0 (a loss weight, "
                                  "not generate's mixing weight)", flag="image-sds-weight")
    audio_weight: float = setting(1.0, "the audio SDS loss's weight, >= 0 (a loss weight, "
                                  "not generate's mixing weight)", flag="audio-sds-weight")
    image_guidance: float = setting(80.0, "the image expert's classifier-free guidance in its "
                                    "SDS loss, >= 0")  # fmt: skip
    audio_guidance: float = setting(10.0, "the audio expert's classifier-free guidance in its "
                                    "SDS loss, >= 0")  # fmt: skip
    image_crops: int | None = setting(None, "random crops for the image loss (the paper: 8 "
                                      "with DeepFloyd IF)", flag=False)  # fmt: skip
    crop_size: int = setting(256, "each crop's side in pixels", flag=False)
    crop_resize: int = setting(64, "each crop resized to this for the image model", flag=False)
    canvas_hidden: int = setting(256, "the Fourier canvas's 1x1-conv width (its cost per "
                                 "pixel)", flag=False)  # fmt: skip
    seed: int = setting(0, "draws the canvas's init and the noise", flag=False)
    height: int | None = setting(None, "None: the world's canvas", flag=False)
    width: int | None = setting(None, "None: the world's canvas", flag=False)
    snapshot_every: int = setting(0, "keep the canvas every N steps (0: never)")
    extra: dict[str, Any] = field(default_factory=dict)
    crop_right: bool | None = setting(None, "None: the world's (on in the real world)",
                                      flag=False)  # fmt: skip

    def check(self) -> None:
        """Raise ``ValueError`` naming the setting and its allowed values."""
        whole(self.steps, "steps")
        whole(self.audio_only_steps, "audio_only_steps", 0, self.steps, note="0..steps")
        whole(self.canvas_hidden, "canvas_hidden", note="the canvas network's width; the "
              "paper's: 256")  # fmt: skip
        whole(self.snapshot_every, "snapshot_every", low=0, note="0: none")
        for name in ("image_weight", "audio_weight", "image_guidance", "audio_guidance", "lr"):
            number(getattr(self, name), name, low=0)

    def with_steps(self, steps: int) -> SDSSettings:
        """These settings over ``steps`` steps, with the audio-only warm start and the
        snapshot interval kept in proportion (each at least 1 when it was on; the warm
        start leaves at least one joint step)."""
        share = steps / self.steps
        warm = min(steps - 1, max(1, round(self.audio_only_steps * share)))  # 0 if steps is 1
        every = max(1, round(self.snapshot_every * share))
        return replace(self, steps=steps, audio_only_steps=warm if self.audio_only_steps else 0,
                       snapshot_every=every if self.snapshot_every else 0)  # fmt: skip


def cap_loop(settings: SDSSettings) -> SDSSettings:
    """``settings`` with at most ``ITSLIB_MAX_LOOP_STEPS`` steps when that variable is set
    (a rehearsal's one shortcut), the warm start and snapshots shrunk in proportion; says so."""
    cap = os.environ.get("ITSLIB_MAX_LOOP_STEPS", "").strip()
    if not cap:
        return settings
    if not cap.isdigit() or int(cap) < 1:
        raise ValueError(f"ITSLIB_MAX_LOOP_STEPS={cap!r} must be a whole number >= 1 (or unset).")
    cap = int(cap)
    if settings.steps <= cap:
        return settings
    print(f"ITSLIB_MAX_LOOP_STEPS={cap}: SDS runs {cap} of its {settings.steps} steps.")
    return settings.with_steps(cap)


def sds_baseline(
    pipeline: ImagesThatSound,
    image_prompt: str,
    audio_prompt: str,
    settings: SDSSettings | None = None,
    image_expert: Expert | None = None,
    vocoder: str | None = None,
    progress: bool = True,
) -> Result:
    """Optimise a Fourier-feature canvas with image and audio SDS; returns a Result.

    The canvas is optimised at the full width; with ``settings.crop_right`` (``None``:
    the pipeline's, on in the real world) the result (picture, spectrogram, log-mel,
    waveform, snapshots) loses the right 32/1024 of the width, as the joint method's
    samples do and as the paper's code crops its SDS results, so the methods are scored
    on the same canvas. ``params`` records the settings actually used.

    ``image_expert`` provides the image loss (default: the pipeline's image expert,
    i.e. Stable Diffusion through its VAE, or DeepFloyd IF when passed one). The
    first ``audio_only_steps`` use the audio loss alone (the warm start). With
    ``snapshot_every`` > 0, ``result.extras["snapshots"]`` holds the canvas every N
    steps as (H, W) arrays; ``result.extras["history"]`` the losses of every step.
    """
    settings = cap_loop(settings or SDSSettings())
    settings.check()
    canvas_settings = pipeline.settings(
        "", "", height=settings.height, width=settings.width, vocoder=vocoder,
        crop_right=settings.crop_right,
    )  # fmt: skip
    settings = replace(settings, height=canvas_settings.height, width=canvas_settings.width,
                       crop_right=bool(canvas_settings.crop_right))  # fmt: skip
    vocoder = canvas_settings.vocoder
    start = time.perf_counter()
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    canvas = FourierCanvas(settings.height, settings.width, hidden=settings.canvas_hidden,
                           seed=settings.seed).to(
        pipeline.audio_expert.device
    )
    image_loss = SDSLoss(image_expert or pipeline.image_expert, image_prompt,
                         settings.image_guidance, settings.image_weight, settings.image_crops,
                         settings.crop_size, settings.crop_resize)  # fmt: skip
    audio_loss = SDSLoss(pipeline.audio_expert, audio_prompt, settings.audio_guidance,
                         settings.audio_weight)  # fmt: skip
    optimizer = torch.optim.AdamW(canvas.parameters(), lr=settings.lr,
                                  weight_decay=settings.weight_decay)  # fmt: skip
    history, snapshots = [], []
    bar = tqdm(range(settings.steps), disable=not progress, desc="SDS")
    for step in bar:
        picture = canvas()
        losses = {"audio": audio_loss(picture, generator)}
        if step >= settings.audio_only_steps and settings.image_weight > 0:
            losses["image"] = image_loss(picture, generator)
        optimizer.zero_grad(set_to_none=True)
        sum(losses.values()).backward()
        optimizer.step()
        record = {name: float(value.detach()) for name, value in losses.items()}
        history.append(record)
        bar.set_postfix(record)
        if settings.snapshot_every and step % settings.snapshot_every == 0:
            snapshot = picture.detach()[0, 0].float().cpu().numpy()
            snapshots.append(crop_band(snapshot) if settings.crop_right else snapshot)
    canvas.eval()
    with torch.no_grad():
        final = canvas()[0, 0].float().cpu().numpy()
    if settings.crop_right:  # the same canvas as the joint method's samples
        final = crop_band(final)
    mel = pipeline.audio_expert.mel
    logmel = audio.picture_to_logmel(final, mel)
    params = asdict(settings) | {
        "method": "sds", "image_prompt": image_prompt, "audio_prompt": audio_prompt,
        "world": pipeline.world, "vocoder": vocoder, "losses": history[-1],
        "seconds": round(time.perf_counter() - start, 3),
    }  # fmt: skip
    result = Result(
        image=np.repeat(final[..., None], 3, axis=2), spectrogram=final, logmel=logmel,
        waveform=pipeline.vocode(logmel, vocoder), sample_rate=mel.sample_rate,
        latents=None, params=params,
    )  # fmt: skip
    result.extras.update(history=history, snapshots=snapshots)
    return result
