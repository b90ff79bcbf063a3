# %% [markdown]
# # Baselines: imprint and SDS
#
# Is the joint sampler doing something a simpler method could not? The paper
# compares it with two baselines (Sec. 4.1):
#
# - **Imprint** ({term}`imprint`): make a picture and a spectrogram separately,
#   then carve the picture into the spectrogram: dim the sound wherever the
#   picture is dark. This is the classic way spectrogram art is made by hand.
# - **SDS**: {term}`score distillation sampling <SDS>`
#   {cite:p}`poole2022dreamfusion`, as in Diffusion Illusions
#   {cite:p}`burgert2023diffusion`: optimise a canvas so that both models,
#   asked "what noise do you see?", push it the same way.
#
# Imprint lives in `itslib.baselines`, SDS in `itslib.sds`; both run in either
# world, and the first line printed below names the one that drew this page.

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from matplotlib import cbook

from itslib import audio, files
from itslib.baselines import imprint, imprint_baseline
from itslib.demo import example_sound
from itslib.sds import sds_baseline
from itslib.viz import show
from itslib.worlds import load_world

world = load_world(quiet=True)  # ITSLIB_WORLD if set; real with a GPU
pipe = world.pipeline
print(world.drawn_by())
image_prompt, audio_prompt = world.examples[0]
height, width = pipe.canvas


def panel(ax, picture, title):
    ax.imshow(picture, cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, loc="left", fontsize=11)


# %% [markdown]
# ## Imprint
#
# $$ \text{result} = \text{spectrogram} \times \big(1 - s\,(1 - \text{gray picture})\big) $$
#
# With strength $s = 0.5$ a black pixel halves the sound, a white pixel leaves it
# alone. The spectrogram and the picture come from each expert alone (the paper:
# 50 steps for the picture, 100 for the spectrogram, guidance 7.5).

# %%
printed = imprint_baseline(pipe, image_prompt, audio_prompt, strength=0.5,
                           seed=0)
(joint,) = pipe(image_prompt, audio_prompt, seed=0, progress=False)
fig, axes = plt.subplots(3, 1, figsize=(9, 6.6))
panel(axes[0], printed.image, "the image expert's picture")
panel(axes[1], printed.spectrogram,
      "imprinted into the audio expert's spectrogram")
panel(axes[2], joint.spectrogram, "the joint sampler, same prompts")
plt.tight_layout()
plt.show()
display(show(printed, "imprint"))
show(joint, "joint sampler")

# %% [markdown]
# Imprint always "works" in a weak sense: the picture is there, and the sound is
# the audio expert's. But the picture is only visible where the sound was loud, and
# a quiet spectrogram hides it; the sound, meanwhile, is unchanged except for level.
# The joint sampler instead changes *both*: it finds a spectrogram whose structure is
# the picture.
#
# ## Imprint with your own photo and recording
#
# This is how spectrogram art is usually made, and it needs no model at all. Here a
# photograph that ships with matplotlib and our bell-and-whistle sound; in Colab,
# upload your own files and pass their paths to `load_picture` and `load_audio`.
# Both are fitted to the world's canvas: the cell prints its size and length.

# %%
mel = pipe.audio_expert.mel
seconds = mel.seconds(width)
print(f"canvas: {height} x {width} pixels = {height} mel bins x "
      f"{seconds:.2f} s at {mel.sample_rate} Hz")
with cbook.get_sample_data("grace_hopper.jpg") as photo_file:
    photo = files.load_picture(photo_file.name, height, width, fill=1.0)
# or: files.load_audio("mine.wav", mel.sample_rate, seconds=seconds)
recording = example_sound(seconds=seconds)
own = imprint_baseline(pipe, picture=photo, sound=recording, strength=0.7)
fig, axes = plt.subplots(2, 1, figsize=(9, 4.4))
panel(axes[0], photo, "your picture")
panel(axes[1], own.spectrogram, "imprinted into your recording")
plt.tight_layout()
plt.show()
show(own, "a photograph imprinted into a recording")

# %% [markdown]
# The face shows only where the recording had energy: along the notes and the
# whistle. Strength trades the picture's visibility against the sound's fidelity:

# %%
logmel = audio.wav_to_logmel(recording, mel)
spectrogram = audio.logmel_to_picture(logmel, mel)
fig, axes = plt.subplots(2, 2, figsize=(10, 3.8))
for ax, s in zip(axes.flat, (0.0, 0.3, 0.6, 0.9), strict=True):
    panel(ax, imprint(spectrogram, photo, s), f"strength {s}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## SDS
#
# SDS optimises a picture directly. The canvas is drawn by a small coordinate network
# (random Fourier features into three 1x1 convolutions, then a sigmoid), so it stays
# smooth. Each step, for each expert: encode the canvas, add noise at a random
# level $t \in [20, 980]$, ask the expert for the noise, and move the canvas along
# $w(t)\,(\hat\epsilon - \epsilon)$ with $w(t) = 1 - \bar\alpha_t$. The audio loss
# alone drives the first steps (the warm start).
#
# The paper runs 40,000 steps with DeepFloyd IF as the image model (about two hours a
# sample on a large GPU). Each world sets a budget that fits a chapter; the cell
# prints it. In the real world it is a few thousand steps with Stable Diffusion
# through its VAE, with a larger learning rate.
#
# In the real world you can take the image loss from IF in pixel space, as the
# paper does (IF is gated: accept its licence on the hub and log in). Its T5-XXL
# text encoder has about 4.8 B parameters, 9.5 GB in fp16: on a GPU
# `load_if_expert` loads IF's fp16 files and keeps T5 in CPU memory except while
# it encodes the two prompts, once. By parameter counts (not measured here), that
# moment needs T5 beside the two experts' 4.3 GB: tight on a free 15 GB T4,
# comfortable on a 24 GB GPU. The rest of SDS needs far less.
#
# ```python
# from itslib.experts import load_if_expert
# from itslib.sds import SDSSettings, sds_baseline
#
# # 8 random crops, each resized to 64 x 64 for IF
# settings = SDSSettings(image_crops=8, crop_resize=64)
# sds = sds_baseline(pipe, image_prompt, audio_prompt, settings,
#                    image_expert=load_if_expert())
# ```
#
# or from the command line, `python -m itslib sds --image-sds if ...`.

# %%
settings = world.sds_settings()  # this world's budget for a chapter
print(f"SDS: {settings.steps} steps ({settings.audio_only_steps} with the "
      f"audio loss alone), learning rate {settings.lr:g}, guidance "
      f"{settings.image_guidance:g} (image) and "
      f"{settings.audio_guidance:g} (audio)")
sds = sds_baseline(pipe, image_prompt, audio_prompt, settings,
                   progress=False)
history = sds.extras["history"]
fig, ax = plt.subplots(figsize=(9, 2.6))
for name in ("audio", "image"):
    steps = [i for i, h in enumerate(history) if name in h]
    ax.plot(steps, [history[i][name] for i in steps],
            label=f"{name} SDS loss", lw=0.8)
ax.set(xlabel="step", yscale="log", title="the two SDS losses")
ax.legend()
plt.show()

snapshots = sds.extras["snapshots"]
every = sds.params["snapshot_every"]  # as run (a test run caps the steps)
shown = list(range(0, len(snapshots), max(1, len(snapshots) // 4)))[:4]
fig, axes = plt.subplots(len(shown) + 1, 1, figsize=(9, 1.9 * len(shown)
                                                    + 1.9))
for ax, k in zip(axes, shown, strict=False):
    panel(ax, snapshots[k], f"the canvas after {k * every} steps")
panel(axes[-1], sds.spectrogram, "the final canvas")
plt.tight_layout()
plt.show()
show(sds, "SDS")

# %% [markdown]
# What this page shows, drawn by the world named at the top with the budget
# printed above: in the miniature world the canvas darkens within the first
# few dozen steps and ends almost black, with a bright band along the bottom
# row (the lowest frequencies). That is close to silence and to no picture at
# all, far from the blurry but recognisable results the paper gets from
# 40,000 steps with DeepFloyd IF. The losses do not fall the way a training
# loss does: every step draws a new noise level, and the curves mostly show
# that randomness.
#
# The paper's own comparison is a human study (its Table 2: seven hand-made
# prompt pairs, hand-picked samples): people preferred the joint sampler's
# results over SDS in 67.8-77.4% of comparisons and over imprint in
# 73.5-78.9%, depending on the question (audio quality, visual quality,
# alignment). Chapter 7 puts numbers on all three methods in the miniature
# world.
#
# ## Exercises
#
# 1. **Full strength.** What does imprint do to the sound under a black pixel
#    at strength 1? Predict it from the formula, then check with `imprint` on
#    a black picture.
#
# ```{admonition} Answer
# :class: dropdown
# $1 - 1 \cdot (1 - 0) = 0$: the spectrogram picture becomes 0 there, the
# bottom of Auffusion's range ($\ln 10^{-5}$), which is silence. Strength 1
# cuts the picture's dark parts out of the sound entirely. The hidden cell
# below checks it.
# ```

# %% tags=["hide-input"]
black = np.zeros_like(spectrogram)
carved = imprint(spectrogram, black, 1.0)
print("largest value left under a black picture at strength 1:",
      float(carved.max()))
assert carved.max() == 0

# %% [markdown]
# 2. **Imprint only takes away.** Can imprint make a sound where the
#    recording is silent? Check whether any pixel of an imprint from the
#    strength sweep is brighter than the recording's own spectrogram.
#
# ```{admonition} Answer
# :class: dropdown
# No: the factor $1 - s\,(1 - \text{picture})$ lies between $1 - s$ and 1,
# so imprint can only dim. Where the audio expert drew silence, no picture
# can appear, which is why imprinted pictures vanish in quiet passages. The
# joint sampler has no such limit: both experts shape every pixel. The hidden
# cell below compares the two at strength 0.9.
# ```

# %% tags=["hide-input"]
dimmed = imprint(spectrogram, photo, 0.9)
print("imprint brightened some pixel:",
      bool((dimmed > spectrogram + 1e-7).any()))

# %% [markdown]
# 3. **Let the judges compare.** Score the imprint, the joint sample and the
#    SDS canvas of this page with the world's judges (`world.load_judges()`
#    and its `score`). Which method do both judges accept?
#
# ```{admonition} Answer
# :class: dropdown
# The hidden cell below prints the scores. One sample each is an anecdote;
# chapter 7 scores every method over many prompt pairs and seeds, with
# intervals, and finds the joint sampler ahead on the share that both judges
# accept.
# ```

# %% tags=["hide-input"]
judges = world.load_judges()
methods = {"imprint": printed, "joint": joint, "SDS": sds}
for name, scores in zip(methods, judges.score(list(methods.values())),
                        strict=True):
    print(f"{name}: picture {scores['picture_score']:.1f}, "
          f"sound {scores['sound_score']:.1f} ({judges.unit})")
