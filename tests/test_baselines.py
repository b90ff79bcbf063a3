"""Imprint and SDS, on tiny random SD-layout models and on the reader's own files."""

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from itslib import audio
from itslib.baselines import FourierCanvas, SDSSettings, imprint, imprint_baseline, sds_baseline
from itslib.experts import load_audio_expert, load_image_expert
from itslib.pipeline import ImagesThatSound

H, W = 256, 64


@pytest.fixture(scope="module")
def pipeline(tiny_repos):
    return ImagesThatSound(load_image_expert(tiny_repos[0]), load_audio_expert(tiny_repos[1]))


def test_imprint_arithmetic():
    rng = np.random.default_rng(0)
    spec = rng.uniform(size=(8, 16)).astype(np.float32)
    picture = rng.uniform(size=(8, 16)).astype(np.float32)
    np.testing.assert_array_equal(imprint(spec, picture, strength=0.0), spec)
    np.testing.assert_array_equal(imprint(spec, np.ones((8, 16))), spec)  # white: unchanged
    np.testing.assert_allclose(imprint(spec, np.zeros((8, 16)), 0.5), spec / 2)  # black: halved
    colour = np.stack([picture, picture * 0, picture * 2], axis=-1)  # channel mean = picture
    np.testing.assert_allclose(imprint(spec, colour, 0.7), imprint(spec, picture, 0.7), atol=1e-6)
    carved = imprint(spec, picture, 1.0)
    np.testing.assert_allclose(carved, spec * picture, atol=1e-6)


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_strength_outside_unit_interval(strength):
    with pytest.raises(ValueError, match=f"strength={strength} must be in"):
        imprint(np.zeros((4, 4)), np.zeros((4, 4)), strength)


def test_zero_size_or_mismatched_picture():
    with pytest.raises(ValueError, match="must match spectrogram shape"):
        imprint(np.zeros((4, 4)), np.zeros((0, 4)))


def test_imprint_generated(pipeline):
    result = imprint_baseline(pipeline, "a castle", "bell ringing", image_steps=3,
                              audio_steps=3, height=H, width=W, vocoder="griffin-lim")  # fmt: skip
    assert result.spectrogram.shape == (H, W) and result.image.shape == (H, W, 3)
    assert 0 <= result.spectrogram.min() and result.spectrogram.max() <= 1
    assert result.waveform.shape == (W * 160,)
    assert result.params["method"] == "imprint" and not result.params["own_picture"]


def test_imprint_own_files_of_odd_sizes(pipeline, tmp_path):
    pixels = (np.random.default_rng(1).uniform(size=(37, 91)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    t = np.arange(int(44100 * 0.3)) / 44100
    sf.write(tmp_path / "take.wav", np.stack([np.sin(2 * np.pi * 330 * t)] * 2, axis=1), 44100)
    picture = audio.load_picture(tmp_path / "photo.png", H, W, fill=1.0)
    sound = audio.load_audio(tmp_path / "take.wav", seconds=W * 160 / 16000)
    result = imprint_baseline(pipeline, picture=picture, sound=sound, strength=0.5,
                              height=H, width=W, vocoder="hifigan")  # fmt: skip
    assert result.spectrogram.shape == (H, W)
    assert result.waveform.shape == (W * 160,) and np.abs(result.waveform).max() <= 1
    # 91 x 37 scaled to height 256 is 630 wide, centre-cropped to 64.
    assert picture.shape == (H, W)
    # A narrow picture is padded with white, so the padding carves nothing.
    Image.fromarray(pixels[:, :5]).save(tmp_path / "narrow.png")
    narrow = audio.load_picture(tmp_path / "narrow.png", H, W, fill=1.0)
    assert narrow[:, 40:].min() == 1.0
    spec = audio.logmel_to_picture(audio.wav_to_logmel(sound))
    np.testing.assert_allclose(imprint(spec, narrow)[:, 40:], spec[:, 40:])


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        audio.load_picture(tmp_path / "missing.png", H, W)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="not an image"):
        audio.load_picture(tmp_path / "empty.png", H, W)
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(ValueError, match="not an audio file"):
        audio.load_audio(tmp_path / "notes.wav")


def test_imprint_needs_one_source_each(pipeline):
    with pytest.raises(ValueError, match="exactly one of image_prompt and picture"):
        imprint_baseline(pipeline, audio_prompt="bell ringing", height=H, width=W)


def test_fourier_canvas():
    canvas = FourierCanvas(16, 32, features=8, hidden=16, seed=0)
    picture = canvas()
    assert picture.shape == (1, 1, 16, 32)
    assert 0 < picture.min() and picture.max() < 1
    again = FourierCanvas(16, 32, features=8, hidden=16, seed=0)
    torch.testing.assert_close(again.frequencies, canvas.frequencies)


def test_sds_optimises_only_the_canvas(pipeline):
    experts = (pipeline.image_expert, pipeline.audio_expert)
    before = [{k: v.clone() for k, v in e.unet.state_dict().items()} for e in experts]
    image_calls = []
    hook = pipeline.image_expert.unet.register_forward_pre_hook(lambda m, a: image_calls.append(1))
    settings = SDSSettings(steps=6, audio_only_steps=3, lr=1e-2, height=H, width=W,
                           image_guidance=7.5, snapshot_every=2)  # fmt: skip
    try:
        result = sds_baseline(pipeline, "a castle", "bell ringing", settings,
                              vocoder="griffin-lim", progress=False)  # fmt: skip
    finally:
        hook.remove()
    history = result.extras["history"]
    assert [set(h) for h in history] == [{"audio"}] * 3 + [{"audio", "image"}] * 3
    assert len(image_calls) == 3  # the warm start leaves the image loss unused
    assert all(np.isfinite(v) for h in history for v in h.values())
    snapshots = result.extras["snapshots"]
    assert len(snapshots) == 3 and not np.allclose(snapshots[0], snapshots[-1])
    for expert, state in zip(experts, before, strict=True):
        for key, value in expert.unet.state_dict().items():
            torch.testing.assert_close(value, state[key])
        assert all(p.grad is None for p in expert.unet.parameters())
        assert all(p.grad is None for p in expert.vae.parameters())
    assert result.spectrogram.shape == (H, W) and result.waveform.shape == (W * 160,)


def test_sds_bad_settings(pipeline):
    with pytest.raises(ValueError, match="audio_only_steps=9"):
        sds_baseline(pipeline, "a", "b", SDSSettings(steps=4, audio_only_steps=9), progress=False)


def test_image_sds_in_pixel_space_with_deepfloyd_if(pipeline, tmp_path):
    """The paper's image SDS: a tiny random IF stage I (hub layout, loaded offline) scores
    random crops of the canvas in pixel space; only the canvas learns."""
    from itslib.baselines import SDSLoss, encode_differentiably
    from itslib.experts import load_if_expert
    from itslib.rehearsal import write_if_stage_1

    expert = load_if_expert(write_if_stage_1(tmp_path / "IF-I-M"), device="cpu")
    assert expert.vae is None and expert.unet.config.out_channels == 6
    canvas = torch.rand(1, 1, H, W, requires_grad=True)
    pixels = encode_differentiably(expert, canvas)
    assert pixels.shape == (1, 3, H, W) and pixels.min() >= -1 and pixels.max() <= 1
    loss_fn = SDSLoss(expert, "a castle", guidance=80.0, weight=0.4, crops=3, crop_size=32,
                      resize=expert.unet.config.sample_size)  # fmt: skip
    views = loss_fn.views(canvas, torch.Generator().manual_seed(0))
    assert views.shape == (3, 1, 16, 16)
    loss = loss_fn(canvas, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss) and canvas.grad is not None and canvas.grad.abs().sum() > 0
    assert all(p.grad is None for p in expert.unet.parameters())
    settings = SDSSettings(steps=3, audio_only_steps=1, lr=1e-2, height=H, width=W,
                           image_crops=2, crop_size=32, crop_resize=16)  # fmt: skip
    result = sds_baseline(pipeline, "a castle", "bell ringing", settings, image_expert=expert,
                          vocoder="griffin-lim", progress=False)  # fmt: skip
    assert [set(h) for h in result.extras["history"]] == [{"audio"}] + [{"audio", "image"}] * 2
    with pytest.raises(Exception, match="gated"):
        load_if_expert(tmp_path / "missing")
