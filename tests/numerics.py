"""One rule for comparing floats in the tests, declared once.

Two different questions, two helpers:

* ``assert_same_path(a, b)``: the *same* computation ran twice on the same input (same
  batch size, same threads, same kernels, same process). It must repeat bit for bit:
  determinism is a feature of the library and is tested exactly.
* ``assert_close_across_kernels(actual, expected, passes=n)``: the same mathematics
  along *different* paths: another batch size, thread count, precision, memory
  layout, a reused against a fresh scheduler, another CPU. Different paths take
  different kernels (oneDNN picks a convolution by batch size and instruction set,
  OpenMP splits sums by thread count), which add the same products in another order;
  fp32 then rounds differently. Such results agree only up to a bound, which this
  module derives.

The bound. fp32 rounds each operation to within ``EPS = 2**-23`` (1.2e-7) relative.
A sum of K products reordered moves by about ``sqrt(K) * EPS`` of the size of its terms
(rounding errors of random sign add like a random walk). A network evaluation (one
UNet, decoder, vocoder or judge pass) chains about 30 such layers of up to K ~ 1000
terms each (3 x 3 kernels over 32 to 320 channels; attention over 32 to 1024 tokens):
``30 * sqrt(1000) ~ 950``, rounded up to ``PASS_BUDGET = 2**10`` ulps of the result's
scale per pass. A trained denoiser does not amplify what comes in, so over n sequential
passes (denoising steps, then decode) the differences at most add:
``atol = n * 2**10 * EPS * scale`` (1.2e-4 per pass at scale 1).

Measured by ``benchmarks/kernel_drift.py`` (batch 2 against the same seeds drawn alone;
AVX-512 kernels on 2 threads and AVX2 kernels on 1 thread, on an AMD EPYC):

* the shipped miniature world, DDIM and DPM-Solver++, 3 to 25 steps: at most 411 ulps
  a pass (DPM-Solver++, 10 steps, AVX2), 2.5x inside the budget;
* the rehearsal models (random weights, tiny SD layouts), 3 to 10 steps: at most 282.
  A random-weight UNet is no denoiser and does amplify: after 25 DDIM steps the
  difference is 1.5e-2 (5,000 ulps a pass). So comparisons across kernels on rehearsal
  models keep to 10 steps or fewer.

What it still catches. The bugs these tests exist for (a sample drawn from the wrong
seed, two samples of a batch swapped, guidance halves mixed up, a warm start off by one
step) move results by the order of their scale: 80x beyond the bound even after 100
passes.
"""

from __future__ import annotations

import numpy as np
import torch

EPS = torch.finfo(torch.float32).eps  # 2**-23: fp32's relative rounding step
PASS_BUDGET = 2**10  # ulps of the result's scale one network pass may move; see above


def kernel_atol(passes: int, scale: float = 1.0) -> float:
    """The absolute tolerance for ``passes`` sequential network evaluations whose results
    have size ``scale`` (1 for latents and noise, 1 for [0, 1] pictures and spectrograms,
    100 for judge scores in percent)."""
    if passes < 1 or scale <= 0:
        raise ValueError(f"passes={passes} must be >= 1 and scale={scale} > 0")
    return passes * PASS_BUDGET * EPS * scale


def _scale(expected) -> float:
    values = expected.detach().float().abs() if torch.is_tensor(expected) else np.abs(expected)
    return max(1.0, float(values.max()))


def assert_close_across_kernels(actual, expected, *, passes: int,
                                scale: float | None = None) -> None:  # fmt: skip
    """``actual`` and ``expected`` (both tensors or both arrays) agree within
    ``kernel_atol(passes, scale)``; ``scale`` defaults to the larger of 1 and
    ``max |expected|``."""
    atol = kernel_atol(passes, _scale(expected) if scale is None else scale)
    if torch.is_tensor(expected):
        torch.testing.assert_close(actual, expected, atol=atol, rtol=0)
    else:
        np.testing.assert_allclose(actual, expected, atol=atol, rtol=0)


def assert_same_path(actual, expected) -> None:
    """Bitwise equality: for the same computation run twice on the same input."""
    if torch.is_tensor(expected):
        torch.testing.assert_close(actual, expected, atol=0, rtol=0)
    else:
        np.testing.assert_array_equal(actual, expected)
