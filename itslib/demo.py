"""The spectrogram demo: a sound drawn as a picture, and a picture played as a sound."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from itslib import audio
from itslib._io import ensure_writable_folder, write_png


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
) -> dict[str, Path]:
    """Write the demo's files into ``out`` and return their paths.

    - ``spectrogram.png``: the Auffusion spectrogram picture of a sound (the example
      sound, or the file ``sound``), low frequencies at the bottom;
    - ``audio.wav``: that picture played back through Griffin-Lim;
    - with ``picture``: ``picture_spectrogram.png`` and ``picture_sound.wav``, the
      picture file played as a sound (the naive spectrogram art).
    """
    folder = ensure_writable_folder(out)
    config = audio.AUFFUSION
    wav = audio.load_audio(sound) if sound is not None else example_sound()
    logmel = audio.wav_to_logmel(wav, config)
    written = {"spectrogram": folder / "spectrogram.png", "audio": folder / "audio.wav"}
    write_png(written["spectrogram"], audio.logmel_to_picture(logmel, config))
    played = audio.picture_to_sound(audio.logmel_to_picture(logmel, config), config)
    audio.write_wav(written["audio"], played, config.sample_rate)
    if picture is not None:
        gray, picture_wav = audio.play_picture(picture, config)
        written["picture_spectrogram"] = folder / "picture_spectrogram.png"
        written["picture_sound"] = folder / "picture_sound.wav"
        write_png(written["picture_spectrogram"], gray)
        audio.write_wav(written["picture_sound"], picture_wav, config.sample_rate)
    return written
