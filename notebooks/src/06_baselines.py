# %% [markdown]
# # Baselines: imprint and SDS
#
# Is the joint sampler doing something a simpler method could not? The paper
# compares it with two baselines (Sec. 4.1):
#
# - **Imprint**: make a picture and a spectrogram separately, then carve the picture
#   into the spectrogram: dim the sound wherever the picture is dark. This is the
#   classic way spectrogram art is made by hand.
# - **SDS**: score distillation sampling {cite:p}`poole2022dreamfusion`, as in
#   Diffusion Illusions {cite:p}`burgert2023diffusion`: optimise a canvas so that both
#   models, asked "what noise do you see?", push it the same way.
#
# Both are implemented in `itslib.baselines` and run on either world.

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import cbook

from itslib import audio, files
from itslib.baselines import imprint, imprint_baseline
from itslib.demo import example_sound
from itslib.sds import sds_baseline
from itslib.viz import show
from itslib.worlds import load_world

world = load_world()
pipe = world.pipeline
print(world.drawn_by())
image_prompt, audio_prompt = world.examples[0]
height, width = pipe.canvas

# %% [markdown]
# ## Imprint
#
# $$ \text{result} = \text{spectrogram} \times \big(1 - s\,(1 - \text{gray picture})\big) $$
#
# With strength $s = 0.5$ a black pixel halves the sound, a white pixel leaves it
# alone. The spectrogram and the picture come from each expert alone (the paper:
# 50 steps for the picture, 100 for the spectrogram, guidance 7.5).

# %%
printed = imprint_baseline(pipe, image_prompt, audio_prompt, strength=0.5, seed=0)
(joint,) = pipe(image_prompt, audio_prompt, seed=0, progress=False)
fig, axes = plt.subplots(1, 3, figsize=(18, 2.4))
for ax, picture, title in zip(axes, (printed.image, printed.spectrogram, joint.spectrogram),
                              ("the image expert's picture", "imprinted into the audio "
                               "expert's spectrogram", "the joint sampler"), strict=True):
    ax.imshow(picture, cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set(title=title, xticks=[], yticks=[])
plt.show()
show(printed, "imprint")

# %%
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

# %%
mel = pipe.audio_expert.mel
with cbook.get_sample_data("grace_hopper.jpg") as photo_file:
    photo = files.load_picture(photo_file.name, height, width, fill=1.0)
recording = example_sound(seconds=mel.seconds(width))  # or files.load_audio("mine.wav", ...)
own = imprint_baseline(pipe, picture=photo, sound=recording, strength=0.7)
fig, axes = plt.subplots(1, 2, figsize=(14, 2.4))
axes[0].imshow(photo, cmap="gray", vmin=0, vmax=1, aspect="auto")
axes[1].imshow(own.spectrogram, cmap="gray", vmin=0, vmax=1, aspect="auto")
for ax, title in zip(axes, ("your picture", "imprinted into your recording"), strict=True):
    ax.set(title=title, xticks=[], yticks=[])
plt.show()
show(own, "a photograph imprinted into a recording")

# %% [markdown]
# The face shows only where the recording had energy: along the notes and the
# whistle. Strength trades the picture's visibility against the sound's fidelity:

# %%
spectrogram = audio.logmel_to_picture(audio.wav_to_logmel(recording, mel), mel)
fig, axes = plt.subplots(1, 4, figsize=(18, 2))
for ax, s in zip(axes, (0.0, 0.3, 0.6, 0.9), strict=True):
    ax.imshow(imprint(spectrogram, photo, s), cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set(title=f"strength {s}", xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## SDS
#
# SDS optimises a picture directly. The canvas is drawn by a small coordinate network
# (random Fourier features into three 1x1 convolutions, then a sigmoid), so it stays
# smooth. Each step, for each expert: encode the canvas, add noise at a random
# level $t \in [20, 980]$, ask the expert for the noise, and move the canvas along
# $w(t)\,(\hat\epsilon - \epsilon)$ with $w(t) = 1 - \bar\alpha_t$. The audio loss
# alone drives the first eighth of the steps (the warm start).
#
# The paper runs 40,000 steps with DeepFloyd IF as the image model (about two hours a
# sample on a large GPU). Here: a few hundred steps on the miniature models, or a few
# thousand with Stable Diffusion through its VAE in Colab, with a larger learning rate.
#
# To take the image loss from IF in pixel space, as the paper does (IF is gated: accept
# its licence on the hub and log in). Its T5-XXL text encoder has about 4.8 B
# parameters, 9.5 GB in fp16: on a GPU `load_if_expert` loads IF's fp16 files and keeps
# T5 in CPU memory except while it encodes the two prompts, once. By parameter counts
# (not measured here), that moment needs T5 beside the two experts' 4.3 GB: tight on a
# free 15 GB T4, comfortable on a 24 GB GPU. The rest of SDS needs far less.
#
# ```python
# from itslib.experts import load_if_expert
# settings = SDSSettings(image_crops=8, crop_resize=64)  # 8 random crops, resized to 64 x 64
# sds = sds_baseline(pipe, image_prompt, audio_prompt, settings, image_expert=load_if_expert())
# ```
#
# or from the command line, `python -m itslib sds --image-sds if ...`.

# %%
settings = world.sds_settings()  # mini: 300 steps; real: 2,000 through SD's VAE
print(f"SDS: {settings.steps} steps ({settings.audio_only_steps} audio only), "
      f"learning rate {settings.lr}, image guidance {settings.image_guidance}")
sds = sds_baseline(pipe, image_prompt, audio_prompt, settings, progress=False)
history = sds.extras["history"]
fig, axes = plt.subplots(1, 2, figsize=(14, 2.6), gridspec_kw={"width_ratios": [1, 2]})
for name in ("audio", "image"):
    steps = [i for i, h in enumerate(history) if name in h]
    axes[0].plot(steps, [history[i][name] for i in steps], label=f"{name} SDS loss", lw=0.8)
axes[0].set(xlabel="step", yscale="log", title="losses")
axes[0].legend()
strip = np.concatenate([np.pad(s, ((0, 0), (0, 4)), constant_values=1)
                        for s in sds.extras["snapshots"][::2]], axis=1)
axes[1].imshow(strip, cmap="gray", vmin=0, vmax=1, aspect="auto")
axes[1].set(title="the canvas every few steps, left to right", xticks=[], yticks=[])
plt.show()
show(sds, "SDS")

# %% [markdown]
# SDS tends to satisfy one model and neglect the other, and its canvases are blurry:
# score distillation averages over noise levels and so favours the mean of what the
# experts like. In the paper's human study (Table 2, seven hand-made prompt pairs,
# hand-picked samples) people preferred the joint sampler's results over SDS in
# 67.8-77.4% of comparisons and over imprint in 73.5-78.9%, depending on the
# question (audio quality, visual quality, alignment). The chapter on measuring puts
# numbers on all three methods in the miniature world.
