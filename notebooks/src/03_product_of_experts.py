# %% [markdown]
# # Product of experts
#
# *Images that sound* asks one latent to satisfy two diffusion models at once. The
# tool is old and simple {cite:p}`hinton2002training`: multiply the two
# distributions, $p(x) \propto p_\text{image}(x)\,p_\text{audio}(x)$, and the product
# is large only where **both** are. Diffusion models give us the *score*
# $\nabla_x \log p$ (up to scale, their noise estimate), and the score of a product
# is the sum of the scores, so composing models means adding noise estimates
# {cite:p}`liu2022compositional,du2023reduce`.
#
# This chapter makes that concrete in a world small enough to draw: points in the
# plane, two "experts" whose distributions are Gaussian mixtures, and noise
# estimates that are **exact**. We run them through the very sampler that drives
# Stable Diffusion + Auffusion (`itslib.sampler.sample`).
#
# **Which world drew this page:** the 2-D toy world, computed exactly in the
# notebook; no trained model is involved.

# %%
import math

import matplotlib.pyplot as plt
import torch

from itslib.pipeline import make_scheduler
from itslib.sampler import Term, image_audio_terms, sample
from itslib.settings import Settings
from itslib.toy import GaussianMixture, toy_expert

# %% [markdown]
# ## Two experts
#
# The "image" expert knows a **ring** of eight blobs; the "audio" expert knows a
# **wave** of nine. Both also know a broad unconditional distribution, which is what
# classifier-free guidance {cite:p}`ho2022classifier` pushes away from. Where do
# both distributions have mass? Only where the wave crosses the ring: that is the
# product, which we can compute exactly because a product of Gaussians is Gaussian.

# %%
angles = torch.linspace(0, 2 * math.pi, 9)[:-1]
ring = GaussianMixture.of([[1.5 * math.cos(a), 1.5 * math.sin(a)] for a in angles], std=0.2)
wave = GaussianMixture.of([[x, 1.5 * math.sin(1.2 * x)] for x in torch.linspace(-2, 2, 9)], std=0.2)
broad = GaussianMixture.of([[0.0, 0.0]], std=2.0)
product = ring.product(wave)

image_expert = toy_expert("image", {"ring": ring}, unconditional=broad)
audio_expert = toy_expert("audio", {"wave": wave}, unconditional=broad)

grid = torch.stack(torch.meshgrid(torch.linspace(-2.6, 2.6, 200), torch.linspace(-2.6, 2.6, 200),
                                  indexing="xy"), dim=-1).reshape(-1, 2)


def density(mixture):
    return mixture.log_density(grid).exp().reshape(200, 200)


fig, axes = plt.subplots(1, 3, figsize=(12, 4))
for ax, mixture, title in zip(axes, (ring, wave, product), ("image: ring", "audio: wave",
                              "product: ring x wave"), strict=True):
    ax.imshow(density(mixture), origin="lower", extent=(-2.6, 2.6, -2.6, 2.6), cmap="magma")
    ax.set(title=title, xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## One sampler, any experts
#
# Each toy expert is an `itslib.experts.Expert` whose "UNet" returns the exact
# noise. The sampler neither knows nor cares. First, each expert alone: 2,000
# points of noise, 100 DDIM steps {cite:p}`song2021denoising`.

# %%
noise = torch.randn(2000, 2, 1, 1, generator=torch.Generator().manual_seed(0))
ddim = make_scheduler("ddim", image_expert.scheduler_config)


def run(terms, steps=100, capture=False):
    out = sample(terms, ddim, noise, steps, capture=capture, progress=False)
    return out.latents[:, :, 0, 0], out


def scatter(ax, points, title, background=product):
    ax.imshow(density(background), origin="lower", extent=(-2.6, 2.6, -2.6, 2.6), cmap="Greys")
    ax.scatter(points[:, 0], points[:, 1], s=1.5, alpha=0.5, color="tab:orange")
    ax.set(title=title, xlim=(-2.6, 2.6), ylim=(-2.6, 2.6), xticks=[], yticks=[])


alone_image, _ = run([Term(image_expert, "ring", guidance=1.0, weight=1.0)])
alone_audio, _ = run([Term(audio_expert, "wave", guidance=1.0, weight=1.0)])
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
scatter(axes[0], alone_image, "image expert alone", ring)
scatter(axes[1], alone_audio, "audio expert alone", wave)
plt.show()

# %% [markdown]
# With exact scores, DDIM reproduces each distribution faithfully. Now the method:
# at every step, mix the two noise estimates,
#
# $$ \hat\epsilon = (1 - w)\,\hat\epsilon_\text{image} + w\,\hat\epsilon_\text{audio}, $$
#
# with $w$ = `audio_weight` = 0.5. Weights that sum to one give the **geometric mean**
# $p_\text{image}^{1/2}\,p_\text{audio}^{1/2}$, which peaks in the same places as the
# product but is twice as broad. Guidance $g$ sharpens each expert to
# $p_\text{uncond}^{1-g}\,p^{g}$; with $g = 2$ the two halves add up to roughly
# $p_\text{image}\,p_\text{audio} / p_\text{uncond}$: the product, over a broad
# background. That is why the paper's guidance of 7.5 to 10 matters.

# %%
fig, axes = plt.subplots(1, 4, figsize=(16, 4))
for ax, g in zip(axes[:3], (1.0, 2.0, 4.0), strict=True):
    terms = image_audio_terms(image_expert, audio_expert, Settings(
        "ring", "wave", image_guidance=g, audio_guidance=g, audio_weight=0.5, image_start=0.0))
    points, _ = run(terms)
    score = product.log_density(points).mean()
    scatter(ax, points, f"mixed, guidance {g:g}\nmean log p_product = {score:.2f}")
scatter(axes[3], product.sample(2000, torch.Generator().manual_seed(1)), "exact product samples")
plt.show()

# %% [markdown]
# At guidance 1 the samples spread over both curves (the broad geometric mean); at
# guidance 2 most of them gather where the curves cross, with a trail left along the
# ring; at 4 they over-sharpen into thin slivers at the crossings. (Summing the
# scores of the *noised* distributions is not exactly the score of the noised
# product, which is why even guidance 2 is not perfect; see {cite:t}`du2023reduce`
# for samplers that correct this.)
#
# ## The weight
#
# `audio_weight` slides the balance: at 0 only the image expert speaks, at 1 only the
# audio expert; in between, samples favour the intersections that the heavier
# expert likes more.

# %%
fig, axes = plt.subplots(1, 5, figsize=(18, 3.8))
for ax, w in zip(axes, (0.0, 0.25, 0.5, 0.75, 1.0), strict=True):
    terms = image_audio_terms(image_expert, audio_expert, Settings(
        "ring", "wave", image_guidance=2.0, audio_guidance=2.0, audio_weight=w, image_start=0.0))
    points, _ = run(terms)
    scatter(ax, points, f"audio_weight = {w}")
plt.show()

# %% [markdown]
# ## The warm start
#
# The paper lets the audio expert denoise alone for the first 10% of the steps
# (`image_start=0.1`), when the coarse layout is decided. Here is what that does to
# the trajectories: we capture every step and draw a few paths. During the warm
# start only the audio expert is evaluated (the record's `noise` has one key), so the
# points first head for the wave, then slide along it towards the crossings.

# %%
terms = image_audio_terms(image_expert, audio_expert, Settings(
    "ring", "wave", image_guidance=2.0, audio_guidance=2.0, image_start=0.3))
points, out = run(terms, capture=True)
print("experts evaluated at step 0:", sorted(out.trajectory[0].noise),
      "| at step 30:", sorted(out.trajectory[30].noise))
print("UNet calls per expert:", out.unet_calls)

paths = torch.stack([step.x_t[:40, :, 0, 0] for step in out.trajectory])  # (steps, 40, 2)
fig, ax = plt.subplots(figsize=(5, 5))
scatter(ax, points, "paths with a 30% audio warm start")
for n in range(40):
    ax.plot(paths[:, n, 0], paths[:, n, 1], lw=0.6, color="tab:blue", alpha=0.6)
ax.scatter(paths[30, :, 0], paths[30, :, 1], s=8, color="tab:green", label="image expert joins")
ax.legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# The same loop, the same `Term`s and the same warm-start rule drive the real models
# in the next chapter; only the experts change. In the plane we could check the
# answer against the exact product. With pictures and sounds there is no exact
# answer, so later chapters bring judges: CLIP and CLAP for the real models, small
# classifiers for the miniature ones.
