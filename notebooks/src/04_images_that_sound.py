# %% [markdown]
# # Images that sound
#
# Here is the method of {cite:t}`chen2024images`, end to end. One latent, two
# experts: an image model and an audio model that share a latent space. At every step
# both predict the noise, the sampler averages the two guesses, and one DDIM step
# follows. At the end the latent is decoded twice, as a picture and as a
# spectrogram, and the spectrogram is played.
#
# With a GPU and the Hugging Face hub (Colab), the experts are **Stable Diffusion
# 1.5** {cite:p}`rombach2022high` and **Auffusion** {cite:p}`xue2024auffusion`, which
# was fine-tuned from Stable Diffusion on spectrograms, so the two read the same
# latents. Everywhere else (and on the published page) they are the **miniature**
# experts: a small image model and a small audio model fine-tuned from it, trained by
# this project on procedural pictures and sounds, whose prompts are class names.

# %%
import matplotlib.pyplot as plt
import numpy as np

from itslib.viz import show
from itslib.worlds import load_world

world = load_world()  # the real models with a GPU and the hub, else the miniature ones
pipe = world.pipeline
print(world.drawn_by())
image_prompt, audio_prompt = world.examples[0]
print(f"image prompt: {image_prompt!r}   audio prompt: {audio_prompt!r}")

# %% [markdown]
# ## One sample
#
# The call below runs the paper's defaults: DDIM, 100 steps, guidance 10 for both
# experts, equal weights, and a 10% audio-only warm start (the image expert joins at
# step 10). That is 10 x 2 + 90 x 4 = 380 UNet evaluations.

# %%
(result,) = pipe(image_prompt, audio_prompt, seed=0, progress=False)
print("UNet evaluations:", result.params["unet_evaluations"],
      f"| {result.params['seconds']:.1f} s on {result.params['device']}")
fig, axes = plt.subplots(1, 2, figsize=(14, 2.6))
axes[0].imshow(result.image, aspect="auto")
axes[0].set(title="decoded by the image model's VAE", xticks=[], yticks=[])
axes[1].imshow(result.spectrogram, cmap="gray", vmin=0, vmax=1, aspect="auto")
axes[1].set(title="decoded by the audio model's VAE: the spectrogram", xticks=[], yticks=[])
plt.show()
show(result)

# %% [markdown]
# Press play: the red line follows the sound across the picture. Dark regions are
# silence, bright strokes are sound; where the picture has an edge, the sound has an
# onset or a held tone.
#
# ## Each expert alone
#
# The two limits of the same sampler: `audio_weight=0` (and no warm start) is plain
# image generation, `audio_weight=1` plain audio generation. Neither is an image that
# sounds: the picture plays as noise, the spectrogram looks like stripes.

# %%
(image_only,) = pipe(image_prompt, audio_prompt, audio_weight=0.0, image_start=0.0, seed=0,
                     progress=False)
(audio_only,) = pipe(image_prompt, audio_prompt, audio_weight=1.0, seed=0, progress=False)
fig, axes = plt.subplots(3, 1, figsize=(10, 6.5))
for ax, (name, r) in zip(axes, [("image expert alone", image_only), ("joint", result),
                                ("audio expert alone", audio_only)], strict=True):
    ax.imshow(r.spectrogram, cmap="gray", vmin=0, vmax=1, aspect="auto")
    ax.set(title=name, xticks=[], yticks=[])
plt.tight_layout()
plt.show()
show(image_only, "image expert alone, played as sound")

# %%
show(audio_only, "audio expert alone")

# %% [markdown]
# ## The paper's example prompts, and many seeds
#
# Success depends on the seed, so the paper's authors drew many samples and kept the
# best. We draw several seeds for a few prompt pairs and let two judges pick: a
# picture judge that looks at the spectrogram and a sound judge that listens to the
# vocoded audio (CLIP and CLAP for the real models, the miniature world's two
# classifiers otherwise; the world hands us its own). `rerank` keeps the samples in
# the top fraction by both.
# (50 steps here instead of 100, to keep the page quick; chapter 7 shows that DDIM
# loses little.)

# %%
from itslib.metrics import rerank

judges = world.load_judges()
best = []
for image_prompt, audio_prompt in world.examples[1:3]:
    samples = pipe(image_prompt, audio_prompt, num_samples=world.rerank_seeds, seed=100,
                   steps=50, progress=False)
    scores = judges.score(samples)
    picture_scores = [s["picture_score"] for s in scores]
    sound_scores = [s["sound_score"] for s in scores]
    top = rerank(picture_scores, sound_scores, top_fraction=0.5, by="both")[0]
    print(f"{image_prompt!r} + {audio_prompt!r}: best seed {samples[top].params['seed']} "
          f"({judges.unit}: picture {picture_scores[top]:.1f}, sound {sound_scores[top]:.1f}); "
          f"all seeds: picture {np.round(picture_scores, 1)}, sound {np.round(sound_scores, 1)}")
    best.append(samples[top])

# %%
for r in best:
    display(show(r))  # noqa: F821 (IPython's display)

# %% [markdown]
# Some pairs work for most seeds; some never do. The paper's advice holds in both
# worlds: simple visual prompts, continuous sounds, and style words that invite dark
# backgrounds ("lithograph", "black background"), because silence has to come from
# somewhere. The next chapter opens the sampler up and watches the two experts
# negotiate, step by step.
