# %% [markdown]
# # Inside the sampler
#
# The previous chapter showed what comes out. This one records every step of one
# sample (`capture=True`) and decodes what the sampler holds: the noisy latent
# $x_t$, the clean latent it predicts, and, separately, what **each** expert would
# predict on its own. Where the two experts' predictions differ is where they are
# negotiating; watching that disagreement shrink is watching the intersection of two
# distributions being found.

# %%
import io

import matplotlib.pyplot as plt
import torch
from IPython.display import Image
from PIL import Image as PILImage

from itslib.pipeline import make_scheduler
from itslib.sampler import predicted_x0
from itslib.viz import show, to_rgb8
from itslib.worlds import load_world

world = load_world()
pipe = world.pipeline
print(world.drawn_by())
image_prompt, audio_prompt = world.examples[0]
(result,) = pipe(image_prompt, audio_prompt, seed=0, capture=True, progress=False)
steps = result.trajectory
print(f"{len(steps)} steps recorded; step 0 evaluated {sorted(steps[0].noise)}, "
      f"step 50 evaluated {sorted(steps[50].noise)}")
show(result)

# %% [markdown]
# ## What each expert believes
#
# Every record holds each active expert's guided noise estimate. Turning a noise
# estimate into a clean-latent estimate is one line,
# $\hat x_0 = (x_t - \sqrt{1-\bar\alpha_t}\,\hat\epsilon)/\sqrt{\bar\alpha_t}$
# (`itslib.sampler.predicted_x0`), so we can decode what the image expert thinks the
# final latent is, what the audio expert thinks, and what their average leads to.

# %%
scheduler = make_scheduler("ddim", pipe.image_expert.scheduler_config)


def beliefs(step):
    """Each active expert's predicted clean latent at this step."""
    return {name: predicted_x0(scheduler, step.x_t, eps, step.t)
            for name, eps in step.noise.items()}


def as_spectrogram(latent):
    return pipe.audio_expert.decode(latent)[0].mean(dim=0).numpy()


shown = [0, 5, 10, 15, 25, 50, 99]
rows = ["x_t (noisy latent)", "image expert's x0", "audio expert's x0", "mixed x0", "disagreement"]
fig, axes = plt.subplots(len(rows), len(shown), figsize=(12, 7.5))
for col, i in enumerate(shown):
    step = steps[i]
    belief = beliefs(step)
    pictures = [as_spectrogram(step.x_t),
                as_spectrogram(belief["image"]) if "image" in belief else None,
                as_spectrogram(belief["audio"]), as_spectrogram(step.x0)]
    gap = None
    if "image" in belief:
        gap = (belief["image"] - belief["audio"]).abs().mean(dim=1)[0].numpy()
    for row, picture in enumerate([*pictures, gap]):
        ax = axes[row, col]
        ax.set(xticks=[], yticks=[])
        if picture is None:
            ax.text(0.5, 0.5, "not evaluated\n(warm start)", ha="center", va="center", fontsize=8)
            continue
        cmap, limits = ("magma", {}) if row == 4 else ("gray", {"vmin": 0, "vmax": 1})
        ax.imshow(picture, cmap=cmap, aspect="auto", **limits)
    axes[0, col].set_title(f"step {i} (t = {step.t})")
for row, name in enumerate(rows):
    axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the columns left to right. During the warm start only the audio expert is
# asked, and its belief sets the coarse layout of the spectrogram. When the image
# expert joins (step 10), its belief and the audio expert's are different pictures;
# the magma row shows where they disagree (mean absolute difference of the two
# predicted latents). The mixed prediction sits between them, and each DDIM step
# commits a little of it. By the last steps both experts predict nearly the same
# latent: the sample is one that both find plausible.
#
# ## Disagreement over time
#
# Two numbers per step: how far apart the two experts' clean-latent predictions are,
# and the cosine similarity of their noise estimates.

# %%
distance, cosine, index = [], [], []
for step in steps:
    if len(step.noise) == 2:
        belief = beliefs(step)
        distance.append(float((belief["image"] - belief["audio"]).pow(2).mean().sqrt()))
        a, b = step.noise["image"].flatten(), step.noise["audio"].flatten()
        cosine.append(float(torch.nn.functional.cosine_similarity(a, b, dim=0)))
        index.append(step.index)
fig, axes = plt.subplots(1, 2, figsize=(12, 3))
axes[0].plot(index, distance)
axes[0].set(xlabel="step", ylabel="RMS distance", title="image vs audio expert: predicted x0")
axes[1].plot(index, cosine)
axes[1].set(xlabel="step", ylabel="cosine", title="image vs audio expert: noise estimates")
plt.tight_layout()
plt.show()

# %% [markdown]
# Early on, the two noise estimates point in nearly the same direction (most of
# $x_t$ is noise, and both experts see the same noise) while their clean-latent
# beliefs differ a lot. Later the noise estimates decorrelate, because each expert
# now wants different *details*, but the beliefs converge: what is left to decide is
# small.
#
# ## The animation
#
# The mixed clean-latent prediction, decoded as a spectrogram, at every other step.

# %%
frames = [PILImage.fromarray(to_rgb8(as_spectrogram(step.x0))) for step in steps[::2]]
frames = [f.resize((3 * f.width, 3 * f.height), PILImage.Resampling.NEAREST) for f in frames]
buffer = io.BytesIO()
frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=80,
               loop=0)
Image(data=buffer.getvalue(), format="gif")
