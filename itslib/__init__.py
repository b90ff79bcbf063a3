"""itslib: images that sound.

A spectrogram that looks like a picture and sounds like a sound, made by denoising
one latent with an image diffusion model and an audio diffusion model at once
(Chen, Geng and Owens, 2024).

Start with :mod:`itslib.sampler` (the product-of-experts loop), :mod:`itslib.pipeline`
(prompts in, results out) and :mod:`itslib.worlds` (the real models or the miniature
ones); each module is small enough to read in one sitting, and the book's chapters call
them.
"""

__version__ = "0.1.0"
