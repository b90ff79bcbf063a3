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
from itslib.audio import AUFFUSION, SILENCE, MelConfig, _as_numpy, picture_to_sound
from itslib.checks import number, whole


def load_picture(
    path: str | os.PathLike, height: int, width: int | None = None, fill: float = 0.0
) -> np.ndarray:
    """Read an image file as a gray picture in [0, 1], shape (height, width), as a picture
    viewer shows it.

    Reading: the EXIF orientation is applied (a phone photo stands upright); 16-bit and
    32-bit integer pictures keep their depth (a 16-bit PNG reads as its 8-bit twin does,
    within 1/255); float pictures in [0, 1] are used as they are, others stretched to
    [0, 1]; colour (RGB, palette, CMYK, ...) becomes luminance (ITU-R 601, Pillow's
    ``convert("L")``); transparent parts become ``fill``; of an animated file, the first
    frame is used. What is not obvious is said in one printed line.

    Resize rule: scale to ``height`` rows keeping the aspect ratio; then, if ``width`` is
    given, centre-crop a wider picture or pad a narrower one on the right with ``fill``
    (0: black, silence as a spectrogram; 1: white, which leaves a sound untouched when
    imprinting). A crop that keeps less than half of the picture, or a pad of more than
    half of the canvas, is said.

    Raises ``FileNotFoundError`` (no such file) or ``ValueError`` (not a picture, too
    large to open safely, zero size, a bad argument), naming the file or parameter.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    whole(height, "height")
    if width is not None:
        whole(width, "width")
    if not (isinstance(fill, numbers.Real) and 0.0 <= fill <= 1.0):
        raise ValueError(f"fill={fill!r} must be in [0, 1] (0: black, 1: white).")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"picture file {str(path)!r} does not exist.")
    notes: list[str] = []
    try:
        with Image.open(path) as opened:
            frames = getattr(opened, "n_frames", 1)
            if frames > 1:
                notes.append(f"it has {frames} frames; the first is used")
            orientation = opened.getexif().get(EXIF_ORIENTATION, 1)
            upright = ImageOps.exif_transpose(opened)
            if orientation not in (1, None):
                notes.append(f"turned upright as its EXIF orientation ({orientation}) says")
            gray = _gray(upright, fill, notes)
    except Image.DecompressionBombError as err:
        raise ValueError(
            f"picture file {str(path)!r} is too large to open safely: {err} (the limit is "
            f"twice PIL.Image.MAX_IMAGE_PIXELS={Image.MAX_IMAGE_PIXELS}); shrink the picture "
            "first (a few thousand pixels a side is plenty)."
        ) from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(
            f"picture file {str(path)!r} is not an image PIL can read ({err})."
        ) from err
    if gray.size == 0:
        raise ValueError(f"picture file {str(path)!r} has zero size.")
    picture = _fit(gray, height, width, fill, notes)
    if notes:
        print(f"picture {os.path.basename(path)}: {'; '.join(notes)}.")
    return picture


EXIF_ORIENTATION = 0x0112  # the EXIF tag a camera sets when it held the sensor turned
INTEGER_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": None}


def _gray(image, fill: float, notes: list[str]) -> np.ndarray:
    """One opened frame as float32 gray in [0, 1] (see :func:`load_picture`)."""
    if image.mode in INTEGER_MODES or image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = INTEGER_MODES.get(image.mode)
        if image.mode == "I" and values.size and 0 <= values.min() and values.max() <= 65535:
            top = 65535  # Pillow reads 16-bit gray PNGs and TIFFs as 32-bit "I"
        if top is not None:
            return (values / top).astype(np.float32)
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        if image.mode == "F" and 0.0 <= low and high <= 1.0:
            return values.astype(np.float32)
        notes.append(f"its values span {low:g} to {high:g}; stretched to [0, 1]")
        return ((values - low) / max(high - low, 1e-12)).astype(np.float32)
    if image.mode == "1":
        image = image.convert("L")
    has_alpha = "A" in image.mode or "a" in image.mode or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
        luma = np.asarray(rgba.convert("L"), dtype=np.float32) / 255.0  # colour, alpha dropped
        if alpha.min() < 1.0:
            notes.append(f"its transparent parts read as {fill:g} "
                         f"({'white' if fill == 1 else 'black' if fill == 0 else 'gray'})")
        return luma * alpha + fill * (1.0 - alpha)
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")  # palette, CMYK, YCbCr, ...: Pillow's own conversion
    return np.asarray(image.convert("L") if image.mode != "L" else image, np.float32) / 255.0


def _fit(gray: np.ndarray, height: int, width: int | None, fill: float,
         notes: list[str]) -> np.ndarray:  # fmt: skip
    """Scale ``gray`` to ``height`` rows keeping its aspect; centre-crop or right-pad to
    ``width``. The crop is taken before resizing, so a 10000 x 10 strip never becomes a
    giant intermediate."""
    from PIL import Image

    rows, columns = gray.shape
    scaled = columns * height / rows  # the width after scaling to ``height``
    box = (0.0, 0.0, float(columns), float(rows))
    out_width = max(1, round(scaled))
    if width is not None and scaled > width:
        kept = width * rows / height  # source columns that fill the canvas
        left = (columns - kept) / 2
        box, out_width = (left, 0.0, left + kept, float(rows)), width
        if kept < columns / 2:
            notes.append(f"only the middle {100 * kept / columns:.2g}% of its width fits "
                         f"the {height} x {width} canvas")  # fmt: skip
    resized = Image.fromarray(gray.astype(np.float32)).resize(  # float32: Pillow's mode "F"
        (out_width, height), Image.Resampling.BICUBIC, box=box
    )
    picture = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    if width is not None and out_width < width:
        if out_width < width / 2:
            notes.append(f"it fills {100 * out_width / width:.2g}% of the canvas width; "
                         f"the rest is {fill:g}")  # fmt: skip
        picture = np.pad(picture, ((0, 0), (0, width - out_width)), constant_values=fill)
    return np.ascontiguousarray(picture)


def play_picture(path: str | os.PathLike, config: MelConfig = AUFFUSION, width: int | None = None):
    """The naive spectrogram art the paper starts from: a picture file played as sound.

    Returns ``(picture, waveform)``: the gray picture (n_mels, W) in [0, 1] and its
    Griffin-Lim waveform (W * hop,) at ``config.sample_rate``.
    """
    picture = load_picture(path, height=config.n_mels, width=width)
    return picture, picture_to_sound(picture, config)




def _check_seconds(seconds, sample_rate: int, name: str = "seconds") -> None:
    """``seconds`` must be None (the whole file) or a finite number > 0, at least a sample."""
    if seconds is None:
        return
    number(seconds, name, low=0, low_open=True, note="the length to cut (or pad) to; None "
           "keeps the whole file")  # fmt: skip
    if round(seconds * sample_rate) < 1:
        raise ValueError(f"{name}={seconds!r} is shorter than one sample at {sample_rate} Hz.")


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
    path: str | os.PathLike,
    sample_rate: int = AUFFUSION.sample_rate,
    seconds: float | None = None,
    at_most: float | None = None,
) -> np.ndarray:
    """Read an audio file as mono float32 (samples,) at ``sample_rate`` Hz.

    ``seconds`` (> 0): cut to that length or pad with silence to it (a canvas's length);
    ``at_most`` (> 0): cut a longer recording to that length, keep a shorter one as it is.
    Only what is kept is read and resampled, so a 10-minute file cut to a 10.24 s canvas
    costs what 10.24 s cost. What is lost or added on the way (channels mixed down, the
    rate changed, a cut, a pad) and a silent recording are said in one printed line.

    Raises ``FileNotFoundError`` for a missing file or a folder, and ``ValueError`` for a
    file that is not audio, holds no samples, or is truncated (fewer frames than its
    header says).
    """
    import librosa
    import soundfile as sf

    whole(sample_rate, "sample_rate")
    _check_seconds(seconds, sample_rate)
    _check_seconds(at_most, sample_rate, name="at_most")
    if os.path.isdir(path):
        raise FileNotFoundError(
            f"sound file {str(path)!r} is a folder, not an audio file; pass the path of a "
            "WAV, FLAC or OGG file (e.g. a sample folder's audio.wav)."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"sound file {str(path)!r} does not exist.")
    limit = seconds if seconds is not None else at_most
    try:
        with sf.SoundFile(str(path)) as f:
            rate, declared, log, channels = f.samplerate, f.frames, f.extra_info, f.channels
            wanted = declared if limit is None else min(declared, math.ceil(limit * rate) + 1)
            wav = f.read(frames=wanted, dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises its own error type for unknown formats
        raise ValueError(
            f"sound file {str(path)!r} is not an audio file soundfile can read (WAV, FLAC, "
            f"OGG), or it is damaged ({str(err).strip()})."
        ) from err
    shortfall = _wav_shortfall(path) or _logged_shortfall(log, wav.shape[0] / rate)
    if shortfall is None and wav.shape[0] < wanted:
        shortfall = declared / rate, wav.shape[0] / rate
    if shortfall is not None:
        raise ValueError(
            f"sound file {str(path)!r} is truncated: its header says {shortfall[0]:.2f} s but "
            f"it holds only {shortfall[1]:.2f} s (an interrupted download or copy?); "
            "use a complete copy of the file."
        )
    if wav.shape[0] == 0:
        raise ValueError(f"sound file {str(path)!r} holds no samples.")
    notes = [f"mixed down from {channels} channels"] if channels > 1 else []
    wav = wav.mean(axis=1)
    if rate != sample_rate:
        notes.append(f"resampled from {rate} Hz to {sample_rate} Hz")
        wav = librosa.resample(wav, orig_sr=rate, target_sr=sample_rate)
    length = declared / rate
    if limit is not None and length > limit + 0.5 / sample_rate:
        notes.append(f"cut to its first {limit:g} s of {length:.2f} s")
        wav = wav[: round(limit * sample_rate)]
    if seconds is not None and wav.size < round(seconds * sample_rate):
        notes.append(f"{length:.2f} s padded with silence to {seconds:g} s")
        wav = np.pad(wav, (0, round(seconds * sample_rate) - wav.size))
    if seconds is not None:
        wav = wav[: round(seconds * sample_rate)]  # resampling may round a sample over
    if float(np.abs(wav).max(initial=0.0)) <= SILENCE:
        notes.append("it is silent (peak at or below -80 dBFS): its spectrogram is blank")
    if notes:
        print(f"sound {os.path.basename(path)}: {'; '.join(notes)}.")
    return wav.astype(np.float32)


def audio_seconds(path: str | os.PathLike) -> float:
    """The length of an audio file in seconds, from its header (nothing is decoded)."""
    import soundfile as sf

    return float(sf.info(str(path)).duration)


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
