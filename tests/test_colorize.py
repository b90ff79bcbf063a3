"""Factorized-diffusion colorization on tiny random DeepFloyd IF models (offline, CPU)."""

import json
import shutil

import numpy as np
import pytest
import torch

from itslib._hub import DamagedModelError, ModelUnavailableError
from itslib._io import write_png
from itslib.colorize import (
    color_prompt,
    colorize,
    colorize_sample_folder,
    exact_projection,
    load_colorizer,
    read_spectrogram,
)
from itslib.files import write_wav
from itslib.rehearsal import write_if_stage_1, write_if_stage_2

FAST = dict(steps=4, start_step=1, stage2_steps=3)  # the loop, not the paper's settings


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny UNets run fastest on one thread on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_if(tmp_path_factory):
    """(stage I folder, stage II folder) of tiny random IF repositories."""
    root = tmp_path_factory.mktemp("if-hub")
    return write_if_stage_1(root / "IF-I-M"), write_if_stage_2(root / "IF-II-M")


@pytest.fixture(scope="module")
def colorizer(tiny_if):
    return load_colorizer(*tiny_if, device="cpu")


def spectrogram(seed=0, shape=(32, 64)):
    """A random picture in [0, 1] with pure black and pure white bands."""
    picture = np.random.default_rng(seed).random(shape).astype(np.float32)
    picture[:, :8] = 0.0
    picture[:, 8:16] = 1.0
    picture[:4] = np.linspace(0, 1, shape[1])
    return picture


def test_color_prompt():
    assert color_prompt("a painting of castles, grayscale") == "a colorful photo of castles"
    assert color_prompt("tigers") == "a colorful photo of tigers"
    assert color_prompt("a lithograph of a farm, black and white") == "a colorful photo of a farm"


def test_exact_projection_holds_gray_and_range():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 16, 16, generator=gen) * 3
    gray = torch.rand(2, 1, 16, 16, generator=gen)
    gray[..., :4] = 0.0
    gray[..., 4:8] = 1.0
    out = exact_projection(x, gray)
    assert out.min() >= 0 and out.max() <= 1
    assert (out.mean(dim=1, keepdim=True) - gray).abs().max() < 1e-6
    colour = 0.5 + 0.01 * (x - x.mean(dim=1, keepdim=True))  # in range, gray 0.5 already
    assert torch.allclose(exact_projection(colour, torch.full_like(gray, 0.5)), colour, atol=1e-6)


def test_loader_skips_unneeded_parts(colorizer):
    assert colorizer.stage1.safety_checker is None and colorizer.stage1.watermarker is None
    assert colorizer.stage2.text_encoder is None  # stage II reuses stage I's T5 embeddings
    assert colorizer.stage1.unet.config.out_channels == 6
    assert colorizer.stage2.unet.config.in_channels == 6
    assert colorizer.multiple == 32


def test_fp16_loads_without_fp16_files(tiny_if):
    half = load_colorizer(*tiny_if, device="cpu", dtype=torch.float16)
    assert half.stage1.unet.dtype == torch.float16 and half.stage2.unet.dtype == torch.float16


def test_grayscale_invariant_with_paper_defaults(colorizer):
    gray = spectrogram()
    out = colorize(gray, "a painting of castles, grayscale", colorizer=colorizer)
    assert out.shape == (32, 64, 3) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.abs(out.mean(axis=2) - gray).max() <= 1 / 255
    assert out.std(axis=2).mean() > 1e-3  # it did add colour


@pytest.mark.parametrize("seed", [1, 2])
def test_grayscale_invariant_random_spectrograms(colorizer, seed):
    gray = spectrogram(seed, shape=(32, 32))
    out = colorize(gray, "dog", seed=seed, colorizer=colorizer, **FAST)
    assert out.shape == (32, 32, 3)
    assert np.abs(out.mean(axis=2) - gray).max() <= 1 / 255


def test_seed_determines_colours(colorizer):
    gray = spectrogram()
    first = colorize(gray, "castles", seed=3, colorizer=colorizer, **FAST)
    again = colorize(gray, "castles", seed=3, colorizer=colorizer, **FAST)
    other = colorize(gray, "castles", seed=4, colorizer=colorizer, **FAST)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3


def test_stage_two_noise_level_is_the_papers_50(colorizer, monkeypatch):
    """The paper's code noises the upscaled stage I picture to level 50 for stage II (and
    tells the UNet so); diffusers' own IF super-resolution default is 250."""
    import inspect

    assert inspect.signature(colorize).parameters["noise_level"].default == 50
    levels, labels = [], []
    scheduler = colorizer.stage2.image_noising_scheduler
    real_add_noise = scheduler.add_noise

    def recording_add_noise(original, noise, timesteps):
        levels.append(timesteps.tolist())
        return real_add_noise(original, noise, timesteps)

    monkeypatch.setattr(scheduler, "add_noise", recording_add_noise)
    hook = colorizer.stage2.unet.register_forward_pre_hook(
        lambda module, args, kwargs: labels.append(kwargs["class_labels"].tolist()),
        with_kwargs=True,
    )
    try:
        colorize(spectrogram(), "castles", colorizer=colorizer, **FAST)
    finally:
        hook.remove()
    assert levels == [[50]]
    assert len(labels) == FAST["stage2_steps"] and all(set(x) == {50} for x in labels)


def test_gray_noise_is_drawn_fresh_at_every_step(colorizer, monkeypatch):
    """As in the paper's code, the noise on the fixed grayscale part is a new draw at each
    step (the first step's is the start picture's own); the clean end takes none."""
    import itslib.colorize as module

    calls = []
    real = module._noised_gray

    def recording(scheduler, gray, noise_gray, t):
        calls.append((gray.shape[-1], int(t), None if noise_gray is None else noise_gray.clone()))
        return real(scheduler, gray, noise_gray, t)

    monkeypatch.setattr(module, "_noised_gray", recording)
    first = colorize(spectrogram(), "castles", seed=5, colorizer=colorizer, **FAST)
    for width, steps in ((16, FAST["steps"] - FAST["start_step"]), (64, FAST["stage2_steps"])):
        stage = [(t, n) for w, t, n in calls if w == width]
        assert len(stage) == steps + 1  # before the first step, then after each
        assert stage[-1] == (-1, None)  # the end: the clean spectrogram, no noise
        noises = [n for _, n in stage[:-1]]
        assert all(n.shape == (1, 1, 8 if width == 16 else 32, width) for n in noises)
        for a, b in zip(noises, noises[1:], strict=False):
            assert not torch.equal(a, b)
        assert all(0.3 < float(n.std()) < 0.9 for n in noises)  # channel mean: std 1/sqrt(3)
    # Fresh draws, yet one seed still gives one result.
    calls.clear()
    again = colorize(spectrogram(), "castles", seed=5, colorizer=colorizer, **FAST)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("start_step", [0, 3])
def test_start_step_bounds_accepted(colorizer, start_step):
    out = colorize(spectrogram(), "castles", steps=4, start_step=start_step, stage2_steps=2,
                   colorizer=colorizer)  # fmt: skip
    assert out.shape == (32, 64, 3)


@pytest.mark.parametrize("start_step", [-1, 4, 10])
def test_start_step_out_of_range(colorizer, start_step):
    with pytest.raises(ValueError, match="start_step"):
        colorize(spectrogram(), "castles", steps=4, start_step=start_step, colorizer=colorizer)


@pytest.mark.parametrize("settings, name", [({"stage2_steps": 0}, "stage2_steps"),
                                            ({"noise_level": 1000}, "noise_level")])  # fmt: skip
def test_other_settings_checked(colorizer, settings, name):
    with pytest.raises(ValueError, match=name):
        colorize(spectrogram(), "castles", colorizer=colorizer, **settings)


@pytest.mark.parametrize(
    "picture, words",
    [
        (np.zeros((32, 64, 3)), "2-D"),
        (np.zeros((0, 64)), "0 x 64 is empty"),
        (np.full((32, 64), 1.5), r"\[0, 1\]"),
        (np.full((32, 64), np.nan), "finite"),
    ],
)
def test_bad_spectrograms(colorizer, picture, words):
    with pytest.raises(ValueError, match=words):
        colorize(picture, "castles", colorizer=colorizer)


def test_the_projects_own_sizes_are_padded_and_cropped_back(colorizer):
    """A --width 512 sample is 496 wide after the right-band crop (32/1024 of the width):
    not a multiple of 32, yet it colorizes at its own size, grayscale kept."""
    gray = spectrogram(seed=7, shape=(256, 496))
    out = colorize(gray, "castles", colorizer=colorizer, **FAST)
    assert out.shape == (256, 496, 3)
    assert np.abs(out.mean(axis=2) - gray).max() <= 1 / 255
    odd = spectrogram(seed=8, shape=(30, 40))  # any size: padded to 32 x 64 and back
    assert colorize(odd, "castles", colorizer=colorizer, **FAST).shape == (30, 40, 3)


def make_sample(folder, seconds=0.4):
    folder.mkdir()
    write_png(folder / "spectrogram.png", spectrogram())
    (folder / "params.json").write_text(json.dumps({"image_prompt": "a painting of dogs"}))
    write_wav(folder / "audio.wav", 0.1 * np.sin(np.arange(int(16000 * seconds)) / 5), 16000)
    return folder


def test_sample_folder_writes_color_png_and_video(colorizer, tmp_path):
    folder = make_sample(tmp_path / "sample_000")
    path = colorize_sample_folder(folder, video=True, colorizer=colorizer, **FAST)
    assert path == folder / "color.png"
    from PIL import Image

    color = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
    gray = read_spectrogram(folder / "spectrogram.png")
    assert color.shape == (32, 64, 3)
    assert np.abs(color.mean(axis=2) - gray).max() <= 1 / 255  # after 8-bit rounding too
    assert (folder / "video_color.mp4").stat().st_size > 0
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files


def test_sample_folder_errors_leave_nothing(colorizer, tmp_path):
    with pytest.raises(FileNotFoundError, match="sample folder"):
        colorize_sample_folder(tmp_path / "missing", colorizer=colorizer)
    folder = make_sample(tmp_path / "sample_001")
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(ValueError, match="start_step"):
        colorize_sample_folder(folder, colorizer=colorizer, steps=4, start_step=9)
    (folder / "params.json").write_text("{}")
    with pytest.raises(ValueError, match="image_prompt"):
        colorize_sample_folder(folder, colorizer=colorizer, **FAST)
    (folder / "audio.wav").unlink()
    with pytest.raises(FileNotFoundError, match="audio.wav"):
        colorize_sample_folder(folder, image_prompt="dogs", video=True, colorizer=colorizer)
    (folder / "spectrogram.png").unlink()
    with pytest.raises(FileNotFoundError, match="spectrogram"):
        colorize_sample_folder(folder, image_prompt="dogs", colorizer=colorizer)
    left = sorted(set(before) - {"audio.wav", "spectrogram.png"})
    assert sorted(p.name for p in folder.iterdir()) == left  # no color.png, no temporary files


def test_gated_model_offline_says_licence_and_login():
    with pytest.raises(ModelUnavailableError) as info:
        load_colorizer(device="cpu")  # the real hub ids; HF_HUB_OFFLINE=1 and not cached
    message = str(info.value)
    assert "DeepFloyd/IF-I-M-v1.0" in message
    assert "licence" in message and "login" in message


def test_missing_local_folder(tiny_if, tmp_path):
    with pytest.raises(ModelUnavailableError, match="no such folder"):
        load_colorizer(tiny_if[0], tmp_path / "nowhere", device="cpu")


def test_local_folders_lacking_parts_are_named(tiny_if, tmp_path, monkeypatch):
    stage2 = shutil.copytree(tiny_if[1], tmp_path / "IF-II-M")
    shutil.rmtree(stage2 / "image_noising_scheduler")
    monkeypatch.setenv("ITSLIB_IF_STAGE2", str(stage2))
    with pytest.raises(ModelUnavailableError, match="lacks image_noising_scheduler/") as info:
        load_colorizer(tiny_if[0], device="cpu")
    assert "ITSLIB_IF_STAGE2" in str(info.value) and "licence" not in str(info.value)


def test_a_damaged_unet_file_is_named_not_called_gated(tiny_if, tmp_path):
    stage2 = shutil.copytree(tiny_if[1], tmp_path / "IF-II-M")
    weights = stage2 / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(DamagedModelError, match="diffusion_pytorch_model.safetensors is dam"):
        load_colorizer(tiny_if[0], stage2, device="cpu")


def test_cli_colorize_writes_color_png(tiny_if, tmp_path, capsys):
    import json

    from PIL import Image

    from itslib.cli import main
    from itslib.files import write_wav

    folder = tmp_path / "sample_000"
    folder.mkdir()
    gray = spectrogram(seed=5)
    Image.fromarray((gray * 255).round().astype(np.uint8)).save(folder / "spectrogram.png")
    (folder / "params.json").write_text(json.dumps({"image_prompt": "a castle, grayscale"}))
    write_wav(folder / "audio.wav", np.zeros(64 * 160, dtype=np.float32))
    args = ["colorize", str(folder), "--stage1-model", str(tiny_if[0]), "--stage2-model",
            str(tiny_if[1]), "--steps", "4", "--start-step", "1", "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    color = np.asarray(Image.open(folder / "color.png"), dtype=np.float32) / 255
    saved_gray = np.asarray(Image.open(folder / "spectrogram.png"), dtype=np.float32) / 255
    assert np.abs(color.mean(axis=-1) - saved_gray).max() <= 1 / 255 + 1e-6
    assert main(["colorize", str(tmp_path / "nowhere")]) == 2
    assert "not a sample folder" in capsys.readouterr().err
