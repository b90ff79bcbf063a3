"""The reader's own files: pictures and recordings in, waveforms out.

- :func:`load_picture` reads an image file as a gray picture in [0, 1], resized to a
  spectrogram's height (and optionally cropped or padded to its width);
- :func:`play_picture` plays a picture file as a sound (the naive spectrogram art);
- :func:`load_audio` reads an audio file as mono float32 at a sample rate, with clear
  errors for missing, unreadable, empty and truncated files;
- :func:`write_wav` writes a waveform as 16-bit PCM WAV, atomically.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import struct

import numpy as np

from itslib._io import atomic_path
from itslib.audio import AUFFUSION, MelConfig, _as_numpy, picture_to_sound


def load_picture(
    path: str | os.PathLike, height: int, width: int | None = None, fill: float = 0.0
) -> np.ndarray:
    """Read an image file as a gray picture in [0, 1], shape (height, width).

    Resize rule: scale to ``height`` rows keeping the aspect ratio; then, if
    ``width`` is given, centre-crop a wider picture or pad a narrower one on the
    right with ``fill`` (0: black, silence as a spectrogram; 1: white, which leaves
    a sound untouched when imprinting).
    """
    from PIL import Image, UnidentifiedImageError

    _check_count(height, "height")
    if width is not None:
        _check_count(width, "width")
    if not (isinstance(fill, numbers.Real) and 0.0 <= fill <= 1.0):
        raise ValueError(f"fill={fill!r} must be in [0, 1] (0: black, 1: white).")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"picture file {str(path)!r} does not exist.")
    try:
        with Image.open(path) as opened:
            image = opened.convert("L")
    except Image.DecompressionBombError as err:
        raise ValueError(
            f"picture file {str(path)!r} is too large to open safely: {err} (the limit is "
            f"twice PIL.Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS}); shrink the picture "
            "first (a few thousand pixels a side is plenty)."
        ) from err
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(
            f"picture file {str(path)!r} is not an image PIL can read ({err})."
        ) from err
    if image.width == 0 or image.height == 0:
        raise ValueError(f"picture file {str(path)!r} has zero size.")
    scaled_width = max(1, round(image.width * height / image.height))
    image = image.resize((scaled_width, height), Image.Resampling.BICUBIC)
    picture = np.asarray(image, dtype=np.float32) / 255.0
    if width is not None:
        if scaled_width >= width:
            left = (scaled_width - width) // 2
            picture = picture[:, left : left + width]
        else:
            picture = np.pad(picture, ((0, 0), (0, width - scaled_width)), constant_values=fill)
    return np.ascontiguousarray(picture)


def play_picture(path: str | os.PathLike, config: MelConfig = AUFFUSION, width: int | None = None):
    """The naive spectrogram art the paper starts from: a picture file played as sound.

    Returns ``(picture, waveform)``: the gray picture (n_mels, W) in [0, 1] and its
    Griffin-Lim waveform (W * hop,) at ``config.sample_rate``.
    """
    picture = load_picture(path, height=config.n_mels, width=width)
    return picture, picture_to_sound(picture, config)


def _check_count(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name}={value!r} must be a whole number >= 1.")


def _check_seconds(seconds, sample_rate: int) -> None:
    """``seconds`` must be None (the whole file) or a finite number > 0."""
    if seconds is None:
        return
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, numbers.Real)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise ValueError(
            f"seconds={seconds!r} must be a finite number > 0 (the length to cut or pad "
            "to), or None to keep the whole file."
        )
    if round(seconds * sample_rate) < 1:
        raise ValueError(f"seconds={seconds!r} is shorter than one sample at {sample_rate} Hz.")


def _wav_shortfall(path: str | os.PathLike) -> tuple[float, float] | None:
    """For a RIFF WAV whose data chunk claims more bytes than the file holds, the
    (declared, present) durations in seconds; else None (not WAV, complete, or a
    streamed file's unknown-length placeholder)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None
        order = "<" if head[:4] == b"RIFF" else ">"
        size = os.fstat(f.fileno()).st_size
        bytes_per_second = block = 0
        for _ in range(64):
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            kind, length = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
            start = f.tell()
            if kind == b"fmt " and length >= 16:
                fmt = f.read(16)
                bytes_per_second, block = struct.unpack(order + "IH", fmt[8:14])
            elif kind == b"data":
                present = size - start
                if length >= 0x7FFFF000 or length - present < max(block, 1) or not block:
                    return None
                rate = max(bytes_per_second, 1)
                return length / rate, (present - present % block) / rate
            f.seek(start + length + (length & 1))
    return None


def _logged_shortfall(log: str, present: float) -> tuple[float, float] | None:
    """The same from libsndfile's header log for AIFF ('SSND : 32008 (should be 7967)')."""
    match = re.search(r"^\s*SSND\s*:\s*(\d+)\s*\(should be (\d+)\)", log, re.MULTILINE)
    if match is None:
        return None
    said, holds = int(match[1]), int(match[2])
    if said >= 0x7FFFF000 or said <= holds or holds <= 0:
        return None
    return present * said / holds, present


def load_audio(
    path: str | os.PathLike, sample_rate: int = AUFFUSION.sample_rate, seconds: float | None = None
) -> np.ndarray:
    """Read an audio file as mono float32 at ``sample_rate``; optionally cut or
    zero-pad to ``seconds`` (> 0).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that
    is not audio, holds no samples, or is truncated (fewer frames than its header says).
    """
    import librosa
    import soundfile as sf

    _check_count(sample_rate, "sample_rate")
    _check_seconds(seconds, sample_rate)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sound file {str(path)!r} does not exist.")
    try:
        with sf.SoundFile(str(path)) as f:
            rate, declared, log = f.samplerate, f.frames, f.extra_info
            wav = f.read(dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises its own error type for unknown formats
        raise ValueError(
            f"sound file {str(path)!r} is not an audio file soundfile can read (WAV, FLAC, "
            f"OGG), or it is damaged ({str(err).strip()})."
        ) from err
    shortfall = _wav_shortfall(path) or _logged_shortfall(log, wav.shape[0] / rate)
    if shortfall is None and wav.shape[0] < declared:
        shortfall = declared / rate, wav.shape[0] / rate
    if shortfall is not None:
        raise ValueError(
            f"sound file {str(path)!r} is truncated: its header says {shortfall[0]:.2f} s but "
            f"it holds only {shortfall[1]:.2f} s (an interrupted download or copy?); "
            "use a complete copy of the file."
        )
    wav = wav.mean(axis=1)
    if wav.size == 0:
        raise ValueError(f"sound file {str(path)!r} holds no samples.")
    if rate != sample_rate:
        wav = librosa.resample(wav, orig_sr=rate, target_sr=sample_rate)
    if seconds is not None:
        n = round(seconds * sample_rate)
        wav = np.pad(wav[:n], (0, max(0, n - wav.size)))
    return wav.astype(np.float32)


def write_wav(path: str | os.PathLike, wav, sample_rate: int = AUFFUSION.sample_rate) -> None:
    """Write a mono waveform as 16-bit PCM WAV, atomically (temporary file, then rename).

    Values are clipped to [-1, 1]. Raises ``ValueError`` for NaN/inf or wrong rank.
    """
    import soundfile as sf

    wav = _as_numpy(wav, "wav")
    if wav.ndim != 1 or wav.size == 0:
        raise ValueError(f"wav must be a non-empty mono waveform (samples,), got {wav.shape}.")
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(wav, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
