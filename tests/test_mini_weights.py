"""The shipped miniature weights: they load offline, sample deterministically, and the
judges beat chance by a wide margin on fresh procedural data."""

import numpy as np
import pytest

from itslib.mini import load_components
from itslib.mini.datasets import test_sets as fresh_sets
from itslib.mini.store import DEFAULT_WEIGHTS, judge_pictures, judge_sounds, weights_id


@pytest.fixture(scope="module")
def parts():
    return load_components()


def test_shipped_weights_are_small_and_documented(parts):
    size = sum(p.stat().st_size for p in DEFAULT_WEIGHTS.rglob("*") if p.is_file())
    assert size <= 25 * 2**20
    for key in ("command", "seed", "stages", "judge_accuracy", "date"):
        assert key in parts.info
    assert parts.info["null_class"] == 8 and len(parts.picture_classes) == 8


def test_the_autoencoder_keeps_what_the_judges_recognise(parts):
    """The world's ceiling (training.json, measured on fresh data at export): after an
    autoencoder round trip the judges still recognise >= 90% of pictures and of sounds
    (heard through Griffin-Lim); a blurry autoencoder caps every expert below that."""
    accuracy = parts.info["judge_accuracy"]
    assert accuracy["picture_judge_after_autoencoder"] >= 0.9
    assert accuracy["sound_judge_after_autoencoder_griffin_lim32"] >= 0.9


def test_shipped_experts_sample_deterministically():
    """Through the project's own sampler (the same code as the real models)."""
    from itslib.mini.experts import mini_pipeline

    pipe = mini_pipeline()
    settings = dict(steps=10, image_guidance=5.0, audio_guidance=5.0, vocoder="griffin-lim",
                    progress=False)  # fmt: skip
    (a,) = pipe("circles", "chord", audio_weight=0.0, image_start=0.0, seed=3, **settings)
    (b,) = pipe("circles", "chord", audio_weight=0.0, image_start=0.0, seed=3, **settings)
    assert a.spectrogram.shape == (128, 512) and np.array_equal(a.spectrogram, b.spectrogram)
    (c,) = pipe("circles", "chord", audio_weight=1.0, seed=3, **settings)
    assert not np.array_equal(a.spectrogram, c.spectrogram)


def test_judges_beat_chance_on_fresh_data(parts):
    test = fresh_sets(seed=1234, n=48)  # a seed that training never used
    labels = test["labels"]
    picture_probs = judge_pictures(test["pictures"], judge=parts.picture_judge)
    assert (picture_probs.argmax(1) == labels).mean() >= 0.6  # chance is 0.125
    from itslib.mini import make_sound
    from itslib.mini.world import SOUND_CLASSES

    rng = np.random.default_rng(1234)
    wavs = np.stack([make_sound(SOUND_CLASSES[k], rng) for k in labels])
    sound_probs = judge_sounds(wavs, judge=parts.sound_judge)
    assert (sound_probs.argmax(1) == labels).mean() >= 0.6


def test_bf16_unets_draw_what_fp32_draws():
    """``dtype=torch.bfloat16`` (the CPU speed option) changes the UNets' precision only:
    the autoencoder stays fp32, and the samples stay close to fp32's (the latent and the
    scheduler's arithmetic stay fp32)."""
    import torch

    from itslib.mini.experts import mini_pipeline

    fp32, bf16 = mini_pipeline(), mini_pipeline(dtype=torch.bfloat16)
    assert bf16.image_expert.dtype == bf16.audio_expert.dtype == torch.bfloat16
    assert bf16.audio_expert.vae.dtype == torch.float32
    settings = dict(steps=10, seed=1, num_samples=2, progress=False)
    ours, theirs = fp32("waves", "rain", **settings), bf16("waves", "rain", **settings)
    # bf16 keeps 8 bits of mantissa, and how it rounds depends on the CPU (native bf16
    # instructions or emulated on AVX2), so the bound is relative to what matters: another
    # seed moves the spectrogram by 0.24 on average; bf16 moves it by 0.01 to 0.023
    # (measured on AVX-512 and AVX2 kernels), less than a quarter of that.
    another_seed = np.abs(ours[0].spectrogram - ours[1].spectrogram).mean()
    for a, b in zip(ours, theirs, strict=True):
        difference = np.abs(a.spectrogram - b.spectrogram).mean()
        assert 0 < difference < 0.25 * another_seed  # rounded differently, the same picture


@pytest.mark.parametrize(
    "dtype, message",
    [("float16", "needs a CUDA device"), ("int8", "must be one of"), ("float64", "must be one of")],
)
def test_mini_pipeline_refuses_dtypes_it_cannot_run(dtype, message):
    import torch

    from itslib.mini.experts import mini_pipeline

    with pytest.raises(ValueError, match=f"dtype=torch.{dtype}.*{message}"):
        mini_pipeline(dtype=getattr(torch, dtype))


def test_weights_id_tells_retrained_weights_apart(tmp_path, monkeypatch):
    """evaluate keeps score rows per weights_id, so a retrained world never reuses rows
    scored with the old weights."""
    import shutil

    copy = tmp_path / "weights"
    shutil.copytree(DEFAULT_WEIGHTS, copy)
    assert weights_id(copy) == weights_id() == weights_id(DEFAULT_WEIGHTS)
    unet = copy / "image_unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(unet.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    unet.write_bytes(bytes(data))
    assert weights_id(copy) != weights_id()
    # the folder the experts sample with: ITSLIB_MINI_WEIGHTS, when no folder is named
    monkeypatch.setenv("ITSLIB_MINI_WEIGHTS", str(copy))
    assert weights_id() == weights_id(copy) != weights_id(DEFAULT_WEIGHTS)
