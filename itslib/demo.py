"""The spectrogram demo: a sound drawn as a picture, and a picture played as a sound."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from itslib import audio, files
from itslib._io import check_output_folder, staged_folder, write_png


def example_sound(seconds: float = 4.0, sample_rate: int = 16000) -> np.ndarray:
    """A bell-like arpeggio over a rising whistle: easy to see and to hear.

    Four struck notes with inharmonic partials and exponential decay, plus a
    sine glide from 500 Hz to 3 kHz. Returns float32 (seconds * sample_rate,).
    """
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wav = np.zeros_like(t)
    for k, f0 in enumerate((440.0, 554.4, 659.3, 880.0)):
        onset = k * seconds / 4
        local = np.clip(t - onset, 0, None)
        envelope = np.where(t >= onset, np.exp(-3.0 * local), 0.0)
        for ratio, gain in ((1.0, 1.0), (2.76, 0.5), (5.4, 0.25)):
            wav += gain * envelope * np.sin(2 * np.pi * f0 * ratio * local)
    glide = 500 * (6.0 ** (t / seconds))
    wav += 0.3 * np.sin(2 * np.pi * np.cumsum(glide) / sample_rate)
    return audio.peak_normalize(wav.astype(np.float32))


def run_demo(
    out: str | os.PathLike,
    sound: str | os.PathLike | None = None,
    picture: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write the demo's files into the folder ``out`` and return their paths.

    - ``spectrogram.png``: the Auffusion spectrogram picture of a sound (the example
      sound, or the file ``sound``), low frequencies at the bottom;
    - ``audio.wav``: that picture played back through Griffin-Lim;
    - with ``picture``: ``picture_spectrogram.png`` and ``picture_sound.wav``, the
      picture file played as a sound (the naive spectrogram art).

    Every input is read and checked before anything is written. The files are written
    into a temporary folder beside ``out`` that then replaces ``out`` whole, so no
    stale or partial files remain; an existing non-empty ``out`` is refused unless
    ``overwrite``. A sound longer than Auffusion's canvas (1024 frames, 10.24 s) is cut
    to it; that, resampling, mixing down and a silent sound (a blank spectrogram, a
    silent ``audio.wav``) are said by :func:`itslib.files.load_audio`.
    """
    config = audio.AUFFUSION
    folder = check_output_folder(out, name="out", overwrite=overwrite, allow_empty=True)
    canvas = config.seconds(audio.AUFFUSION_CANVAS[1])  # the longest sound it draws
    wav = example_sound() if sound is None else files.load_audio(sound, config.sample_rate,
                                                                 at_most=canvas)  # fmt: skip
    gray = None if picture is None else files.load_picture(picture, height=config.n_mels)
    spectrogram = audio.logmel_to_picture(audio.wav_to_logmel(wav, config), config)
    arrays = {
        "spectrogram": ("spectrogram.png", spectrogram),
        "audio": ("audio.wav", audio.picture_to_sound(spectrogram, config)),
    }
    if gray is not None:
        arrays["picture_spectrogram"] = ("picture_spectrogram.png", gray)
        arrays["picture_sound"] = ("picture_sound.wav", audio.picture_to_sound(gray, config))
    with staged_folder(folder, name="out") as staging:
        for filename, array in arrays.values():
            if filename.endswith(".png"):
                write_png(staging / filename, array)
            else:
                files.write_wav(staging / filename, array, config.sample_rate)
    return {key: folder / filename for key, (filename, _) in arrays.items()}
