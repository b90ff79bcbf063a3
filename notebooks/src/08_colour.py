# %% [markdown]
# # Colour
#
# A spectrogram is gray. The paper colours its results with **Factorized Diffusion**
# {cite:p}`geng2024factorized`: split a colour picture into a grayscale part and a
# colour part,
#
# $$ x = \underbrace{\operatorname{gray}(x)}_{\text{the spectrogram}} +
#        \underbrace{\big(x - \operatorname{gray}(x)\big)}_{\text{generated}},
#    \qquad \operatorname{gray}(x) = \tfrac13 (x_R + x_G + x_B), $$
#
# and let a pixel diffusion model (DeepFloyd IF {cite:p}`deepfloyd2023if`, prompt
# "a colorful photo of ...") generate only the colour part: at every step, the noisy
# picture's grayscale part is replaced by the spectrogram noised to the same level.
# The result still plays as the same sound, because its grayscale *is* the
# spectrogram.
#
# IF is large (its T5 text encoder alone is about 9.5 GB in fp16) and gated, so the
# colourisation runs only in the real world, with a GPU and a Hugging Face login.
# Everywhere else this page shows the factorisation itself, which is exact
# arithmetic. The first line printed below names the world that drew the page.

# %% tags=["skip-execution"]
# DeepFloyd IF is gated. Logged in on huggingface.co, accept the licence
# on the pages of DeepFloyd/IF-I-M-v1.0 and DeepFloyd/IF-II-M-v1.0,
# then log in here with a token from huggingface.co/settings/tokens.
from huggingface_hub import login

login()

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

from itslib.colorize import exact_projection
from itslib.worlds import load_world

world = load_world(quiet=True)  # ITSLIB_WORLD if set; real with a GPU
print(world.drawn_by())
image_prompt, audio_prompt = world.examples[0]
(result,) = world.pipeline(image_prompt, audio_prompt, seed=0,
                           progress=False)
spectrogram = result.spectrogram

# %% [markdown]
# ## The factorisation, exactly
#
# Take any colour picture, here the image model's own decode of the same latent
# with a colour wash, and swap its grayscale part for the spectrogram. The colour
# part survives, the grayscale becomes the spectrogram exactly (up to the clipping
# into [0, 1] that `exact_projection` handles by toning the colour down where needed).

# %%
height, width = spectrogram.shape
ramp = np.linspace(0, 1, width)[None, :, None]
wash = np.concatenate([ramp, 1 - ramp, np.full_like(ramp, 0.5)], axis=2)
colour_source = np.clip(0.6 * wash + 0.4 * result.image, 0, 1)
source = torch.from_numpy(colour_source).permute(2, 0, 1)[None].float()
gray = torch.from_numpy(spectrogram)[None, None].float()
coloured = exact_projection(source, gray)[0].permute(1, 2, 0).numpy()
error = np.abs(coloured.mean(axis=-1) - spectrogram).max()
print(f"largest |gray(coloured) - spectrogram| = {error:.2e}")

fig, axes = plt.subplots(3, 1, figsize=(9, 6.6))
titles = ("a colour picture", "the spectrogram",
          "its colour part + the spectrogram as grayscale")
for ax, picture, title in zip(axes, (colour_source, spectrogram, coloured),
                              titles, strict=True):
    ax.imshow(picture, cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set(xticks=[], yticks=[])
    ax.set_title(title, loc="left", fontsize=11)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Colourising with DeepFloyd IF (GPU)
#
# In the real world, the cell below frees the joint sampler's models, loads IF stage I
# and II (fp16 with model CPU offload on a GPU: only the part that works sits on the
# GPU, so a free 15 GB Colab T4 is enough; T5-XXL alone is about 9.5 GB in fp16),
# colours the sample ("a colorful photo of ..." built from the image prompt; 30
# steps, guidance 10, starting at step 7 from the noised gray picture) and checks the
# grayscale invariant on every pixel.

# %%
why_not = world.colorizer_unavailable()
if why_not:
    print(f"Skipped: {why_not}")
else:
    from itslib.colorize import colorize, free_gpu_memory, load_colorizer

    world.pipeline = None  # the sampler's models leave the GPU first
    free_gpu_memory()
    fitted = spectrogram[:, : spectrogram.shape[1] // 32 * 32]
    colour = colorize(fitted, image_prompt, colorizer=load_colorizer())
    gray = spectrogram[:, : colour.shape[1]]
    drift = np.abs(colour.mean(-1) - gray).max()
    print("grayscale invariant holds:", bool(drift <= 1 / 255))
    plt.figure(figsize=(12, 3))
    plt.imshow(colour, aspect="auto")
    plt.axis("off")
    plt.show()
