"""Figures and players: the spectrogram with a moving playhead, as a video."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from itslib import audio
from itslib._io import atomic_path


def to_rgb8(picture) -> np.ndarray:
    """(H, W) gray or (H, W, 3) colour in [0, 1] -> (H, W, 3) uint8."""
    array = np.asarray(picture, dtype=np.float32)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.round(np.clip(array, 0, 1) * 255).astype(np.uint8)


def playhead_frames(picture, seconds: float, fps: int = 25, scale: int = 1):
    """Yield video frames (H', W', 3) uint8: ``picture`` with a red playhead line
    sweeping left to right over ``seconds`` (H', W' made even for H.264)."""
    rgb = to_rgb8(picture)
    if scale > 1:
        rgb = rgb.repeat(scale, axis=0).repeat(scale, axis=1)
    height, width = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    rgb = rgb[:height, :width]
    count = max(1, round(seconds * fps))
    for frame in range(count):
        x = min(width - 1, int(frame / count * width))
        image = rgb.copy()
        image[:, max(0, x - 1) : x + 1] = (255, 40, 40)
        yield image


def write_video(
    path: str | os.PathLike, picture, waveform, sample_rate: int = 16000, fps: int = 25
) -> Path:
    """Write an MP4 of ``picture`` with a playhead moving in time with ``waveform``.

    ``picture``: the spectrogram (H, W) or a colour version (H, W, 3), in [0, 1].
    Uses the ffmpeg binary of the imageio-ffmpeg wheel; H.264 video, AAC audio.
    Written atomically.
    """
    import imageio_ffmpeg

    waveform = np.asarray(waveform, dtype=np.float32)
    seconds = waveform.size / sample_rate
    frames = list(
        playhead_frames(picture, seconds, fps, scale=2 if np.shape(picture)[0] < 128 else 1)
    )
    height, width = frames[0].shape[:2]
    path = Path(path)
    with tempfile.TemporaryDirectory() as scratch, atomic_path(path) as tmp:
        wav_path = Path(scratch) / "audio.wav"
        audio.write_wav(wav_path, waveform, sample_rate)
        command = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
            "-i", "-", "-i", str(wav_path),
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
            "-f", "mp4", str(tmp),
        ]  # fmt: skip
        result = subprocess.run(command, input=b"".join(f.tobytes() for f in frames),
                                capture_output=True, check=False)  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"ffmpeg failed: {result.stderr.decode(errors='replace')[-500:]}")
    return path
