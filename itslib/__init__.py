"""itslib: images that sound.

A spectrogram that looks like a picture and sounds like a sound, made by denoising
one latent with an image diffusion model and an audio diffusion model at once
(Chen, Geng and Owens, 2024).

Modules, each small enough to read in one sitting:

- :mod:`itslib.audio`: the Auffusion spectrogram, Griffin-Lim and the HiFi-GAN vocoder.
"""

__version__ = "0.1.0"
