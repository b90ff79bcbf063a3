# %% [markdown]
# # Diffusion in one page
#
# A diffusion model {cite:p}`ho2020denoising` learns one thing: given a picture
# buried in noise, guess the noise. Everything else (sampling, guidance, and in
# later chapters mixing two models) is arithmetic around that guess. This chapter
# shows each piece on the **miniature image expert**, a small latent diffusion
# model trained by this project on procedural pictures (`itslib.mini`), because it
# runs in seconds anywhere. Stable Diffusion {cite:p}`rombach2022high` works the
# same way, with text instead of class names and 860 million parameters instead of
# two million.
#
# **Which world drew this page:** the miniature world (on every machine, Colab
# included; the real models enter in the next chapters).

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from itslib import mini
from itslib.pipeline import make_scheduler
from itslib.sampler import Term, sample
from itslib.worlds import mini_pipeline

pipe = mini_pipeline()  # the miniature world: 128 x 512 canvas, class names as prompts
expert = pipe.image_expert
print("picture classes:", ", ".join(mini.PICTURE_CLASSES))

# %% [markdown]
# ## What the model was trained on
#
# Eight classes of procedural pictures, each drawn with wide random variation. The
# class name is the prompt.

# %%
rng = np.random.default_rng(0)
fig, axes = plt.subplots(4, 2, figsize=(10, 5))
for ax, name in zip(axes.flat, mini.PICTURE_CLASSES, strict=True):
    ax.imshow(mini.make_picture(name, rng), cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set(title=name, xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Latents and the forward process
#
# Like Stable Diffusion, the model works in the latent space of an autoencoder: a
# 128 x 512 picture becomes a 4 x 32 x 128 latent $x_0$, 4 times smaller on each side
# (Stable Diffusion's VAE shrinks 8 times; in miniature, 8 times blurs the thin lines
# of a bell's partials). The *forward process* buries
# it in Gaussian noise $\epsilon$ according to a schedule $\bar\alpha_t$ that falls
# from 1 to almost 0 over 1000 steps:
#
# $$ x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon . $$
#
# The schedule is Stable Diffusion 1.5's, exactly, so the same DDIM sampler drives both.

# %%
scheduler = make_scheduler("ddim", expert.scheduler_config)
picture = torch.from_numpy(mini.make_picture("mountains", np.random.default_rng(3)))
x0 = expert.encode(picture[None, None])
eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
levels = [0, 200, 400, 600, 800, 999]
fig, axes = plt.subplots(1, len(levels), figsize=(16, 1.6))
for ax, t in zip(axes, levels, strict=True):
    abar = scheduler.alphas_cumprod[t]
    xt = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    ax.imshow(expert.decode(xt)[0, 0], cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set(title=f"t = {t}, ᾱ = {abar:.2f}", xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## Denoising: predict the noise, step back
#
# The network $\epsilon_\theta(x_t, t, c)$ predicts $\epsilon$ from $x_t$ and the
# class $c$. From that guess we get a guess of the clean latent,
#
# $$ \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon}{\sqrt{\bar\alpha_t}}, $$
#
# and DDIM {cite:p}`song2021denoising` (with $\eta = 0$) moves to the next, less noisy
# level along the line between them. We run 50 steps from pure noise and record
# every step (`capture=True`): the current $x_t$ and the model's running guess
# $\hat x_0$.

# %%
noise = torch.randn((1, 4, 32, 128), generator=torch.Generator().manual_seed(1))
term = Term(expert, "mountains", guidance=4.0, weight=1.0)
out = sample([term], make_scheduler("ddim", expert.scheduler_config), noise, 50,
             capture=True, progress=False)
shown = [0, 5, 10, 20, 30, 49]
fig, axes = plt.subplots(2, len(shown), figsize=(16, 3))
for col, i in enumerate(shown):
    step = out.trajectory[i]
    for row, latent in enumerate((step.x_t, step.x0)):
        axes[row, col].imshow(expert.decode(latent)[0, 0], cmap="gray", vmin=0, vmax=1,
                              aspect="auto")
        axes[row, col].set(xticks=[], yticks=[])
    axes[0, col].set_title(f"step {i}, t = {step.t}")
axes[0, 0].set_ylabel("$x_t$")
axes[1, 0].set_ylabel(r"$\hat x_0$")
plt.show()

# %% [markdown]
# The top row is what the sampler holds; the bottom row is what the model believes
# the final picture will be. The layout (where the ridges go) is decided in the
# first handful of steps, while $x_t$ is still mostly noise; later steps only sharpen
# details. Keep this in mind: it is why the paper's *warm start* (letting one expert
# alone set the layout for the first 10% of steps) matters so much.
#
# ## Classifier-free guidance
#
# The model was trained to also predict noise with no class at all (a *null* class,
# the empty prompt). Classifier-free guidance {cite:p}`ho2022classifier` extrapolates
# from the unconditional guess towards the conditional one,
#
# $$ \hat\epsilon = \epsilon_\theta(x_t, t, \varnothing)
#    + g\,\big(\epsilon_\theta(x_t, t, c) - \epsilon_\theta(x_t, t, \varnothing)\big), $$
#
# which `Expert.predict_noise` computes with one batched call. Larger $g$ gives
# pictures that look more like their class and less varied.

# %%
scales = [0.0, 1.0, 3.0, 7.5]
fig, axes = plt.subplots(len(scales), 3, figsize=(12, 4.5))
for row, g in enumerate(scales):
    for col in range(3):
        start = torch.randn((1, 4, 32, 128), generator=torch.Generator().manual_seed(10 + col))
        term = Term(expert, "city skyline", guidance=g, weight=1.0)
        done = sample([term], make_scheduler("ddim", expert.scheduler_config), start, 30,
                      progress=False)
        axes[row, col].imshow(expert.decode(done.latents)[0, 0], cmap="gray", vmin=0, vmax=1,
                              aspect="auto")
        axes[row, col].set(xticks=[], yticks=[])
    axes[row, 0].set_ylabel(f"g = {g:g}", rotation=0, labelpad=25)
fig.suptitle('"city skyline" at four guidance scales (three seeds each)')
plt.show()

# %% [markdown]
# With $g = 0$ the model draws whatever it likes (any of the eight classes, or a
# blend); at $g = 1$ it follows the class loosely; at $g = 3$ to $7.5$ skylines are
# unmistakable. The paper uses 7.5 to 10 for both of its experts.
#
# That is the whole of diffusion sampling that this book needs: a noise guess, a
# guided noise guess, and a scheduler step. The next chapter adds one more line: the
# *sum* of two experts' guesses.
