"""The spectrogram player and the playhead video."""

import re

import imageio_ffmpeg
import numpy as np

from itslib.viz import player_html, playhead_frames, write_video


def test_player_embeds_picture_sound_and_a_moving_playhead():
    picture = np.random.default_rng(0).uniform(size=(64, 256))
    html = player_html(picture, np.zeros(40960, dtype=np.float32), 16000, caption="a <b>test</b>")
    assert html.count("data:image/png;base64,") == 1
    assert html.count("data:audio/wav;base64,") == 1
    assert "timeupdate" in html and "currentTime / sound.duration" in html
    assert "a &lt;b&gt;test&lt;/b&gt;" in html  # captions are escaped
    ids = re.findall(r'id="(its-[0-9a-f]+)"', html)
    assert len(ids) == 1 and f'getElementById("{ids[0]}")' in html
    other = player_html(picture, np.zeros(1600, dtype=np.float32), 16000)
    assert re.findall(r'id="(its-[0-9a-f]+)"', other) != ids  # two players never clash


def test_playhead_sweeps_left_to_right():
    frames = list(playhead_frames(np.zeros((10, 41)), seconds=1.0, fps=10))
    assert len(frames) == 10 and frames[0].shape == (10, 40, 3)  # width made even
    columns = [int(np.argmax(f[0, :, 0])) for f in frames]
    assert columns == sorted(columns) and columns[0] <= 1 and columns[-1] >= 30


def test_video_has_the_sound_length(tmp_path):
    path = tmp_path / "v.mp4"
    wav = np.sin(np.arange(32000) / 16000 * 2 * np.pi * 440).astype(np.float32)
    write_video(path, np.random.default_rng(0).uniform(size=(64, 200)), wav, 16000)
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert abs(seconds - 2.0) < 0.15 and frames >= 45
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
