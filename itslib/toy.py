"""A 2-D world where every score is exact: Gaussian mixtures as diffusion "experts".

For data drawn from a mixture of isotropic Gaussians, the noised distribution at
every diffusion level is again such a mixture, so the noise a perfect denoiser
would predict is known in closed form. Wrapping it as an :class:`~itslib.experts.Expert`
lets the very sampler that drives Stable Diffusion + Auffusion run on points in the
plane, where the product of two distributions can be drawn and checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import nn

from itslib.experts import ClassPromptEncoder, Expert

SD_SCHEDULE = {
    "_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "clip_sample": False,
    "set_alpha_to_one": False, "steps_offset": 1,
}  # fmt: skip


@dataclass
class GaussianMixture:
    """Isotropic 2-D mixture: ``means`` (K, 2), ``stds`` (K,), ``weights`` (K,) summing to 1."""

    means: torch.Tensor
    stds: torch.Tensor
    weights: torch.Tensor

    @classmethod
    def of(cls, means, std: float = 0.15, weights=None) -> GaussianMixture:
        means = torch.as_tensor(means, dtype=torch.float64)
        k = means.shape[0]
        weights = torch.full((k,), 1.0 / k) if weights is None else torch.as_tensor(weights)
        return cls(means, torch.full((k,), float(std), dtype=torch.float64),
                   (weights / weights.sum()).double())  # fmt: skip

    def log_density(self, x: torch.Tensor, alpha_bar: float = 1.0) -> torch.Tensor:
        """log p_t(x) for points x (N, 2) of the mixture noised to level ``alpha_bar``."""
        var = alpha_bar * self.stds**2 + (1 - alpha_bar)  # (K,)
        diff = x[:, None, :].double() - math.sqrt(alpha_bar) * self.means[None]  # (N, K, 2)
        log_k = -0.5 * (diff**2).sum(-1) / var - torch.log(2 * math.pi * var)
        return torch.logsumexp(log_k + torch.log(self.weights), dim=1)

    def noise(self, x: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
        """The exact noise prediction eps = -sqrt(1 - abar) * grad log p_t(x), (N, 2)."""
        ab = alpha_bar.double()
        var = ab * self.stds**2 + (1 - ab)
        diff = x[:, None, :].double() - ab.sqrt() * self.means[None]
        log_k = -0.5 * (diff**2).sum(-1) / var - torch.log(2 * math.pi * var)
        resp = torch.softmax(log_k + torch.log(self.weights), dim=1)  # (N, K)
        score = -(resp[..., None] * diff / var[None, :, None]).sum(1)
        return (-(1 - ab).sqrt() * score).float()

    def product(self, other: GaussianMixture) -> GaussianMixture:
        """The normalised product p(x) q(x): a mixture over all pairs of components."""
        vi, vj = self.stds[:, None] ** 2, other.stds[None, :] ** 2
        var = 1 / (1 / vi + 1 / vj)
        means = var[..., None] * (self.means[:, None] / vi[..., None]
                                  + other.means[None] / vj[..., None])  # fmt: skip
        gap = ((self.means[:, None] - other.means[None]) ** 2).sum(-1)
        log_w = (torch.log(self.weights[:, None] * other.weights[None])
                 - 0.5 * gap / (vi + vj) - torch.log(2 * math.pi * (vi + vj)))  # fmt: skip
        return GaussianMixture(means.reshape(-1, 2), var.sqrt().reshape(-1),
                               torch.softmax(log_w.reshape(-1), 0))  # fmt: skip

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(self.weights.float(), n, replacement=True, generator=generator)
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return (self.means[k] + self.stds[k, None] * eps).float()


class ExactDenoiser(nn.Module):
    """Looks like a diffusers UNet to the sampler: ``unet(x, t, class_labels=...).sample``
    with x (N, 2, 1, 1); row n gets the exact noise of ``mixtures[class_labels[n]]``."""

    def __init__(self, mixtures: list[GaussianMixture], alphas_cumprod: torch.Tensor):
        super().__init__()
        self.mixtures = mixtures
        self.register_buffer("alphas_cumprod", alphas_cumprod.float())
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # device and dtype

    def forward(self, x: torch.Tensor, t, class_labels: torch.Tensor) -> SimpleNamespace:
        alpha_bar = self.alphas_cumprod[int(t)]
        points, out = x[:, :, 0, 0], torch.empty_like(x[:, :, 0, 0])
        for label in class_labels.unique().tolist():
            rows = class_labels == label
            out[rows] = self.mixtures[label].noise(points[rows], alpha_bar)
        return SimpleNamespace(sample=out[..., None, None])


def toy_expert(name: str, prompts: dict[str, GaussianMixture],
               unconditional: GaussianMixture) -> Expert:  # fmt: skip
    """A 2-D :class:`Expert` whose noise estimates are exact.

    ``prompts`` maps each prompt to its distribution; the empty prompt (the
    unconditional branch of classifier-free guidance) is ``unconditional``. With
    guidance g the expert samples p_uncond^(1-g) p_prompt^g.
    """
    from diffusers import DDIMScheduler

    alphas = DDIMScheduler.from_config(SD_SCHEDULE).alphas_cumprod
    mixtures = [*prompts.values(), unconditional]  # the null class is the last one
    return Expert(name=name, unet=ExactDenoiser(mixtures, alphas), vae=nn.Identity(),
                  prompt_encoder=ClassPromptEncoder(list(prompts)),
                  scheduler_config=dict(SD_SCHEDULE), model_id=f"toy:{name}")  # fmt: skip
