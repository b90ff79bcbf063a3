# %% [markdown]
# # Diffusion in one page
#
# A diffusion model {cite:p}`ho2020denoising` learns one thing: given a picture
# buried in noise, guess the noise. Everything else (sampling, guidance, and in
# later chapters mixing two models) is arithmetic around that guess. This
# chapter shows each piece on the **miniature image expert**, a small latent
# diffusion model trained by this project on procedural pictures
# (`itslib.mini`), because it runs in seconds anywhere. Stable Diffusion
# {cite:p}`rombach2022high` works the same way, with text instead of class
# names and far more parameters (the cell below counts the miniature UNet's).
#
# **Which world drew this page:** the miniature world, on every machine,
# Colab included. The real models enter in the next chapters.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from itslib import mini
from itslib.pipeline import make_scheduler
from itslib.sampler import Term, sample
from itslib.worlds import mini_pipeline

pipe = mini_pipeline()  # the miniature world; prompts are class names
expert = pipe.image_expert
height, width = pipe.canvas
shape = pipe.latent_shape(height, width)  # (1, channels, h, w)
parameters = sum(p.numel() for p in expert.unet.parameters())
print(f"canvas: {height} x {width} pixels; "
      f"latent: {' x '.join(map(str, shape[1:]))}")
print(f"the image expert's UNet: {parameters / 1e6:.1f} M parameters")
print("picture classes:", ", ".join(mini.PICTURE_CLASSES))


def draw(ax, latent, title=""):
    """Decode a latent and draw it as a gray picture."""
    ax.imshow(expert.decode(latent)[0, 0], cmap="gray", vmin=0, vmax=1,
              aspect="auto")
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, fontsize=10)


# %% [markdown]
# ## What the model was trained on
#
# Eight classes of procedural pictures, each drawn with wide random variation.
# The class name is the prompt.

# %%
rng = np.random.default_rng(0)
fig, axes = plt.subplots(4, 2, figsize=(10, 6))
for ax, name in zip(axes.flat, mini.PICTURE_CLASSES, strict=True):
    ax.imshow(mini.make_picture(name, rng), cmap="gray", vmin=0, vmax=1,
              aspect="auto")
    ax.set(xticks=[], yticks=[])
    ax.set_title(name, fontsize=11)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Latents and the forward process
#
# Like Stable Diffusion, the model works in the {term}`latent` space of an
# autoencoder: the picture becomes the much smaller latent $x_0$ printed above,
# 4 times smaller on each side (Stable Diffusion's {term}`VAE` shrinks 8 times;
# in miniature, 8 times blurs the thin lines of a bell's partials). The
# *forward process* buries it in Gaussian noise $\epsilon$ according to a
# schedule $\bar\alpha_t$ that falls from 1 to almost 0 over 1000 steps:
#
# $$ x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon . $$
#
# The schedule is Stable Diffusion 1.5's, exactly, so the same {term}`DDIM`
# sampler drives both. Each panel below decodes one noised latent.

# %%
scheduler = make_scheduler("ddim", expert.scheduler_config)
rng = np.random.default_rng(3)
picture = torch.from_numpy(mini.make_picture("mountains", rng))
x0 = expert.encode(picture[None, None])
eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
levels = [0, 200, 400, 600, 800, 999]
fig, axes = plt.subplots(3, 2, figsize=(10, 4.8))
for ax, t in zip(axes.flat, levels, strict=True):
    abar = scheduler.alphas_cumprod[t]
    xt = abar.sqrt() * x0 + (1 - abar).sqrt() * eps
    draw(ax, xt, f"t = {t}, ᾱ = {abar:.2f}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Denoising: predict the noise, step back
#
# The network $\epsilon_\theta(x_t, t, c)$ predicts $\epsilon$ from $x_t$ and
# the class $c$. From that guess we get a guess of the clean latent,
#
# $$ \hat x_0 = \frac{x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon}
#                    {\sqrt{\bar\alpha_t}}, $$
#
# and DDIM {cite:p}`song2021denoising` (with $\eta = 0$) moves to the next,
# less noisy level along the line between them. We run 50 steps from pure
# noise and record every step (`capture=True`): the current $x_t$ and the
# model's running guess $\hat x_0$.

# %%
noise = torch.randn(shape, generator=torch.Generator().manual_seed(1))
term = Term(expert, "mountains", guidance=4.0, weight=1.0)
ddim = make_scheduler("ddim", expert.scheduler_config)
out = sample([term], ddim, noise, 50, capture=True, progress=False)
shown = [0, 5, 10, 20, 30, 49]
fig, axes = plt.subplots(len(shown), 2, figsize=(10, 8))
for row, i in enumerate(shown):
    step = out.trajectory[i]
    draw(axes[row, 0], step.x_t)
    draw(axes[row, 1], step.x0)
    axes[row, 0].set_ylabel(f"step {i}\nt = {step.t}", rotation=0,
                            ha="right", va="center")
axes[0, 0].set_title("$x_t$: what the sampler holds", fontsize=11)
axes[0, 1].set_title(r"$\hat x_0$: what the model expects", fontsize=11)
plt.tight_layout()
plt.show()

# %% [markdown]
# The left column is what the sampler holds; the right column is what the
# model believes the final picture will be. The layout (where the ridges go) is
# decided in the first handful of steps, while $x_t$ is still mostly noise;
# later steps only sharpen details. Keep this in mind: it is why the paper's
# {term}`warm start` (letting one expert alone set the layout for the first 10%
# of steps) matters so much.
#
# ## Classifier-free guidance
#
# The model was trained to also predict noise with no class at all (a *null*
# class, the empty prompt). This is what {term}`classifier-free guidance`
# {cite:p}`ho2022classifier` needs: it extrapolates from the unconditional
# guess towards the conditional one,
#
# $$ \hat\epsilon = \epsilon_\theta(x_t, t, \varnothing)
#    + g\,\big(\epsilon_\theta(x_t, t, c)
#    - \epsilon_\theta(x_t, t, \varnothing)\big), $$
#
# which `Expert.predict_noise` computes with one batched call. Larger $g$
# gives pictures that look more like their class and less varied.

# %%
scales = [0.0, 1.0, 3.0, 7.5]
seeds = [10, 11]
fig, axes = plt.subplots(len(scales), len(seeds), figsize=(10, 5.6))
for row, g in enumerate(scales):
    for col, seed in enumerate(seeds):
        generator = torch.Generator().manual_seed(seed)
        start = torch.randn(shape, generator=generator)
        term = Term(expert, "city skyline", guidance=g, weight=1.0)
        ddim = make_scheduler("ddim", expert.scheduler_config)
        done = sample([term], ddim, start, 30, progress=False)
        draw(axes[row, col], done.latents)
    axes[row, 0].set_ylabel(f"g = {g:g}", rotation=0, ha="right",
                            va="center", fontsize=11)
for col, seed in enumerate(seeds):
    axes[0, col].set_title(f"seed {seed}", fontsize=11)
fig.suptitle('"city skyline" at four guidance scales')
plt.tight_layout()
plt.show()

# %% [markdown]
# With $g = 0$ the model draws whatever it likes (any of the eight classes, or
# a blend); at $g = 1$ it follows the class loosely; at $g = 3$ to $7.5$
# skylines are unmistakable. The paper uses 7.5 to 10 for both of its experts.
#
# That is the whole of diffusion sampling that this book needs: a noise guess,
# a guided noise guess, and a scheduler step. The next chapter adds one more
# line: the *sum* of two experts' guesses.
#
# ## Exercises
#
# 1. **Half the signal.** At which training step $t$ does $\bar\alpha_t$ first
#    fall below one half, so that the noise carries more of $x_t$'s variance
#    than the picture does? Guess from the figure of the forward process, then
#    look it up in `scheduler.alphas_cumprod`.
#
# ```{admonition} Answer
# :class: dropdown
# The hidden cell below finds it: a little over a third of the way through
# the 1000 steps. Stable Diffusion's schedule (scaled-linear betas from
# 0.00085 to 0.012) removes the signal slowly at first, which is why the
# pictures at t = 200 still look clean.
# ```

# %% tags=["hide-input"]
abar = scheduler.alphas_cumprod
half = int(torch.nonzero(abar < 0.5)[0])
print(f"ᾱ_t first falls below 0.5 at t = {half} (ᾱ = {abar[half]:.3f})")

# %% [markdown]
# 2. **One DDIM step by hand.** With $\eta = 0$, DDIM moves from $x_t$ to the
#    earlier level $t'$ by putting the predicted picture and the predicted
#    noise back together at that level:
#    $x_{t'} = \sqrt{\bar\alpha_{t'}}\,\hat x_0 + \sqrt{1-\bar\alpha_{t'}}\,
#    \hat\epsilon$. Take step 10 of the trajectory above, compute $x_{t'}$
#    yourself from its $x_t$ and the guided estimate it records
#    (`step.noise`), and compare with the $x_t$ recorded at step 11.
#
# ```{admonition} Answer
# :class: dropdown
# $\hat x_0$ comes from the formula above, then the two terms are added. Code
# that computes the same formula in another order rounds differently in
# float32, so the cell compares with a small tolerance; written as below, it
# matches `scheduler.step` to the last bit. The hidden cell below does it.
# ```

# %% tags=["hide-input"]
ddim = make_scheduler("ddim", expert.scheduler_config)
ddim.set_timesteps(50)
step, after = out.trajectory[10], out.trajectory[11]
eps_hat = step.noise["image"]  # the guided estimate the sampler used
a = ddim.alphas_cumprod[step.t]
a_next = ddim.alphas_cumprod[after.t]
x0_hat = (step.x_t - (1 - a).sqrt() * eps_hat) / a.sqrt()
by_hand = a_next.sqrt() * x0_hat + (1 - a_next).sqrt() * eps_hat
gap = (by_hand - after.x_t).abs().max()
print(f"by hand vs the sampler's next x_t: largest difference {gap:.1e}")
assert torch.allclose(by_hand, after.x_t, atol=1e-5)

# %% [markdown]
# 3. **What guidance 1 means.** The guided estimate is a straight line in $g$.
#    What is it at $g = 0$ and at $g = 1$? Check that the estimate at
#    $g = 7.5$ lies on the line through those two.
#
# ```{admonition} Answer
# :class: dropdown
# At $g = 0$ it is the unconditional estimate $\epsilon_\varnothing$, at
# $g = 1$ the conditional one $\epsilon_c$: guidance 1 is the plain
# class-conditional model, and every $g > 1$ extrapolates past it, away from
# the unconditional guess. The hidden cell below checks the line at
# $g = 7.5$, up to rounding.
# ```

# %% tags=["hide-input"]
condition = expert.condition("mountains")
with torch.inference_mode():
    at = {g: expert.predict_noise(step.x_t, step.t, condition, g)
          for g in (0.0, 1.0, 7.5)}
line = at[0.0] + 7.5 * (at[1.0] - at[0.0])
distance = (at[7.5] - line).abs().max()
print(f"largest distance from the line: {distance:.1e}")
assert torch.allclose(at[7.5], line, atol=1e-4)
