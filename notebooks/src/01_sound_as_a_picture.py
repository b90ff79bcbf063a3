# %% [markdown]
# # Sound as a picture
#
# A {term}`spectrogram` draws a sound as a picture: time runs left to right, pitch runs
# bottom to top, and brightness says how loud each pitch is at each moment. The
# paper this book follows {cite:p}`chen2024images` asks the reverse question: can a
# picture be made that *also* sounds like something? Before we get there, this
# chapter builds the exact spectrogram that the audio model Auffusion
# {cite:p}`xue2024auffusion` draws, and plays pictures back as sound.
#
# **Which world drew this page:** none of the diffusion models is needed here. Every
# figure is computed from signals made in the notebook; the HiFi-GAN vocoder is
# used only when its weights can be fetched from the Hugging Face hub (in Colab).

# %%
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Audio, display

from itslib import audio, files
from itslib.demo import example_sound

config = audio.AUFFUSION  # Auffusion's spectrogram settings
print(f"{config.sample_rate} Hz; window {config.win_length} samples, "
      f"hop {config.hop_length}; {config.n_mels} mel bins")

# %% [markdown]
# ## A sound
#
# Our test sound is four bell-like notes (each a few inharmonic partials that decay)
# over a whistle that glides upward. A waveform is just air pressure against time:
# 16,000 numbers a second.

# %%
wav = example_sound(seconds=4.0)
t = np.arange(wav.size) / config.sample_rate
fig, ax = plt.subplots(figsize=(9, 2))
ax.plot(t, wav, lw=0.3)
ax.set(xlabel="time (s)", ylabel="pressure", xlim=(0, t[-1]))
plt.show()
Audio(wav, rate=config.sample_rate)

# %% [markdown]
# ## From waveform to log-mel
#
# The short-time Fourier transform ({term}`STFT`) cuts the waveform into overlapping windows
# (1024 samples, one every 160 samples, i.e. 100 columns a second) and measures the
# strength of every frequency in each. The {term}`mel scale` then pools the 1025 linear
# frequency bins into 256 bands that are narrow at low pitch and wide at high pitch,
# roughly as our ears resolve pitch. Each band is a triangular filter:

# %%
basis = audio.mel_basis(config)
freqs = np.linspace(0, config.sample_rate / 2, basis.shape[1])
fig, ax = plt.subplots(figsize=(9, 2.2))
for band in range(0, config.n_mels, 16):
    ax.plot(freqs, basis[band], lw=0.8)
ax.set(xlabel="frequency (Hz)", ylabel="weight",
       title=f"every 16th of the {config.n_mels} mel filters")
plt.show()

# %% [markdown]
# Finally the natural log, with a floor at $10^{-5}$ so silence does not go to
# $-\infty$. This is `wav_to_logmel`, and its result is the
# {term}`log-mel spectrogram`; one column is 10 ms of sound:
#
# $$ \text{logmel} = \ln \max(M\,|\mathrm{STFT}(x)|,\ 10^{-5}) $$

# %%
logmel = audio.wav_to_logmel(wav, config)
bins, frames = logmel.shape
print(f"log-mel: {bins} mel bins x {frames} frames")
print(f"{frames} frames x {config.hop_length} samples = "
      f"{config.seconds(frames)} s")

# %% [markdown]
# ## From log-mel to picture
#
# Auffusion draws the log-mel as an ordinary picture: the range
# $[\ln 10^{-5}, \ln 200]$ maps linearly to $[0, 1]$ (black to white), and the rows
# are flipped so that low frequencies sit at the bottom. Because it is a picture,
# Auffusion could start from Stable Diffusion's weights; that shared starting point
# is what makes *images that sound* possible.

# %%
picture = audio.logmel_to_picture(logmel, config)
fig, ax = plt.subplots(figsize=(9, 3))
ax.imshow(picture, cmap="gray", aspect="auto",
          extent=(0, t[-1], 0, config.n_mels))
ax.set(xlabel="time (s)", ylabel="mel bin",
       title="the Auffusion spectrogram picture")
plt.show()

# %% [markdown]
# You can see the struck notes (bright horizontal lines that fade), their partials
# stacked above them, the whistle's rising curve (the mel scale bends a straight
# glide in hertz), and thin vertical lines where each note starts abruptly.
#
# The mapping is exactly invertible inside its range, so nothing is lost between
# the two forms:

# %%
back = audio.picture_to_logmel(picture, config)
low, high = np.log(config.log_floor), np.log(config.log_ceiling)
inside = (logmel > low) & (logmel < high)
error = np.abs(back - logmel)[inside].max()
print(f"largest round-trip error inside the range: {error:.1e}")

# %% [markdown]
# ## From picture back to sound
#
# A spectrogram keeps each frequency's strength but throws away its *phase*.
# {term}`Griffin-Lim` {cite:p}`griffin1984signal` guesses a phase that agrees with the
# magnitudes by alternating between the two domains. It is simple and needs no
# training; Auffusion's neural {term}`vocoder`, {term}`HiFi-GAN` {cite:p}`kong2020hifi`, sounds
# cleaner. We check either with the paper's *cycle consistency* test: vocode,
# re-analyse, and measure how far the new log-mel is from the one we asked for
# (mean absolute difference in nats; 0 would be perfect).

# %%
gl = audio.griffin_lim(logmel, config, n_iter=32)
error = audio.cycle_consistency(logmel, audio.griffin_lim, config)
print(f"Griffin-Lim cycle error: {error:.3f} nats")
Audio(gl, rate=config.sample_rate)

# %%
from itslib._hub import ModelUnavailableError
from itslib.hifigan import HiFiGAN
from itslib.worlds import real_model

try:  # Auffusion's vocoder/ folder (or $ITSLIB_AUDIO_MODEL's)
    hifigan = HiFiGAN.from_pretrained(real_model("audio"), mel=config)
except ModelUnavailableError:
    hifigan = None
    print("HiFi-GAN weights are not available here (no hub access): "
          "open this chapter in Colab to hear Auffusion's vocoder.")
if hifigan is not None:
    import torch

    with torch.inference_mode():
        hifi = hifigan(torch.from_numpy(logmel)[None])[0].numpy()
    error = audio.cycle_consistency(logmel, hifigan, config)
    print(f"HiFi-GAN cycle error: {error:.3f} nats")
    display(Audio(hifi, rate=config.sample_rate))

# %% [markdown]
# ## Playing a photograph
#
# Artists hide pictures in music by painting them into the spectrogram. Let us do the
# naive version: take a photograph, read it as a spectrogram picture, and play it.

# %%
from matplotlib import cbook

with cbook.get_sample_data("grace_hopper.jpg") as photo_file:
    photo, photo_wav = files.play_picture(photo_file.name, config,
                                          width=400)
fig, ax = plt.subplots(figsize=(4, 2.6))
ax.imshow(photo, cmap="gray", aspect="auto")
ax.set(title="a photograph, read as a spectrogram", xticks=[], yticks=[])
plt.show()
Audio(photo_wav, rate=config.sample_rate)

# %% [markdown]
# It sounds like a hiss with a rumble: a broadband wash, nothing like a natural
# sound. A photograph is bright almost everywhere, so nearly every frequency is loud
# at once, while natural sounds are mostly silence with a few sharp structures
# (harmonic lines, onsets). The picture looks right and sounds wrong; the
# spectrogram of a real sound sounds right and looks like stripes. *Images that
# sound* look for pictures that do both, and the next chapters build the tool that
# finds them: two diffusion models denoising one canvas together.
