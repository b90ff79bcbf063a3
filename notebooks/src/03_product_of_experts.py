# %% [markdown]
# # Product of experts
#
# *Images that sound* asks one latent to satisfy two diffusion models at once. The
# tool is old and simple, a {term}`product of experts`
# {cite:p}`hinton2002training`: multiply the two
# distributions, $p(x) \propto p_\text{image}(x)\,p_\text{audio}(x)$, and the product
# is large only where **both** are. Diffusion models give us the *score*
# $\nabla_x \log p$ (up to scale, their {term}`noise estimate`), and the score of a product
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
from itslib.sampler import Term, sample
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
xs = torch.linspace(-2, 2, 9)
ring = GaussianMixture.of(
    [[1.5 * math.cos(a), 1.5 * math.sin(a)] for a in angles], std=0.2)
wave = GaussianMixture.of(
    [[x, 1.5 * math.sin(1.2 * x)] for x in xs], std=0.2)
broad = GaussianMixture.of([[0.0, 0.0]], std=2.0)
product = ring.product(wave)

image_expert = toy_expert("image", {"ring": ring}, unconditional=broad)
audio_expert = toy_expert("audio", {"wave": wave}, unconditional=broad)

side = torch.linspace(-2.6, 2.6, 200)
grid = torch.stack(torch.meshgrid(side, side, indexing="xy"), dim=-1)
grid = grid.reshape(-1, 2)
EXTENT = (-2.6, 2.6, -2.6, 2.6)


def density(mixture):
    return mixture.log_density(grid).exp().reshape(200, 200)


fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
titles = ("image: ring", "audio: wave", "product: ring x wave")
for ax, mixture, title in zip(axes, (ring, wave, product), titles,
                              strict=True):
    ax.imshow(density(mixture), origin="lower", extent=EXTENT,
              cmap="magma")
    ax.set(title=title, xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## One sampler, any experts
#
# Each toy expert is an `itslib.experts.Expert` whose "UNet" returns the exact
# noise. The sampler neither knows nor cares. First, each expert alone: 2,000
# points of noise, 100 DDIM steps {cite:p}`song2021denoising`. Each expert
# enters the sampler as a `Term`: the expert, its prompt, its guidance scale
# and its weight.

# %%
generator = torch.Generator().manual_seed(0)
noise = torch.randn(2000, 2, 1, 1, generator=generator)
ddim = make_scheduler("ddim", image_expert.scheduler_config)


def run(terms, steps=100, capture=False):
    out = sample(terms, ddim, noise, steps, capture=capture,
                 progress=False)
    return out.latents[:, :, 0, 0], out


def scatter(ax, points, title, background=product):
    ax.imshow(density(background), origin="lower", extent=EXTENT,
              cmap="Greys")
    ax.scatter(points[:, 0], points[:, 1], s=1.5, alpha=0.5,
               color="tab:orange")
    ax.set(title=title, xlim=EXTENT[:2], ylim=EXTENT[2:], xticks=[],
           yticks=[])


alone_image, _ = run([Term(image_expert, "ring", guidance=1, weight=1)])
alone_audio, _ = run([Term(audio_expert, "wave", guidance=1, weight=1)])
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
def pair(guidance, audio_weight=0.5, image_start=0.0):
    """The paper's two terms; the image expert joins after image_start."""
    return [Term(image_expert, "ring", guidance=guidance,
                 weight=1 - audio_weight, start=image_start),
            Term(audio_expert, "wave", guidance=guidance,
                 weight=audio_weight)]


fig, axes = plt.subplots(2, 2, figsize=(8, 8))
for ax, g in zip(axes.flat[:3], (1.0, 2.0, 4.0), strict=True):
    points, _ = run(pair(g))
    score = product.log_density(points).mean()
    scatter(ax, points, f"mixed, guidance {g:g}\n"
            f"mean log p_product = {score:.2f}")
exact = product.sample(2000, torch.Generator().manual_seed(1))
scatter(axes[1, 1], exact, "exact product samples")
plt.tight_layout()
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
fig, axes = plt.subplots(2, 3, figsize=(10, 6.8))
for ax, w in zip(axes.flat, (0.0, 0.25, 0.5, 0.75, 1.0), strict=False):
    points, _ = run(pair(2.0, audio_weight=w))
    scatter(ax, points, f"audio_weight = {w}")
scatter(axes[1, 2], exact, "exact product samples")
plt.tight_layout()
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
points, out = run(pair(2.0, image_start=0.3), capture=True)
for i in (0, 30):
    asked = ", ".join(sorted(out.trajectory[i].noise))
    print(f"step {i} asks: {asked}")
calls = ", ".join(f"{name} {n}" for name, n in out.unet_calls.items())
print(f"UNet calls per expert: {calls}")

# the first 40 points' paths: (steps, 40, 2)
paths = torch.stack([step.x_t[:40, :, 0, 0] for step in out.trajectory])
fig, ax = plt.subplots(figsize=(5.5, 5.5))
scatter(ax, points, "paths with a 30% audio warm start")
for n in range(40):
    ax.plot(paths[:, n, 0], paths[:, n, 1], lw=0.6, color="tab:blue",
            alpha=0.6)
ax.scatter(paths[30, :, 0], paths[30, :, 1], s=8, color="tab:green",
           label="image expert joins")
ax.legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# The same loop, the same `Term`s and the same warm-start rule drive the real models
# in the next chapter; only the experts change. In the plane we could check the
# answer against the exact product. With pictures and sounds there is no exact
# answer, so later chapters bring judges: CLIP and CLAP for the real models, small
# classifiers for the miniature ones.
#
# ## Exercises
#
# 1. **A third expert.** Add a third toy expert that knows one broad blob in
#    the lower left, `GaussianMixture.of([[-1.5, -1.5]], std=0.8)`, and give
#    `sample` three `Term`s with equal weights. Where do the points go? With
#    three experts, which guidance makes the mix close to the product?
#
# ```{admonition} Answer
# :class: dropdown
# The sampler takes any number of terms; with three equal weights of 1/3 and
# guidance 3, the guided estimates add up to the product of all three over a
# broad background, as guidance 2 did for two. The product of ring, wave and
# blob has mass only at the lower-left crossing, so the points leave the
# upper-right one. The hidden cell below counts the share of points in the
# lower-left half of the plane with two experts and with three.
# ```

# %% tags=["hide-input"]
blob = GaussianMixture.of([[-1.5, -1.5]], std=0.8)
third = toy_expert("third", {"blob": blob}, unconditional=broad)
trio = [Term(image_expert, "ring", guidance=3.0, weight=1 / 3),
        Term(audio_expert, "wave", guidance=3.0, weight=1 / 3),
        Term(third, "blob", guidance=3.0, weight=1 / 3)]
with_two, _ = run(pair(2.0))
with_three, _ = run(trio)
for name, points in (("two experts", with_two), ("three", with_three)):
    share = float((points.sum(dim=1) < 0).float().mean())
    print(f"{name}: {share:.0%} of the points in the lower-left half")
assert (with_three.sum(dim=1) < 0).float().mean() > 0.9

# %% [markdown]
# 2. **A negative weight.** `sample` refuses negative weights, but nothing
#    stops you writing the loop yourself. Write the DDIM loop by hand (set the
#    scheduler's timesteps, then for each `t`: both experts' estimates with
#    `predict_noise`, their mix, `ddim.step`) with weights 1.5 for the ring
#    and −0.5 for the wave, guidance 1. What does a negative weight ask for?
#
# ```{admonition} Answer
# :class: dropdown
# Weights (1.5, −0.5) ask for $p_\text{ring}^{1.5} / p_\text{wave}^{0.5}$:
# the ring, but away from the wave. The points settle on the ring's blobs
# that the wave does not touch, so their mean log density under the wave
# falls far below that of the ring's own samples. The hidden cell below
# writes the loop, checks that, and draws the points.
# ```

# %% tags=["hide-input"]
ring_prompt = image_expert.condition("ring")
wave_prompt = audio_expert.condition("wave")
ddim.set_timesteps(100)
x = noise.clone()
with torch.inference_mode():
    for t in ddim.timesteps:
        eps_ring = image_expert.predict_noise(x, t, ring_prompt, 1.0)
        eps_wave = audio_expert.predict_noise(x, t, wave_prompt, 1.0)
        x = ddim.step(1.5 * eps_ring - 0.5 * eps_wave, t, x).prev_sample
away = x[:, :, 0, 0]
on_wave = {name: float(wave.log_density(p).mean())
           for name, p in (("ring alone", alone_image), ("away", away))}
print(", ".join(f"{k}: mean log p_wave = {v:.1f}" for k, v in
                on_wave.items()))
assert on_wave["away"] < on_wave["ring alone"]
fig, ax = plt.subplots(figsize=(4.5, 4.5))
scatter(ax, away, "weights 1.5 (ring), -0.5 (wave)", wave)
plt.show()

# %% [markdown]
# 3. **A warm start that is too long.** Run `pair(2.0, image_start=0.9)`: the
#    audio expert alone for 90 of the 100 steps. Where do the points end, and
#    why?
#
# ```{admonition} Answer
# :class: dropdown
# Closer to the wave and further from the ring. By step 90 the noise level
# is low and every point has already chosen its place on the wave; the image
# expert, joining that late, can only nudge the points near a crossing. The
# layout is decided early (chapter 2), by whoever denoises then. The hidden
# cell below compares mean log densities under the ring and the wave.
# ```

# %% tags=["hide-input"]
for start in (0.1, 0.9):
    points, _ = run(pair(2.0, image_start=start))
    print(f"image_start={start}: mean log p_ring = "
          f"{ring.log_density(points).mean():.1f}, mean log p_wave = "
          f"{wave.log_density(points).mean():.1f}")
