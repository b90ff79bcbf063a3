"""A cheap preview of a latent: what the browser draws at every step.

The autoencoder's decoder is the costliest graph per call in the browser (about as costly as
a step of both experts), so drawing the predicted clean latent x0 with it at every step
would double a run. The preview is a linear stand-in: each latent pixel's 4 channels
become the 4 x 4 block of picture pixels it covers, through one fitted 4 -> 16 matrix
and bias (a ``ConvTranspose2d`` with kernel = stride = 4), clamped to [0, 1]. The map is
fitted by least squares to the real decoder on latents of fresh procedural pictures and
sounds; the final picture always comes from the real decoder (``decoder.onnx``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from itslib.mini.datasets import encode, test_sets
from itslib.mini.models import DOWNSAMPLE

FIT_SEED, FIT_ITEMS = 7, 4  # 4 pictures + 4 sounds: 32,768 latent pixels, 5 unknowns each


def significant(array: np.ndarray, digits: int = 6) -> np.ndarray:
    """``array`` rounded to ``digits`` significant digits (float64): a fit that differs in
    its last bits between machines still exports the same bytes."""
    values = [float(f"{v:.{digits - 1}e}") for v in np.ravel(array)]
    return np.array(values).reshape(np.shape(array))


class LinearPreview(nn.Module):
    """Latents (B, C, h, w) -> pictures (B, f h, f w) in [0, 1], ``f`` = :data:`DOWNSAMPLE`:
    one linear map per latent pixel (a transposed convolution, kernel = stride = f)."""

    def __init__(self, weight: np.ndarray, bias: float) -> None:
        super().__init__()
        channels, _, f, _ = weight.shape
        self.up = nn.ConvTranspose2d(channels, 1, f, stride=f)
        with torch.no_grad():
            self.up.weight.copy_(torch.from_numpy(weight.astype(np.float32)))
            self.up.bias.fill_(float(bias))

    def forward(self, latents):
        return self.up(latents)[:, 0].clamp(0, 1)


@torch.no_grad()
def fit_preview(vae: nn.Module) -> LinearPreview:
    """Fit :class:`LinearPreview` to ``vae``'s decoder (least squares, float64).

    The kernel's 16 positions share one bias (a transposed convolution has one per output
    channel): the fit solves for 4 x 16 weights and 16 biases, then keeps their mean
    bias and refits the weights with it. Seconds on a CPU; deterministic for given weights.
    """
    data = test_sets(FIT_SEED, FIT_ITEMS)
    pictures = np.concatenate([data["pictures"], data["sounds"]]).astype(np.float32)
    latents = encode(vae, pictures, desc="preview fit")  # (n, C, h, w), scaled
    scale = vae.config.scaling_factor
    decoded = (vae.decode(torch.from_numpy(latents) / scale).sample[:, 0] / 2 + 0.5).clamp(0, 1)
    n, channels, h, w = latents.shape
    f = DOWNSAMPLE
    x = latents.transpose(0, 2, 3, 1).reshape(-1, channels).astype(np.float64)
    y = decoded.numpy().reshape(n, h, f, w, f).transpose(0, 1, 3, 2, 4).reshape(-1, f * f)
    y = y.astype(np.float64)
    ones = np.ones((len(x), 1))
    solution = np.linalg.lstsq(np.hstack([x, ones]), y, rcond=None)[0]
    bias = float(significant(solution[-1].mean()))
    weight = np.linalg.lstsq(x, y - bias, rcond=None)[0]  # (C, f * f)
    weight = significant(weight).reshape(channels, 1, f, f)
    return LinearPreview(weight, bias)
