"""The 2-D toy world: exact scores, so the sampler can be checked against the truth."""

import math

import torch

from itslib.pipeline import make_scheduler
from itslib.sampler import Term, image_audio_terms, sample
from itslib.settings import Settings
from itslib.toy import GaussianMixture, toy_expert

RING = GaussianMixture.of([[1.5 * math.cos(a), 1.5 * math.sin(a)]
                           for a in torch.linspace(0, 2 * math.pi, 7)[:-1]], std=0.2)  # fmt: skip
LINE = GaussianMixture.of([[x, 0.0] for x in torch.linspace(-2, 2, 5)], std=0.2)
BROAD = GaussianMixture.of([[0.0, 0.0]], std=2.0)


def test_product_matches_numeric_product():
    product = RING.product(LINE)
    grid = torch.stack(torch.meshgrid(torch.linspace(-3, 3, 241), torch.linspace(-3, 3, 241),
                                      indexing="xy"), -1).reshape(-1, 2)  # fmt: skip
    numeric = (RING.log_density(grid) + LINE.log_density(grid)).exp()
    numeric = numeric / (numeric.sum() * (6 / 240) ** 2)
    exact = product.log_density(grid).exp()
    assert torch.allclose(numeric, exact, atol=2e-2 * float(exact.max()))


def test_exact_noise_is_minus_scaled_score():
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    abar = torch.tensor(0.3, dtype=torch.float64)
    (grad,) = torch.autograd.grad(RING.log_density(x, float(abar)).sum(), x)
    torch.testing.assert_close(RING.noise(x.detach(), abar).double(), -(1 - abar).sqrt() * grad,
                               atol=1e-5, rtol=1e-4)  # fmt: skip


def test_sampler_with_exact_scores_recovers_the_distribution():
    expert = toy_expert("image", {"ring": RING}, BROAD)
    noise = torch.randn(1500, 2, 1, 1, generator=torch.Generator().manual_seed(0))
    scheduler = make_scheduler("ddim", expert.scheduler_config)
    out = sample([Term(expert, "ring", guidance=1.0, weight=1.0)], scheduler, noise, 50,
                 progress=False)  # fmt: skip
    points = out.latents[:, :, 0, 0]
    true = RING.sample(1500, torch.Generator().manual_seed(1))
    radius, true_radius = points.norm(dim=1), true.norm(dim=1)
    assert abs(float(radius.mean() - true_radius.mean())) < 0.05
    assert abs(float(RING.log_density(points).mean() - RING.log_density(true).mean())) < 0.3


def test_guided_mixture_lands_near_the_product():
    image = toy_expert("image", {"ring": RING}, BROAD)
    audio = toy_expert("audio", {"line": LINE}, BROAD)
    noise = torch.randn(1000, 2, 1, 1, generator=torch.Generator().manual_seed(0))
    product = RING.product(LINE)

    def score(g):
        terms = image_audio_terms(image, audio, Settings("ring", "line", image_guidance=g,
                                                         audio_guidance=g, image_start=0.0))
        out = sample(terms, make_scheduler("ddim", image.scheduler_config), noise, 50,
                     progress=False)  # fmt: skip
        return float(product.log_density(out.latents[:, :, 0, 0]).mean())

    assert score(2.0) > score(1.0) + 1.0  # guidance 2 sharpens the average into the product
