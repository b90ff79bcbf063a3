# %% [markdown]
# # Inside the sampler
#
# The previous chapter showed what comes out. This one records every step of
# one sample (`capture=True`) and decodes what the sampler holds: the clean
# latent it predicts and, separately, what **each** expert would predict on its
# own. Where the two experts' predictions differ is where they are
# negotiating; watching that disagreement shrink is watching the intersection
# of two distributions being found.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Video
from torch.nn.functional import cosine_similarity

from itslib.pipeline import make_scheduler
from itslib.sampler import predicted_x0
from itslib.viz import show
from itslib.worlds import load_world

world = load_world(quiet=True)  # ITSLIB_WORLD if set; real with a GPU
pipe = world.pipeline
print(world.drawn_by())
image_prompt, audio_prompt = world.examples[0]
(result,) = pipe(image_prompt, audio_prompt, seed=0, capture=True,
                 progress=False)
steps = result.trajectory
for i in (0, 50):
    print(f"step {i} asks: {', '.join(sorted(steps[i].noise))}")
show(result)

# %% [markdown]
# ## What each expert believes
#
# Every record holds each active expert's guided noise estimate. Turning a
# noise estimate into a clean-latent estimate is one line,
# $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon)/\sqrt{\bar\alpha_t}$
# (`itslib.sampler.predicted_x0`), so we can decode what the image expert
# thinks the final latent is, and what the audio expert thinks.

# %%
scheduler = make_scheduler("ddim", pipe.image_expert.scheduler_config)


def beliefs(step):
    """Each active expert's predicted clean latent at this step."""
    return {name: predicted_x0(scheduler, step.x_t, eps, step.t)
            for name, eps in step.noise.items()}


def as_spectrogram(latent):
    return pipe.audio_expert.decode(latent)[0].mean(dim=0).numpy()


shown = [0, 10, 15, 25, 50, 99]
fig, axes = plt.subplots(len(shown), 2, figsize=(10, 8.4))
for row, i in enumerate(shown):
    belief = beliefs(steps[i])
    for col, name in enumerate(("image", "audio")):
        ax = axes[row, col]
        ax.set(xticks=[], yticks=[])
        if name not in belief:
            ax.text(0.5, 0.5, "not asked (warm start)", ha="center",
                    va="center", fontsize=10)
            continue
        ax.imshow(as_spectrogram(belief[name]), cmap="gray", vmin=0,
                  vmax=1, aspect="auto")
    axes[row, 0].set_ylabel(f"step {i}\nt = {steps[i].t}", rotation=0,
                            ha="right", va="center")
axes[0, 0].set_title("the image expert's $\\hat x_0$", fontsize=11)
axes[0, 1].set_title("the audio expert's $\\hat x_0$", fontsize=11)
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the rows top to bottom. During the warm start only the audio expert is
# asked, and its belief sets the coarse layout. When the image expert joins
# (step 10), its belief and the audio expert's are different pictures. Each
# DDIM step commits a little of their average, and by the last steps both
# experts predict nearly the same latent: a sample that both find plausible.
#
# ## Where they disagree
#
# The maps below show, for each latent pixel, how far apart the two experts'
# predictions are (the mean absolute difference over the latent's channels).
# All the maps share **one colour scale**, so a darker map means a smaller
# disagreement.

# %%
joined = [10, 15, 20, 30, 50, 99]
gaps = []
for i in joined:
    belief = beliefs(steps[i])
    gaps.append((belief["image"] - belief["audio"]).abs().mean(dim=1)[0])
# one scale for all maps; the brightest 0.5% of pixels share its top colour
top = float(torch.quantile(torch.stack(gaps).flatten(), 0.995))
fig, axes = plt.subplots(3, 2, figsize=(10, 5), layout="constrained")
for ax, i, gap in zip(axes.flat, joined, gaps, strict=True):
    image = ax.imshow(gap, cmap="magma", vmin=0, vmax=top, aspect="auto")
    ax.set(xticks=[], yticks=[])
    ax.set_title(f"step {i}", fontsize=10)
label = r"$|\hat x_0^\mathrm{image} - \hat x_0^\mathrm{audio}|$"
fig.colorbar(image, ax=axes, extend="max", shrink=0.9, label=label)
plt.show()

# %% [markdown]
# The disagreement is brightest when the image expert first joins and fades
# step by step; by the last steps little is left anywhere.
#
# ## Disagreement over time
#
# Two numbers per step: how far apart the two experts' clean-latent
# predictions are, and the cosine similarity of their noise estimates.

# %%
def cosine_of(a, b):
    return float(cosine_similarity(a.flatten(), b.flatten(), dim=0))


distance, cosine, index = [], [], []
for step in steps:
    if len(step.noise) == 2:
        belief = beliefs(step)
        gap = belief["image"] - belief["audio"]
        distance.append(float(gap.pow(2).mean().sqrt()))
        cosine.append(cosine_of(step.noise["image"], step.noise["audio"]))
        index.append(step.index)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].plot(index, distance)
axes[0].set(xlabel="step", ylabel="RMS distance",
            title="predicted $\\hat x_0$: image vs audio")
axes[1].plot(index, cosine)
axes[1].set(xlabel="step", ylabel="cosine",
            title="noise estimates: image vs audio")
plt.tight_layout()
plt.show()

# %% [markdown]
# Early on, the two noise estimates point in nearly the same direction (most
# of $x_t$ is noise, and both experts see the same noise) while their
# clean-latent beliefs differ a lot. Later the noise estimates decorrelate,
# because each expert now wants different *details*, but the beliefs
# converge: what is left to decide is small.
#
# ## The whole trajectory as a video
#
# The mixed clean-latent prediction, decoded as a spectrogram at every other
# step. Press play, or drag the slider to a step.

# %%
import tempfile
from pathlib import Path

import imageio_ffmpeg
from PIL import Image, ImageDraw, ImageFont

from itslib.viz import to_rgb8

FONT = ImageFont.load_default(size=24)


def frame(step, scale=2):
    picture = Image.fromarray(to_rgb8(as_spectrogram(step.x0)))
    size = (scale * picture.width, scale * picture.height)
    picture = picture.resize(size, Image.Resampling.NEAREST)
    ImageDraw.Draw(picture).text((10, 6), f"step {step.index}",
                                 fill=(255, 60, 60), font=FONT)
    return np.asarray(picture)


frames = [frame(step) for step in steps[::2]]
height, width = frames[0].shape[:2]
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "trajectory.mp4"
    writer = imageio_ffmpeg.write_frames(str(path), (width, height),
                                         fps=10)
    writer.send(None)  # start ffmpeg
    for picture in frames:
        writer.send(np.ascontiguousarray(picture))
    writer.close()
    video = path.read_bytes()
print(f"{len(frames)} frames, {len(video) / 1e3:.0f} kB of H.264")
Video(video, embed=True, mimetype="video/mp4",
      html_attributes="controls loop playsinline style='width: 100%'")

# %% [markdown]
# ## Exercises
#
# 1. **How fast do they agree?** From the curve of RMS distances, find the
#    first step at which the two experts' beliefs are less than half as far
#    apart as when the image expert joined.
#
# ```{admonition} Answer
# :class: dropdown
# The hidden cell below reads it off the list `distance` (the step numbers
# are in `index`). The curve first rises for a few steps, as the image expert
# pulls towards its own picture, then falls fastest over the next twenty or
# so, while the layout is still open, and after that decays slowly to zero.
# ```

# %% tags=["hide-input"]
first = next(i for i, d in zip(index, distance, strict=True)
             if d < distance[0] / 2)
print(f"the image expert joins at step {index[0]} "
      f"(RMS distance {distance[0]:.3f}); half that by step {first}")

# %% [markdown]
# 2. **Why the noise estimates agree early.** At the first steps the cosine
#    between the two experts' noise estimates is close to 1, even though they
#    believe in different pictures. Explain it from
#    $x_t = \sqrt{\bar\alpha_t}\,x_0 + \sqrt{1-\bar\alpha_t}\,\epsilon$, and
#    check it with the cosine between each estimate and $x_t$ itself.
#
# ```{admonition} Answer
# :class: dropdown
# When $\bar\alpha_t$ is near 0, $x_t$ is almost all noise, so the best guess
# of the noise is nearly $x_t$ itself, whatever picture an expert has in
# mind: both estimates point along $x_t$, and so along each other. As
# $\bar\alpha_t$ grows, the picture part matters and the estimates part
# ways. The hidden cell below prints both cosines at the first mixed step and
# at the last.
# ```

# %% tags=["hide-input"]
for step in (steps[index[0]], steps[-1]):
    line = ", ".join(f"{name} {cosine_of(eps, step.x_t):.2f}"
                     for name, eps in step.noise.items())
    print(f"step {step.index}, cosine with x_t: {line}")

# %% [markdown]
# 3. **No warm start.** Draw the same sample with `image_start=0.0`, so that
#    both experts are asked from the first step, and compare the RMS distance
#    of their beliefs at step 0 with the one at step 10 above. What did the
#    audio expert's ten steps alone buy?
#
# ```{admonition} Answer
# :class: dropdown
# About as far apart either way (the hidden cell below prints both): ten
# steps of the audio expert's layout do not make the image expert agree any
# more than pure noise does. What the warm start buys is not agreement but
# precedence: the negotiation starts from the audio expert's layout, which is
# why an audio warm start raises the sound's score and lowers the picture's
# (the paper's Table 3, in miniature in chapter 7).
# ```

# %% tags=["hide-input"]
(cold,) = pipe(image_prompt, audio_prompt, seed=0, image_start=0.0,
               capture=True, progress=False)
belief = beliefs(cold.trajectory[0])
start = float((belief["image"] - belief["audio"]).pow(2).mean().sqrt())
print(f"RMS distance when both start at step 0: {start:.3f}; "
      f"after a 10-step warm start, at step 10: {distance[0]:.3f}")
