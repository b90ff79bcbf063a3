"""The miniature models: a shared autoencoder, two latent diffusion experts, two judges.

- The autoencoder is a small diffusers ``AutoencoderKL`` (the miniature of SD's VAE):
  a 1 x 128 x 512 picture in [-1, 1] <-> a 4 x 32 x 128 latent, Auffusion's latent
  shape. It downsamples by 4, not by SD's 8: at 8 its four channels blur the thin
  partial lines of bells, chords and whistles into bands. Its config carries a
  ``scaling_factor`` so that ``latent * scaling_factor`` has about unit std.
- The experts are class-conditional diffusers ``UNet2DModel``\\ s on scaled latents,
  called as ``unet(x_t, t, class_labels=labels).sample`` and predicting the noise
  (epsilon). Class ``NULL_CLASS`` (8) is "no prompt", for classifier-free guidance.
- The noise schedule is exactly SD 1.5's (:data:`SCHEDULER_CONFIG`).
- The judges are small CNNs that classify a (1, 128, 512) picture in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from itslib.mini.world import HEIGHT, NULL_CLASS, PICTURE_CLASSES, WIDTH

DOWNSAMPLE = 4  # canvas pixels per latent pixel, on each side (the VAE's 3 blocks)
LATENT_SHAPE = (4, HEIGHT // DOWNSAMPLE, WIDTH // DOWNSAMPLE)  # (4, 32, 128)

# Stable Diffusion 1.5's scheduler settings (DDPM training, DDIM sampling).
SCHEDULER_CONFIG: dict = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "trained_betas": None,
    "skip_prk_steps": True,  # PNDM as SD 1.5 runs it: PLMS only, no Runge-Kutta warm-up
}

VAE_CONFIG: dict = {
    "in_channels": 1,
    "out_channels": 1,
    "down_block_types": ["DownEncoderBlock2D"] * 3,
    "up_block_types": ["UpDecoderBlock2D"] * 3,
    "block_out_channels": [16, 32, 64],
    "layers_per_block": 1,
    "latent_channels": LATENT_SHAPE[0],
    "norm_num_groups": 8,
    "sample_size": 64,
    "scaling_factor": 1.0,  # replaced after training by 1 / std of the latents
    "mid_block_add_attention": False,
}

UNET_CONFIG: dict = {
    "sample_size": [LATENT_SHAPE[1], LATENT_SHAPE[2]],
    "in_channels": LATENT_SHAPE[0],
    "out_channels": LATENT_SHAPE[0],
    "layers_per_block": 1,
    # a narrow first level at 32 x 128, then the 16 x 64 world's three levels
    "block_out_channels": [16, 32, 64, 96],
    "down_block_types": ["DownBlock2D", "DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
    "up_block_types": ["AttnUpBlock2D", "UpBlock2D", "UpBlock2D", "UpBlock2D"],
    "attention_head_dim": 32,
    "norm_num_groups": 16,
    "num_class_embeds": NULL_CLASS + 1,
}


def build_vae(config: dict | None = None):
    """A fresh (randomly initialised) miniature autoencoder."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(**(config or VAE_CONFIG))


def build_unet(config: dict | None = None):
    """A fresh (randomly initialised) class-conditional miniature expert."""
    from diffusers import UNet2DModel

    return UNet2DModel(**(config or UNET_CONFIG))


def build_scheduler(kind: str = "ddim"):
    """SD 1.5's noise schedule as a diffusers scheduler: ``"ddim"`` or ``"ddpm"``."""
    from diffusers import DDIMScheduler, DDPMScheduler

    if kind not in ("ddim", "ddpm"):
        raise ValueError(f"kind={kind!r} must be 'ddim' or 'ddpm'.")
    cls = DDIMScheduler if kind == "ddim" else DDPMScheduler
    return cls.from_config(SCHEDULER_CONFIG)


class Judge(nn.Module):
    """A small CNN that classifies a (B, 1, 128, 512) picture in [0, 1] into classes.

    Returns logits (B, num_classes). A strided 5 x 5 conv and a max pool quarter the
    picture, three conv stages halve it again each, then global average and max
    pooling over the remaining 4 x 16 grid feed a linear layer.
    """

    def __init__(self, num_classes: int = len(PICTURE_CLASSES), width: int = 16) -> None:
        super().__init__()
        channels = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = [
            nn.Conv2d(1, width, 5, stride=2, padding=2),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        ]
        for cin, cout in zip(channels[:-1], channels[1:], strict=True):
            layers += [
                nn.Conv2d(cin, cout, 3, padding=1),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * channels[-1], num_classes)
        self.config = {"num_classes": num_classes, "width": width}

    def forward(self, pictures: torch.Tensor) -> torch.Tensor:
        if pictures.ndim == 3:
            pictures = pictures[:, None]
        x = self.features(pictures * 2 - 1)
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


def count_parameters(module: nn.Module) -> int:
    """Number of parameters of ``module``."""
    return sum(p.numel() for p in module.parameters())
