"""Figures and players: the spectrogram with a moving playhead, as a video."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from itslib import audio, files
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
        files.write_wav(wav_path, waveform, sample_rate)
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


# --- the spectrogram player (HTML + JS, no server) ----------------------------------------


def png_base64(picture) -> str:
    """A picture in [0, 1] ((H, W) or (H, W, 3)) as base64 PNG text."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(to_rgb8(picture)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def wav_base64(waveform, sample_rate: int) -> str:
    """A waveform as base64 16-bit WAV text (peak-normalised, so quiet samples are heard)."""
    import base64
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, audio.peak_normalize(waveform), sample_rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode()


PLAYER_TEMPLATE = """
<div class="its-player" id="{uid}" style="max-width:{max_width}px;margin:0.5em 0">
  <div style="position:relative;line-height:0">
    <img src="data:image/png;base64,{png}" alt="{alt}"
         style="width:100%;image-rendering:pixelated;border:1px solid #888"/>
    <div class="its-playhead" style="position:absolute;top:0;bottom:0;left:0%;width:2px;
         background:#e33;pointer-events:none"></div>
  </div>
  <audio controls preload="auto" style="width:100%" src="data:audio/wav;base64,{wav}"></audio>
  <div style="font-size:0.85em;color:#666">{caption}</div>
</div>
<script>
(function() {{
  const root = document.getElementById("{uid}");
  const sound = root.querySelector("audio");
  const head = root.querySelector(".its-playhead");
  function place() {{
    const share = sound.duration > 0 ? sound.currentTime / sound.duration : 0;
    head.style.left = (100 * Math.min(1, share)) + "%";
  }}
  function follow() {{ place(); if (!sound.paused) requestAnimationFrame(follow); }}
  sound.addEventListener("play", follow);
  sound.addEventListener("timeupdate", place);
  sound.addEventListener("seeked", place);
}})();
</script>
"""


def player_html(
    picture, waveform, sample_rate: int, caption: str = "", max_width: int = 900
) -> str:
    """HTML for a spectrogram picture with a red playhead that moves while its sound plays.

    Self-contained (the picture and the sound are embedded), so it works in Jupyter,
    Colab and the built book without a server.
    """
    import html
    import uuid

    return PLAYER_TEMPLATE.format(
        uid=f"its-{uuid.uuid4().hex[:12]}",
        png=png_base64(picture),
        wav=wav_base64(waveform, sample_rate),
        alt=html.escape(caption or "spectrogram"),
        caption=html.escape(caption),
        max_width=max_width,
    )


def player(picture, waveform, sample_rate: int, caption: str = "", max_width: int = 900):
    """Display object (IPython HTML) of :func:`player_html`."""
    from IPython.display import HTML

    return HTML(player_html(picture, waveform, sample_rate, caption, max_width))


def show(result, caption: str | None = None, max_width: int = 900):
    """A :class:`~itslib.results.Result` as the player: its spectrogram and its sound."""
    params = result.params
    text = caption or " / ".join(
        str(params[k]) for k in ("image_prompt", "audio_prompt") if params.get(k)
    )
    return player(result.spectrogram, result.waveform, result.sample_rate, text, max_width)
