"""Imprint and SDS, on tiny random SD-layout models and on the reader's own files."""

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from itslib import audio, baselines, files, sds
from itslib.baselines import imprint, imprint_baseline, imprint_files
from itslib.experts import load_audio_expert, load_image_expert
from itslib.hifigan import HiFiGAN
from itslib.pipeline import ImagesThatSound
from itslib.sds import FourierCanvas, SDSSettings, sds_baseline

H, W = 256, 64
CUT = W - round(W * 32 / 1024)  # the real world's crop: 64 -> 62


@pytest.fixture(scope="module")
def experts(tiny_repos):
    return load_image_expert(tiny_repos[0]), load_audio_expert(tiny_repos[1])


@pytest.fixture(scope="module")
def pipeline(experts):
    """Real-world rules (crop_right=True) on tiny models."""
    return ImagesThatSound(*experts)


@pytest.fixture(scope="module")
def uncropped(experts):
    """The mini world's rule: no right-edge crop."""
    return ImagesThatSound(*experts, world="mini", crop_right=False)


def test_imprint_arithmetic():
    rng = np.random.default_rng(0)
    spec = rng.uniform(size=(8, 16)).astype(np.float32)
    picture = rng.uniform(size=(8, 16)).astype(np.float32)
    np.testing.assert_array_equal(imprint(spec, picture, strength=0.0), spec)
    np.testing.assert_array_equal(imprint(spec, np.ones((8, 16))), spec)  # white: unchanged
    np.testing.assert_allclose(imprint(spec, np.zeros((8, 16)), 0.5), spec / 2)  # black: halved
    half = picture / 2
    colour = np.stack([half, half * 0, half * 2], axis=-1)  # channel mean = half
    np.testing.assert_allclose(imprint(spec, colour, 0.7), imprint(spec, half, 0.7), atol=1e-6)
    carved = imprint(spec, picture, 1.0)
    np.testing.assert_allclose(carved, spec * picture, atol=1e-6)


@pytest.mark.parametrize("strength", [-0.1, 1.5])
def test_strength_outside_unit_interval(strength):
    with pytest.raises(ValueError, match=f"strength={strength} must be in"):
        imprint(np.zeros((4, 4)), np.zeros((4, 4)), strength)


def test_zero_size_or_mismatched_picture():
    with pytest.raises(ValueError, match="picture has shape"):
        imprint(np.zeros((4, 4)), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="must match spectrogram shape"):
        imprint(np.zeros((4, 4)), np.zeros((4, 5)))


def test_imprint_generated(uncropped):
    result = imprint_baseline(uncropped, "a castle", "bell ringing", image_steps=3,
                              audio_steps=3, height=H, width=W, vocoder="griffin-lim")  # fmt: skip
    assert result.spectrogram.shape == (H, W) and result.image.shape == (H, W, 3)
    assert 0 <= result.spectrogram.min() and result.spectrogram.max() <= 1
    assert result.waveform.shape == (W * 160,)
    assert result.params["method"] == "imprint" and not result.params["own_picture"]
    assert result.params["crop_right"] is False


def test_imprint_noises_are_two_draws_and_deterministic(pipeline, monkeypatch):
    """The picture's and the spectrogram's starting noises are two different draws of one
    CPU generator seeded with the seed (picture first); the result repeats for a seed."""
    starts = []
    real_sample = baselines.sample

    def recording_sample(terms, scheduler, latents, steps, **kw):
        starts.append((terms[0].expert.name, latents.clone()))
        return real_sample(terms, scheduler, latents, steps, **kw)

    monkeypatch.setattr(baselines, "sample", recording_sample)
    run = dict(image_steps=2, audio_steps=2, height=H, width=W, vocoder="hifigan", seed=7)
    first = imprint_baseline(pipeline, "a castle", "bell ringing", **run)
    (image_name, image_noise), (audio_name, audio_noise) = starts
    assert (image_name, audio_name) == ("image", "audio")
    assert not torch.equal(image_noise, audio_noise)
    correlation = np.corrcoef(image_noise.flatten().float(), audio_noise.flatten().float())[0, 1]
    assert abs(correlation) < 0.1
    generator = torch.Generator("cpu").manual_seed(7)
    shape = pipeline.latent_shape(H, W)
    torch.testing.assert_close(image_noise, torch.randn(shape, generator=generator,
                                                        dtype=image_noise.dtype))  # fmt: skip
    torch.testing.assert_close(audio_noise, torch.randn(shape, generator=generator,
                                                        dtype=audio_noise.dtype))  # fmt: skip
    again = imprint_baseline(pipeline, "a castle", "bell ringing", **run)
    np.testing.assert_array_equal(first.spectrogram, again.spectrogram)
    np.testing.assert_array_equal(first.image, again.image)
    torch.testing.assert_close(starts[2][1], image_noise)
    torch.testing.assert_close(starts[3][1], audio_noise)
    other = imprint_baseline(pipeline, "a castle", "bell ringing", **(run | {"seed": 8}))
    assert not np.array_equal(first.spectrogram, other.spectrogram)


def test_imprint_generated_crops_like_the_joint_method(pipeline):
    """Real world (crop_right=True): picture, spectrogram, log-mel and waveform lose the
    right 32/1024 of the width, as the joint method's samples do."""
    joint = pipeline("a castle", "bell ringing", steps=2, height=H, width=W,
                     vocoder="hifigan", progress=False)[0]  # fmt: skip
    result = imprint_baseline(pipeline, "a castle", "bell ringing", image_steps=2,
                              audio_steps=2, height=H, width=W, vocoder="hifigan")  # fmt: skip
    assert result.params["crop_right"] is True
    assert result.spectrogram.shape == joint.spectrogram.shape == (H, CUT)
    assert result.image.shape == joint.image.shape == (H, CUT, 3)
    assert result.logmel.shape == (H, CUT)
    assert result.waveform.shape == joint.waveform.shape == (CUT * 160,)
    kept = imprint_baseline(pipeline, "a castle", "bell ringing", image_steps=2, audio_steps=2,
                            height=H, width=W, vocoder="hifigan", crop_right=False)  # fmt: skip
    assert kept.spectrogram.shape == (H, W)
    np.testing.assert_array_equal(kept.spectrogram[:, :CUT], result.spectrogram)


def test_imprint_crop_at_the_real_width(pipeline):
    """At the real canvas width 1024 the crop leaves 992 columns (9.92 s)."""
    result = imprint_baseline(pipeline, "a castle", "bell ringing", image_steps=1,
                              audio_steps=1, height=H, width=1024, vocoder="hifigan")  # fmt: skip
    assert result.spectrogram.shape == (H, 1024 - 32) and result.image.shape == (H, 992, 3)
    assert result.waveform.shape == (992 * 160,)


def test_imprint_one_own_input_still_crops_the_generated_band(pipeline):
    picture = np.full((H, W), 0.25, dtype=np.float32)
    result = imprint_baseline(pipeline, audio_prompt="bell ringing", picture=picture,
                              audio_steps=2, height=H, width=W, vocoder="hifigan")  # fmt: skip
    assert result.params["crop_right"] is True and result.spectrogram.shape == (H, CUT)


def test_imprint_own_files_of_odd_sizes(pipeline, tmp_path):
    pixels = (np.random.default_rng(1).uniform(size=(37, 91)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    t = np.arange(int(44100 * 0.3)) / 44100
    sf.write(tmp_path / "take.wav", np.stack([np.sin(2 * np.pi * 330 * t)] * 2, axis=1), 44100)
    picture = files.load_picture(tmp_path / "photo.png", H, W, fill=1.0)
    sound = files.load_audio(tmp_path / "take.wav", seconds=W * 160 / 16000)
    result = imprint_baseline(pipeline, picture=picture, sound=sound, strength=0.5,
                              height=H, width=W, vocoder="hifigan")  # fmt: skip
    # Nothing went through a VAE: no band to crop, even in the real world.
    assert result.spectrogram.shape == (H, W) and result.params["crop_right"] is False
    assert result.waveform.shape == (W * 160,) and np.abs(result.waveform).max() <= 1
    # 91 x 37 scaled to height 256 is 630 wide, centre-cropped to 64.
    assert picture.shape == (H, W)
    # A narrow picture is padded with white, so the padding carves nothing.
    Image.fromarray(pixels[:, :5]).save(tmp_path / "narrow.png")
    narrow = files.load_picture(tmp_path / "narrow.png", H, W, fill=1.0)
    assert narrow[:, 40:].min() == 1.0
    spec = audio.logmel_to_picture(audio.wav_to_logmel(sound))
    np.testing.assert_allclose(imprint(spec, narrow)[:, 40:], spec[:, 40:])


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        files.load_picture(tmp_path / "missing.png", H, W)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match="not an image"):
        files.load_picture(tmp_path / "empty.png", H, W)
    (tmp_path / "notes.wav").write_text("not audio")
    with pytest.raises(ValueError, match="not an audio file"):
        files.load_audio(tmp_path / "notes.wav")


def test_imprint_needs_one_source_each(pipeline):
    with pytest.raises(ValueError, match="exactly one of image_prompt and picture"):
        imprint_baseline(pipeline, audio_prompt="bell ringing", height=H, width=W)
    picture, sound = np.ones((H, W), np.float32), np.zeros(W * 160, np.float32)
    with pytest.raises(ValueError, match="exactly one of image_prompt and picture"):
        imprint_baseline(pipeline, "a castle", "bell ringing", picture=picture, height=H, width=W)
    with pytest.raises(ValueError, match="exactly one of audio_prompt and sound"):
        imprint_baseline(pipeline, audio_prompt="bell ringing", picture=picture, sound=sound,
                         height=H, width=W)  # fmt: skip


def bad_pictures():
    rgb = np.full((H, W, 3), 200.0, dtype=np.float32)
    nan = np.full((H, W), 0.5, dtype=np.float32)
    nan[3, 4] = np.nan
    return [(rgb, "divide by 255"), (nan * 1, "NaN"),
            (np.full((H, W), -0.5, np.float32), r"must be in \[0, 1\]")]  # fmt: skip


@pytest.mark.parametrize("picture, words", bad_pictures())
def test_imprint_rejects_bad_pictures_and_spectrograms(picture, words):
    good = np.full((H, W), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match=f"picture.*{words}"):
        imprint(good, picture)
    spectrogram = picture.mean(axis=-1) if picture.ndim == 3 else picture
    with pytest.raises(ValueError, match=f"spectrogram.*{words}"):
        imprint(spectrogram, good)


@pytest.mark.parametrize("picture, words", bad_pictures())
def test_imprint_baseline_rejects_bad_pictures_before_generating(pipeline, monkeypatch,
                                                                 picture, words):  # fmt: skip
    monkeypatch.setattr(baselines, "generate_alone", lambda *a, **k: pytest.fail("generated"))
    with pytest.raises(ValueError, match=f"picture.*{words}"):
        imprint_baseline(pipeline, audio_prompt="bell ringing", picture=picture,
                         height=H, width=W, vocoder="griffin-lim")  # fmt: skip


def test_imprint_baseline_rejects_bad_sizes_before_generating(pipeline, monkeypatch):
    monkeypatch.setattr(baselines, "generate_alone", lambda *a, **k: pytest.fail("generated"))
    with pytest.raises(ValueError, match="load_picture"):
        imprint_baseline(pipeline, audio_prompt="bell", picture=np.ones((H, W + 8), np.float32),
                         height=H, width=W)  # fmt: skip
    with pytest.raises(ValueError, match="frames"):
        imprint_baseline(pipeline, "a castle", sound=np.zeros(W * 80, np.float32),
                         height=H, width=W)  # fmt: skip
    nan = np.zeros(W * 160, np.float32)
    nan[5] = np.nan
    with pytest.raises(ValueError, match="sound contains NaN"):
        imprint_baseline(pipeline, "a castle", sound=nan, height=H, width=W)


# --- the reader's own files, no model ------------------------------------------------


@pytest.fixture()
def no_models(monkeypatch):
    """Fail the test if anything loads an expert or builds a diffusers model or scheduler."""
    import diffusers
    from diffusers.models.modeling_utils import ModelMixin

    from itslib import experts, worlds

    def refuse(*args, **kwargs):
        raise AssertionError("imprint_files must not load a diffusion model")

    for module, name in ((experts, "load_stable_diffusion_expert"), (experts, "load_image_expert"),
                         (experts, "load_audio_expert"), (worlds, "load_world"),
                         (HiFiGAN, "from_pretrained")):  # fmt: skip
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(ModelMixin, "__init__", refuse)
    monkeypatch.setattr(diffusers.DDIMScheduler, "__init__", refuse)


def write_files(folder, seconds, rate=22050):
    pixels = (np.random.default_rng(2).uniform(size=(120, 300)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "photo.png")
    t = np.arange(int(rate * seconds)) / rate
    sf.write(folder / "take.wav", 0.3 * np.sin(2 * np.pi * 440 * t), rate)
    return folder / "photo.png", folder / "take.wav"


@pytest.mark.parametrize("seconds, notice", [
    (3.0, "sound take.wav: resampled from 22050 Hz to 16000 Hz; 3.00 s padded with "
          "silence to 10.24 s."),
    (14.0, "sound take.wav: resampled from 22050 Hz to 16000 Hz; cut to its first 10.24 s "
           "of 14.00 s."),
])  # fmt: skip
def test_imprint_files_needs_no_model(no_models, tmp_path, capsys, seconds, notice):
    photo, take = write_files(tmp_path, seconds)
    result = imprint_files(photo, take, strength=0.5, n_iter=2)
    assert notice in capsys.readouterr().out
    assert result.spectrogram.shape == (256, 1024) and result.logmel.shape == (256, 1024)
    assert result.image.shape == (256, 1024, 3)
    assert result.waveform.shape == (1024 * 160,) and result.sample_rate == 16000
    assert np.abs(result.waveform).max() <= 1
    params = result.params
    assert params["method"] == "imprint" and params["own_picture"] and params["own_sound"]
    assert (params["height"], params["width"], params["vocoder"]) == (256, 1024, "griffin-lim")
    assert params["crop_right"] is False and params["recording_seconds"] == pytest.approx(seconds)
    assert params["canvas_seconds"] == pytest.approx(10.24) and params["seconds"] >= 0
    # It is the imprint arithmetic on the loaded inputs.
    picture = files.load_picture(photo, 256, 1024, fill=1.0)
    wav = files.load_audio(take, seconds=10.24)
    spectrogram = audio.logmel_to_picture(audio.wav_to_logmel(wav))
    np.testing.assert_allclose(result.spectrogram, imprint(spectrogram, picture, 0.5), atol=1e-6)
    if seconds < 10.24:  # the silent padding stays silent
        assert result.spectrogram[:, 310:].max() == 0.0


def test_imprint_files_exact_length_says_nothing_and_saves(no_models, tmp_path, capsys):
    photo, take = write_files(tmp_path, 0.64, rate=16000)
    result = imprint_files(photo, take, frames=64, n_iter=2)
    said = capsys.readouterr().out  # only that a 300 x 120 photo loses width on a 64-wide canvas
    assert said == "picture photo.png: only the middle 10% of its width fits the 256 x 64 canvas.\n"
    assert result.spectrogram.shape == (256, 64) and result.waveform.shape == (64 * 160,)
    folder = result.save(tmp_path / "sample_000")
    assert (folder / "audio.wav").is_file() and (folder / "params.json").is_file()
    import diffusers

    with pytest.raises(AssertionError, match="must not load"):  # the guard itself works
        diffusers.DDIMScheduler()


def test_imprint_files_with_a_vocoder_module(tiny_repos, tmp_path, capsys):
    vocoder = HiFiGAN.from_pretrained(tiny_repos[1])
    photo, take = write_files(tmp_path, 1.0)
    result = imprint_files(photo, take, frames=64, vocoder=vocoder)
    assert "cut to its first 0.64 s of 1.00 s" in capsys.readouterr().out
    assert result.params["vocoder"] == "hifigan" and result.waveform.shape == (64 * 160,)
    # "hifigan" by name loads the vocoder alone (no diffusion model), from a folder or id.
    named = imprint_files(photo, take, width=64, vocoder="hifigan", vocoder_model=tiny_repos[1])
    np.testing.assert_allclose(named.waveform, result.waveform, atol=1e-6)
    from itslib._hub import ModelUnavailableError

    with pytest.raises(ModelUnavailableError, match="auffusion/auffusion-full-no-adapter"):
        imprint_files(photo, take, width=64, vocoder="hifigan")  # the real id, offline


def test_imprint_files_takes_the_canvas_names(tmp_path):
    """``width`` is ``frames`` (imprint_baseline's name); ``height`` must be the mel bins."""
    photo, take = write_files(tmp_path, 0.64, rate=16000)
    result = imprint_files(photo, take, height=256, width=64, vocoder="griffin-lim", n_iter=2)
    assert result.spectrogram.shape == (256, 64) and result.params["vocoder"] == "griffin-lim"
    with pytest.raises(ValueError, match="256 mel bins"):
        imprint_files(photo, take, height=64, width=64)
    with pytest.raises(ValueError, match="vocoder="):
        imprint_files(photo, take, width=64, vocoder="wavenet")


def test_imprint_files_bad_inputs(tmp_path):
    photo, take = write_files(tmp_path, 1.0)
    with pytest.raises(ValueError, match="strength"):
        imprint_files(photo, take, strength=2.0)
    with pytest.raises(ValueError, match="frames"):
        imprint_files(photo, take, frames=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        imprint_files(tmp_path / "missing.png", take)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        imprint_files(photo, tmp_path / "missing.wav")


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
    # Real world: cropped like the joint method (the canvas itself is optimised at W).
    assert result.spectrogram.shape == (H, CUT) and result.image.shape == (H, CUT, 3)
    assert result.logmel.shape == (H, CUT) and result.waveform.shape == (CUT * 160,)
    assert all(s.shape == (H, CUT) for s in snapshots)
    assert result.params["crop_right"] is True and result.params["width"] == W
    assert settings.crop_right is None  # the caller's settings are left as they were


def test_sds_crop_follows_the_world(uncropped, pipeline):
    settings = SDSSettings(steps=1, audio_only_steps=1, height=H, width=W)
    kept = sds_baseline(uncropped, "a", "b", settings, vocoder="hifigan", progress=False)
    assert kept.spectrogram.shape == (H, W) and kept.params["crop_right"] is False
    off = SDSSettings(steps=1, audio_only_steps=1, height=H, width=W, crop_right=False)
    assert sds_baseline(pipeline, "a", "b", off, vocoder="hifigan",
                        progress=False).spectrogram.shape == (H, W)  # fmt: skip
    on = SDSSettings(steps=1, audio_only_steps=1, height=H, width=W, crop_right=True)
    assert sds_baseline(uncropped, "a", "b", on, vocoder="hifigan",
                        progress=False).spectrogram.shape == (H, CUT)  # fmt: skip


def test_crop_arithmetic_matches_the_joint_method():
    """round(width * 32 / 1024) columns go, as ImagesThatSound.finish drops them; at the real
    width 1024 that leaves 992 (9.92 s). (SDS at 1024 is too slow for the CPU tests; it
    crops with the same function as imprint, tested at the real width above.)"""
    from itslib.pipeline import crop_band, right_band

    assert [right_band(w) for w in (1024, 256, 64, 48, 8)] == [32, 8, 2, 2, 0]
    assert crop_band(np.zeros((256, 1024, 3))).shape == (256, 992, 3)
    assert crop_band(np.zeros((256, 64))).shape == (256, CUT)


def test_sds_bad_settings(pipeline):
    with pytest.raises(ValueError, match="audio_only_steps=9 must be a whole number in 0..4"):
        sds_baseline(pipeline, "a", "b", SDSSettings(steps=4, audio_only_steps=9), progress=False)
    for width in (0, 2.5, True):
        with pytest.raises(ValueError, match=f"canvas_hidden={width!r} must be a whole number"):
            sds_baseline(pipeline, "a", "b", SDSSettings(steps=2, audio_only_steps=1,
                                                         canvas_hidden=width), progress=False)


def test_sds_canvas_width_is_a_setting(pipeline, monkeypatch):
    widths = []
    real = sds.FourierCanvas

    def recording(*args, **kwargs):
        widths.append(kwargs["hidden"])
        return real(*args, **kwargs)

    monkeypatch.setattr(sds, "FourierCanvas", recording)
    settings = SDSSettings(steps=1, audio_only_steps=0, height=H, width=W, canvas_hidden=8)
    sds_baseline(pipeline, "a", "b", settings, progress=False)
    assert widths == [8]


def test_image_sds_in_pixel_space_with_deepfloyd_if(pipeline, tmp_path):
    """The paper's image SDS: a tiny random IF stage I (hub layout, loaded offline) scores
    random crops of the canvas in pixel space; only the canvas learns."""
    from itslib.experts import load_if_expert
    from itslib.rehearsal import write_if_stage_1
    from itslib.sds import SDSLoss, encode_differentiably

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
