# %% [markdown]
# # Measuring it
#
# The paper backs its claims with numbers: {term}`CLIP scores <CLIP score>`
# {cite:p}`radford2021learning` for how much a spectrogram looks like its image
# prompt, {term}`CLAP scores <CLAP score>`
# {cite:p}`wu2023large` for how much its sound matches the audio prompt (Tables 1 and
# 3). This chapter shows how those judges work, then reproduces both tables in the
# miniature world, where judges are small classifiers: one looks at the spectrogram,
# the other *listens* to it through Griffin-Lim. It ends with a practical question:
# how few sampler steps can we get away with? (How fast the sampler runs on a CPU is
# measured in the appendix, {doc}`../book/speed`.)
#
# **Which world drew this page:** the tables come from the miniature world
# (`python -m itslib evaluate`, data in `itslib/mini/results/`); the judges' cell
# below names the world it ran in, and the CLIP/CLAP code runs only in the real
# world.

# %%
import json
from importlib.resources import files

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from itslib.audio import AUFFUSION_CANVAS
from itslib.evaluate import cheapest_within
from itslib.metrics import clip_windows
from itslib.viz import show
from itslib.worlds import load_world

results = files("itslib.mini") / "results"


def read(name, suffix):
    return results.joinpath(*f"{name}{suffix}".split("/")).read_text()


def table(name):
    """(settings, {variant: summary}) of a table in itslib/mini/results."""
    data = json.loads(read(name, ".json"))
    rows = {row["variant"]: row for row in data["summary"]}
    return data["settings"], rows


def show_table(name):
    display(Markdown(read(name, ".md")))


# %% [markdown]
# ## The judges
#
# **CLIP score.** CLIP sees square pictures, but in the real world a spectrogram
# is Auffusion's canvas, 256 x 1024. The paper slides a square window as tall as
# the canvas with stride 32 across it, scores each window against the image
# prompt, clamps negative cosines to zero and averages, times 100:

# %%
height, width = AUFFUSION_CANVAS
windows = clip_windows(height, width)
fig, ax = plt.subplots(figsize=(10, 2.8))
ax.set(xlim=(0, width), ylim=(0, height), yticks=[],
       title=f"{len(windows)} CLIP windows over a {height} x {width} "
       "spectrogram (every 4th drawn)")
shown = windows[::4]
for k, (x0, x1) in enumerate(shown):
    inset = 4 + 6 * k
    ax.add_patch(plt.Rectangle((x0, inset), x1 - x0, height - 2 * inset,
                               fill=False, color=plt.cm.viridis(k / 7)))
plt.show()

# %% [markdown]
# **CLAP score.** The vocoded audio is resampled to 48 kHz and peak-normalised, its
# CLAP embedding is compared with the audio prompt's, clamped at zero, times 100.
# With a GPU and the hub, `itslib.metrics.CLIPJudge` and `CLAPJudge` compute both for
# any `Result`:
#
# ```python
# from itslib.metrics import CLAPJudge, CLIPJudge, score_results
# scores = score_results(results, CLIPJudge.from_pretrained(), CLAPJudge.from_pretrained())
# ```
#
# **Miniature judges.** Two small CNNs trained on fresh procedural data: the picture
# judge classifies the spectrogram picture into the eight picture classes, the sound
# judge classifies the log-mel re-computed from the Griffin-Lim waveform into the
# eight sound classes. A sample is *accepted* when the prompted class gets p >= 0.5;
# we report the mean p and the share of samples **both** judges accept, each with a
# 95% interval (1.96 standard errors).
#
# Here are the judges at work on one joint sample (25 DDIM steps, at the guidance the
# world's tables use). Each judge is asked about every prompt its world knows: the
# eight classes of the miniature world (scores are p x 100, accepted at 50), or the
# example prompts of the real one (CLIP and CLAP scores). The prompt the sample was
# made for is in red.

# %%
world = load_world(quiet=True)  # ITSLIB_WORLD if set; real with a GPU
pipe = world.pipeline
print(world.drawn_by())
image_prompt, audio_prompt = world.examples[2]
guidance = world.table_guidance
(sample,) = pipe(image_prompt, audio_prompt, seed=0, steps=25,
                 image_guidance=guidance, audio_guidance=guidance,
                 progress=False)
display(show(sample))
judges = world.load_judges()
pictures = [sample.spectrogram] * len(world.image_prompts)
looks = judges.picture.score_pictures(pictures, world.image_prompts)
sounds = [sample.waveform] * len(world.audio_prompts)
hears = judges.sound.score_sounds(sounds, sample.sample_rate,
                                  world.audio_prompts)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
for ax, scores, prompts, prompt, title in (
    (axes[0], looks, world.image_prompts, image_prompt,
     "picture judge (looks)"),
    (axes[1], hears, world.audio_prompts, audio_prompt,
     "sound judge (listens)"),
):
    colours = ["C3" if p == prompt else "C0" for p in prompts]
    ax.bar(range(len(prompts)), scores, color=colours)
    labels = [p if len(p) <= 24 else p[:22] + "..." for p in prompts]
    ax.set_xticks(range(len(prompts)), labels, rotation=30, ha="right",
                  fontsize=8)
    if judges.threshold is not None:
        ax.axhline(judges.threshold, color="k", lw=0.6, ls="--")
    ax.set(title=title, ylim=(0, 100))
axes[0].set_ylabel(judges.unit)
plt.show()
look = looks[world.image_prompts.index(image_prompt)]
hear = hears[world.audio_prompts.index(audio_prompt)]
print(f"in red, the prompts it was made for: picture {look:.1f}, "
      f"sound {hear:.1f} ({judges.unit})")
if judges.threshold is not None:
    print(f"dashed line: acceptance at {judges.threshold:g}")

# %% [markdown]
# ## Table 1 in miniature: methods

# %%
settings, t1 = table("full/table1")
print(f"{settings['pairs']} class pairs x {settings['seeds']} seed(s), "
      f"{settings['steps']} DDIM steps, guidance {settings['guidance']}")
print(f"SDS: {settings['sds_steps']} optimisation steps on the first "
      f"{settings['sds_pairs']} pairs")
show_table("full/table1")

# %%
fig, ax = plt.subplots(figsize=(7, 5.2))
for name, row in t1.items():
    ax.errorbar(row["picture_score"], row["sound_score"],
                xerr=row["picture_score_ci"], yerr=row["sound_score_ci"],
                fmt="o", capsize=3,
                label=f"{name} (both accept: {row['both_accept']:.2f})")
ax.set(xlabel="picture judge p (looks)", ylabel="sound judge p (listens)",
       xlim=(0, 1), ylim=(0, 1),
       title="each method's samples, mean and 95% interval")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Each expert alone is accepted by its own judge most of the time and rarely by the
# other; that is the ceiling of each modality. The question is the column *both
# accept*: the share of samples that pass as the picture **and** as the sound. Is the
# joint sampler ahead of imprint there, with intervals that do not overlap?

# %%
def interval(row):
    return (row["both_accept"] - row["both_accept_ci"],
            row["both_accept"] + row["both_accept_ci"])


joint, printed = t1["joint"], t1["imprint"]
for name, row in (("joint", joint), ("imprint", printed)):
    low, high = interval(row)
    print(f"both accept, {name}: {row['both_accept']:.2f} "
          f"(95% interval {low:.2f} to {high:.2f})")
apart = interval(joint)[0] > interval(printed)[1]
print("the intervals", "do not overlap" if apart else "overlap")

# %% [markdown]
# The paper's Table 1 puts its method ahead of both baselines on CLIP and CLAP
# together. The miniature table says the same in its own terms: each expert alone is
# accepted by its own judge almost always and by the other judge rarely, imprint is
# heard as the sound but seldom seen as the picture, SDS finds next to nothing, and
# the joint sampler is the best row on *both accept*, with an interval far above
# imprint's. The last two rows run the joint sampler and imprint at guidance 15
# instead of the paper's 10 and 7.5: the sound judge likes the joint samples more,
# and the share both accept moves little for either method.
#
# Which pairs meet? Here is the share both judges accept, per pair of prompts:

# %%
from itslib.mini.world import PICTURE_CLASSES, SOUND_CLASSES

data = json.loads(results.joinpath("full", "table1.json").read_text())
share = np.zeros((len(PICTURE_CLASSES), len(SOUND_CLASSES)))
count = np.zeros_like(share)
for row in data["rows"]:
    if row["variant"] == "joint":
        i = PICTURE_CLASSES.index(row["image_prompt"])
        j = SOUND_CLASSES.index(row["audio_prompt"])
        share[i, j] += row["both_accept"]
        count[i, j] += 1
share = share / np.maximum(count, 1)
fig, ax = plt.subplots(figsize=(8, 5.6))
image = ax.imshow(share, cmap="viridis", vmin=0, vmax=1)
ax.set_xticks(range(len(SOUND_CLASSES)), SOUND_CLASSES, rotation=35,
              ha="right")
ax.set_yticks(range(len(PICTURE_CLASSES)), PICTURE_CLASSES)
ax.set(xlabel="sound prompt", ylabel="picture prompt",
       title="joint sampler: share both judges accept "
       f"({int(count.max())} seeds per pair)")
fig.colorbar(image, ax=ax, shrink=0.8)
plt.show()
for name, classes, axis in (("picture", PICTURE_CLASSES, 1),
                            ("sound", SOUND_CLASSES, 0)):
    means = share.mean(axis)
    best_first = ", ".join(f"{classes[k]} {means[k]:.2f}"
                           for k in means.argsort()[::-1])
    print(f"{name} prompts, best first: {best_first}")

# %% [markdown]
# The intersection is not spread evenly. Large structures that can also be a sound
# meet almost everything: wave crests and skyline towers become a bell's or a chord's
# partials, a siren's sweep, bird chirps or a row of drum beats. Smaller shapes on
# black (circles, stars, trees) meet the sounds that can fill a shape with their
# texture, such as a bell's or a chord's partials. Triangles meet almost nothing:
# their corners do not survive being a sound too, and the image expert alone draws
# them least well of all its classes. Among the sounds, rain meets the fewest
# pictures: it fills the whole canvas, so a shape can only be a dark cut-out. This
# is the paper's own observation in miniature: the method works when the two
# distributions overlap, and broad prompts overlap more than narrow ones. (The
# miniature world was built for that: its picture classes are told by their shapes
# whatever texture fills them, its sound classes by their texture wherever they sit.)
#
# ## Table 3 in miniature: warm start and guidance

# %%
settings3, t3 = table("table3")
show_table("table3")

# %% [markdown]
# The paper found (its Table 3) that warm-starting with one modality raises that
# modality's score and lowers the other's, and that higher guidance helped both. The
# miniature table shows the same trades in its means: an audio-first warm start
# raises the sound score and lowers the picture score, an image-first one raises the
# picture score and lowers the sound score. Guidance helps too, but less than in the
# paper: the share both judges accept climbs from guidance 3 to 15. These 16 class
# pairs are the first of the balanced order, with one seed each, so the intervals are
# wide: read it for directions, not decimals.
#
# ## Fewer steps, better solvers
#
# Every step costs two UNet calls per active expert. DPM-Solver++ is a higher-order
# solver that reaches a similar sample in fewer steps. Which setting is the cheapest
# whose scores stay within the intervals of 100-step DDIM?

# %%
settings_s, ts = table("steps")
show_table("steps")
best = cheapest_within(list(ts.values()))
print(f"cheapest setting within DDIM-100's intervals: {best['variant']}: "
      f"{best['evaluation_speedup']:.1f}x fewer UNet evaluations, "
      f"{best['seconds_speedup']:.1f}x faster per sample")

fig, ax = plt.subplots(figsize=(6, 3.5))
for key in ("picture_score", "sound_score", "both_accept"):
    xs = [row["unet_evaluations"] for row in ts.values()]
    ax.scatter(xs, [row[key] for row in ts.values()], label=key)
ax.set(xscale="log", xlabel="UNet evaluations per sample", ylabel="mean",
       ylim=(0, 1))
ax.legend()
plt.show()

# %% [markdown]
# Fewer steps are one road to cheaper samples. Batching and lower precision are
# two others that leave the samples almost untouched (a batched sample equals the
# one drawn alone up to rounding); the appendix {doc}`../book/speed` measures them.
