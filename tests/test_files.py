"""Pictures from the wild load as a picture viewer shows them (itslib.files.load_picture):
16-bit and float files keep their depth, phone photos stand upright, transparency,
palettes, CMYK and animations are read and said, extreme shapes never blow up."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from itslib import files

TONE = 1 / 255  # one step of an 8-bit picture: what "the same picture" may differ by


def gradient(height: int = 32, width: int = 64) -> np.ndarray:
    """A left-to-right ramp with a bright square: orientation and depth both show."""
    ramp = np.tile(np.linspace(0.0, 1.0, width), (height, 1))
    ramp[2:10, 2:10] = 1.0
    return ramp


def save(tmp_path, name: str, image: Image.Image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_a_16_bit_png_reads_as_its_8_bit_twin(tmp_path, capsys):
    eight = save(tmp_path, "8.png", Image.fromarray(np.round(gradient() * 255).astype(np.uint8)))
    sixteen = save(tmp_path, "16.png",
                   Image.fromarray(np.round(gradient() * 65535).astype(np.uint16)))  # fmt: skip
    assert Image.open(sixteen).mode.startswith("I")  # really 16-bit on disk
    a, b = files.load_picture(eight, 32), files.load_picture(sixteen, 32)
    assert np.abs(a - b).max() <= TONE and b.mean() < 0.8  # not "almost pure white"
    assert capsys.readouterr().out == ""  # nothing worth saying


def test_a_32_bit_integer_tiff_of_16_bit_values_keeps_its_depth(tmp_path):
    values = np.round(gradient() * 65535).astype(np.int32)
    path = save(tmp_path, "deep.tif", Image.fromarray(values))
    assert Image.open(path).mode == "I"
    np.testing.assert_allclose(files.load_picture(path, 32), gradient(), atol=TONE)


def test_float_pictures_are_used_in_range_and_stretched_out_of_it(tmp_path, capsys):
    inside = save(tmp_path, "unit.tif", Image.fromarray(gradient().astype(np.float32)))
    np.testing.assert_allclose(files.load_picture(inside, 32), gradient(), atol=1e-6)
    assert capsys.readouterr().out == ""
    outside = save(tmp_path, "hdr.tif",
                   Image.fromarray((gradient() * 1000 - 500).astype(np.float32)))  # fmt: skip
    np.testing.assert_allclose(files.load_picture(outside, 32), gradient(), atol=1e-5)
    assert "span -500 to 500; stretched to [0, 1]" in capsys.readouterr().out


def test_a_phone_photo_stands_upright(tmp_path, capsys):
    """Stored 64 wide x 32 high with EXIF orientation 6 (the phone held upright): a viewer
    shows it 32 wide x 64 high, turned clockwise; so does load_picture."""
    stored = Image.fromarray(np.round(gradient() * 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = save(tmp_path, "phone.jpg", stored, exif=exif, quality=95)
    with Image.open(photo) as raw:  # the decoded pixels, turned as a viewer turns them
        shown = save(tmp_path, "shown.png", raw.transpose(Image.Transpose.ROTATE_270))
    picture = files.load_picture(photo, 64)
    assert picture.shape == (64, 32)
    np.testing.assert_allclose(picture, files.load_picture(shown, 64), atol=1e-6)
    assert "EXIF orientation (6)" in capsys.readouterr().out
    # the ramp now runs top to bottom, the bright square sits at the top right
    assert picture[:, 16].argmax() > 48 and picture[4, 26] > 0.9


@pytest.mark.parametrize("fill, name", [(1.0, "white"), (0.0, "black")])
def test_transparent_parts_read_as_fill(tmp_path, capsys, fill, name):
    rgba = np.zeros((32, 64, 4), np.uint8)
    rgba[..., :3] = 128
    rgba[:, :32, 3] = 255  # the left half opaque gray, the right half transparent
    path = save(tmp_path, "cutout.png", Image.fromarray(rgba))
    picture = files.load_picture(path, 32, fill=fill)
    assert abs(picture[:, :28].mean() - 128 / 255) <= TONE
    assert abs(picture[:, 36:].mean() - fill) <= TONE
    assert f"transparent parts read as {fill:g} ({name})" in capsys.readouterr().out


def test_palette_and_cmyk_pictures_read_as_their_gray(tmp_path):
    rgb = Image.fromarray(np.round(np.stack([gradient()] * 3, -1) * 255).astype(np.uint8))
    reference = files.load_picture(save(tmp_path, "rgb.png", rgb), 32)
    palette = save(tmp_path, "palette.png", rgb.convert("P", palette=Image.Palette.ADAPTIVE))
    cmyk = save(tmp_path, "cmyk.tif", rgb.convert("CMYK"))
    for path in (palette, cmyk):
        assert np.abs(files.load_picture(path, 32) - reference).max() <= 4 * TONE, path.name


def test_an_animation_gives_its_first_frame_and_says_so(tmp_path, capsys):
    frames = [Image.new("L", (64, 32), 0), Image.new("L", (64, 32), 255)]
    path = tmp_path / "blink.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    assert files.load_picture(path, 32).max() <= TONE  # black: the first frame
    assert "2 frames; the first is used" in capsys.readouterr().out


@pytest.mark.parametrize("size, note", [
    ((10000, 10), "only the middle 0.4% of its width fits the 64 x 256 canvas"),
    ((1000, 1), "only the middle 0.4% of its width fits"),
    ((10, 10000), "it fills 0.39% of the canvas width; the rest is 0"),
])  # fmt: skip
def test_extreme_shapes_fit_the_canvas_and_say_how(tmp_path, capsys, size, note):
    path = save(tmp_path, "strip.png", Image.new("L", size, 200))
    picture = files.load_picture(path, 64, 256)
    assert picture.shape == (64, 256) and picture.dtype == np.float32
    assert abs(picture.max() - 200 / 255) <= TONE
    assert note in capsys.readouterr().out


def test_an_ordinary_picture_is_cropped_and_padded_as_before(tmp_path, capsys):
    """Centre crop of a wide picture, right pad of a narrow one, nothing said when at
    least half is kept."""
    wide = save(tmp_path, "wide.png", Image.fromarray(np.round(gradient() * 255).astype(np.uint8)))
    cropped = files.load_picture(wide, 32, 48)
    assert cropped.shape == (32, 48)
    np.testing.assert_allclose(cropped[20], gradient()[20, 8:56], atol=2 * TONE)
    padded = files.load_picture(wide, 32, 80, fill=1.0)
    assert padded.shape == (32, 80) and (padded[:, 64:] == 1.0).all()
    assert capsys.readouterr().out == ""


# --- recordings: what is lost or added on the way is said ---------------------------------

RATE = 16000


def test_a_long_recording_is_read_only_as_far_as_the_canvas(tmp_path, capsys, monkeypatch):
    """A 3-minute 44.1 kHz file cut to a 10.24 s canvas: only the kept part is decoded and
    resampled (a 10-minute file took 341 s and 3.7 GB in `demo`)."""
    import librosa
    import soundfile as sf

    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(180 * 44100, np.int16), 44100, subtype="PCM_16")
    resampled = []
    real = librosa.resample
    monkeypatch.setattr(librosa, "resample",
                        lambda y, **kw: resampled.append(y.size) or real(y, **kw))  # fmt: skip
    wav = files.load_audio(path, RATE, seconds=10.24)
    assert wav.shape == (round(10.24 * RATE),)
    assert resampled and max(resampled) <= 10.24 * 44100 + 2
    said = capsys.readouterr().out
    assert "resampled from 44100 Hz to 16000 Hz; cut to its first 10.24 s of 180.00 s" in said
    assert "it is silent" in said


def test_channels_rate_pad_and_silence_are_said_and_nothing_else(tmp_path, capsys):
    import soundfile as sf

    t = np.arange(RATE) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "stereo.wav", np.stack([tone, tone], axis=1), RATE)
    sf.write(tmp_path / "plain.wav", tone, RATE)
    assert files.load_audio(tmp_path / "stereo.wav").shape == (RATE,)
    assert capsys.readouterr().out == "sound stereo.wav: mixed down from 2 channels.\n"
    assert files.load_audio(tmp_path / "plain.wav", seconds=1.0).shape == (RATE,)
    assert capsys.readouterr().out == ""  # nothing was changed: nothing to say
    padded = files.load_audio(tmp_path / "plain.wav", seconds=1.5)
    assert padded.shape == (round(1.5 * RATE),) and not padded[RATE:].any()
    assert "1.00 s padded with silence to 1.5 s" in capsys.readouterr().out
    kept = files.load_audio(tmp_path / "plain.wav", at_most=2.0)  # at most: never padded
    assert kept.shape == (RATE,) and capsys.readouterr().out == ""


def test_demo_cuts_a_long_recording_to_the_canvas(tmp_path, capsys):
    import soundfile as sf

    from itslib.demo import run_demo

    t = np.arange(30 * RATE) / RATE
    sf.write(tmp_path / "long.wav", 0.5 * np.sin(2 * np.pi * 440 * t), RATE)
    written = run_demo(tmp_path / "out", sound=tmp_path / "long.wav")
    assert "cut to its first 10.24 s of 30.00 s" in capsys.readouterr().out
    with Image.open(written["spectrogram"]) as picture:
        assert picture.size == (1024, 256)  # Auffusion's canvas, not 3,000 frames


def test_imprint_says_a_silent_recording_is_silent(tmp_path, capsys):
    import soundfile as sf

    from itslib.baselines import imprint_files

    sf.write(tmp_path / "quiet.wav", np.zeros(RATE), RATE)
    Image.new("L", (64, 256), 128).save(tmp_path / "photo.png")
    imprint_files(tmp_path / "photo.png", tmp_path / "quiet.wav", frames=64, n_iter=2)
    assert "sound quiet.wav: cut to its first 0.64 s of 1.00 s; it is silent" in \
        capsys.readouterr().out  # fmt: skip
