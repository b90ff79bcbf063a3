"""The judges (itslib.metrics) with tiny random CLIP/CLAP models and small random mini judges.

The tiny models are written to temporary folders in the hub's layout and loaded through
``from_pretrained``, so the real scoring code runs offline (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from itslib._hub import ModelUnavailableError
from itslib.fidelity import fad, fid, sample_folders
from itslib.metrics import (
    CLAPJudge,
    CLIPJudge,
    accepted,
    clip_windows,
    mean_ci,
    rerank,
    resample_to_48k,
    score_results,
)
from itslib.mini.scoring import MiniJudge
from itslib.rehearsal import write_clap, write_clip
from itslib.results import Result

from .numerics import assert_close_across_kernels

HEIGHT, WIDTH, NUM_SAMPLES = 128, 512, 40960  # the miniature canvas


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def clap_folder(tmp_path_factory) -> Path:
    return write_clap(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="module")
def clip(clip_folder) -> CLIPJudge:
    return CLIPJudge.from_pretrained(str(clip_folder), device="cpu")


@pytest.fixture(scope="module")
def clap(clap_folder) -> CLAPJudge:
    return CLAPJudge.from_pretrained(str(clap_folder), device="cpu")


@pytest.fixture(scope="module")
def mini() -> MiniJudge:
    from itslib.mini.models import Judge

    torch.manual_seed(0)
    return MiniJudge(Judge(width=4), Judge(width=4))


def _sound(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).normal(0, 0.05, t.size)
    return (0.3 * np.sin(2 * np.pi * (300 + 100 * seed) * t) + noise).astype(np.float32)


def _result(seed: int, image_prompt: str = "circles", audio_prompt: str = "siren") -> Result:
    rng = np.random.default_rng(seed)
    return Result(
        image=np.zeros((HEIGHT, WIDTH, 3), np.float32),
        spectrogram=rng.random((HEIGHT, WIDTH), dtype=np.float32),
        logmel=np.zeros((HEIGHT, WIDTH), np.float32),
        waveform=_sound(NUM_SAMPLES / 16000, seed=seed),
        sample_rate=16000,
        latents=None,
        params={"image_prompt": image_prompt, "audio_prompt": audio_prompt},
    )


# --- CLIP ---------------------------------------------------------------------------------


def test_clip_windows_of_the_real_and_mini_canvas():
    windows = clip_windows(256, 1024)
    assert len(windows) == 25
    assert windows[0] == (0, 256) and windows[1] == (32, 288) and windows[-1] == (768, 1024)
    assert len(clip_windows(128, 512)) == 25 and clip_windows(256, 256) == [(0, 256)]
    assert CLIPJudge.windows(np.zeros((256, 1024, 3))) == windows
    with pytest.raises(ValueError, match="width >= height"):
        clip_windows(256, 100)


def test_clip_scores_are_the_mean_of_clamped_window_scores(clip):
    rng = np.random.default_rng(0)
    pictures = [rng.random((256, 1024), dtype=np.float32), rng.random((32, 64), dtype=np.float32)]
    prompts = ["a castle, grayscale", "a tiger"]
    scores = clip.score(pictures, prompts)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert np.all((scores >= 0) & (scores <= 100))
    # by hand for the second picture: 9 windows of 32 x 32, stride 4
    rgb = np.round(np.repeat(pictures[1][..., None], 3, -1) * 255).astype(np.uint8)
    windows = [rgb[:, x0:x1] for x0, x1 in clip_windows(32, 64)]
    assert len(windows) == 9
    cosine = clip.embed_images(windows) @ clip.embed_text(["a tiger"])[0]
    assert scores[1] == pytest.approx(float((cosine.clamp(min=0) * 100).mean()), abs=1e-4)


def test_clip_batching_matches_one_at_a_time(clip):
    rng = np.random.default_rng(1)
    pictures = rng.random((3, 32, 96), dtype=np.float32)
    prompts = ["stars", "waves", "stars"]
    together = clip.score(pictures, prompts)
    alone = [clip.score([p], [q])[0] for p, q in zip(pictures, prompts, strict=True)]
    assert_close_across_kernels(together, alone, passes=1, scale=100)  # percent
    small = CLIPJudge(clip.model, clip.processor, device="cpu", batch_size=3)
    assert_close_across_kernels(small.score(torch.from_numpy(pictures), prompts), together,
                                passes=1, scale=100)  # fmt: skip


def test_clip_clamps_negative_cosines_to_zero(clip, monkeypatch):
    picture = np.full((32, 64), 0.5, np.float32)  # every window is the same image
    image = clip.embed_images([np.full((32, 32, 3), 128, np.uint8)])[0]
    monkeypatch.setattr(clip, "embed_text", lambda prompts: -image.expand(len(prompts), -1))
    assert clip.score([picture], "anything")[0] == 0.0
    monkeypatch.setattr(clip, "embed_text", lambda prompts: image.expand(len(prompts), -1))
    assert clip.score([picture], "anything")[0] == pytest.approx(100.0, abs=1e-3)


# --- CLAP ---------------------------------------------------------------------------------


def test_resampling_to_48k_and_what_clap_hears(clap):
    assert resample_to_48k(np.zeros(16000, np.float32), 16000).shape == (48000,)
    assert resample_to_48k(np.zeros(480, np.float32), 48000).shape == (480,)
    heard = clap.prepare(_sound(10.24), 16000)  # Auffusion's 10.24 s: longer than 10 s
    assert heard.shape == (480000,) and np.abs(heard).max() == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="mono"):
        resample_to_48k(np.zeros((2, 100)), 16000)


def test_clap_scores_range_and_batching(clap):
    waveforms = [_sound(1.0, seed=0), _sound(1.0, seed=1)]
    prompts = ["a siren wailing", "rain"]
    together = clap.score(waveforms, 16000, prompts)
    assert together.shape == (2,) and np.all(np.isfinite(together))
    assert np.all((together >= 0) & (together <= 100))
    alone = [clap.score([w], 16000, [p])[0] for w, p in zip(waveforms, prompts, strict=True)]
    assert_close_across_kernels(together, alone, passes=1, scale=100)  # percent


def test_clap_clamps_negative_cosines_to_zero(clap, monkeypatch):
    wav = _sound(1.0)
    audio = clap.embed_audio([wav], 16000)[0]
    monkeypatch.setattr(clap, "embed_text", lambda prompts: -audio.expand(len(prompts), -1))
    assert clap.score([wav], 16000, "anything")[0] == 0.0
    monkeypatch.setattr(clap, "embed_text", lambda prompts: audio.expand(len(prompts), -1))
    assert clap.score([wav], 16000, "anything")[0] == pytest.approx(100.0, abs=1e-3)


def test_missing_models_name_the_model_and_the_fix(tmp_path):
    with pytest.raises(ModelUnavailableError, match="itslib-test/no-such-clip") as info:
        CLIPJudge.from_pretrained("itslib-test/no-such-clip")
    assert "local folder" in str(info.value)
    with pytest.raises(ModelUnavailableError, match="itslib-test/no-such-clap"):
        CLAPJudge.from_pretrained("itslib-test/no-such-clap")
    with pytest.raises(ModelUnavailableError, match="nowhere"):
        CLAPJudge.from_pretrained(str(tmp_path / "nowhere"))


# --- the miniature judges -------------------------------------------------------------------


def test_mini_judge_scores_are_prompted_class_probabilities(mini):
    from itslib.mini import PICTURE_CLASSES, SOUND_CLASSES, judge_pictures, judge_sounds

    rng = np.random.default_rng(0)
    pictures = rng.random((3, HEIGHT, WIDTH), dtype=np.float32)
    prompts = ["circles", "trees", "circles"]
    expected = judge_pictures(pictures, judge=mini.picture_judge)
    wanted = [PICTURE_CLASSES.index(p) for p in prompts]
    np.testing.assert_allclose(
        mini.score_pictures(pictures, prompts), expected[np.arange(3), wanted] * 100, rtol=1e-5
    )
    waveforms = np.stack([_sound(NUM_SAMPLES / 16000, seed=s) for s in range(2)])
    scores = mini.score_sounds(waveforms, 16000, ["siren", "rain"])
    expected = judge_sounds(waveforms, judge=mini.sound_judge)
    wanted = [SOUND_CLASSES.index(p) for p in ["siren", "rain"]]
    np.testing.assert_allclose(scores, expected[np.arange(2), wanted] * 100, rtol=1e-5)
    assert np.all((scores >= 0) & (scores <= 100))
    # another rate is resampled to 16 kHz first
    assert mini.score_sounds(waveforms[:, ::2], 8000, "siren").shape == (2,)
    assert accepted([49.9, 50.0, 80.0]).tolist() == [False, True, True]
    with pytest.raises(ValueError, match="not a class"):
        mini.score_pictures(pictures[:1], "a castle")


def test_the_shipped_mini_judges_name_the_class_of_fresh_data():
    """Through MiniJudge's prompt-to-class scoring: fresh pictures and sounds (a seed that
    training never used) are accepted under their own class's name and refused under
    another's. On 2 x 48 fresh items per modality training.json records 98% accuracy."""
    from itslib.mini import PICTURE_CLASSES, SOUND_CLASSES, make_sound
    from itslib.mini.datasets import test_sets

    judge = MiniJudge.shipped()
    fresh = test_sets(seed=4321, n=16)
    labels = fresh["labels"]
    own = [PICTURE_CLASSES[k] for k in labels]
    other = [PICTURE_CLASSES[(k + 3) % len(PICTURE_CLASSES)] for k in labels]
    pictures = fresh["pictures"].astype(np.float32)
    assert accepted(judge.score_pictures(pictures, own)).mean() >= 0.85
    assert accepted(judge.score_pictures(pictures, other)).mean() <= 0.1
    rng = np.random.default_rng(4321)
    waveforms = np.stack([make_sound(SOUND_CLASSES[k], rng) for k in labels])
    heard = [SOUND_CLASSES[k] for k in labels]
    misheard = [SOUND_CLASSES[(k + 3) % len(SOUND_CLASSES)] for k in labels]
    assert accepted(judge.score_sounds(waveforms, 16000, heard)).mean() >= 0.85
    assert accepted(judge.score_sounds(waveforms, 16000, misheard)).mean() <= 0.1


# --- scoring Results, intervals, re-ranking ---------------------------------------------------


def test_score_results_with_mini_and_with_clip_clap(mini, clip, clap):
    results = [_result(0), _result(1, "trees", "rain")]
    rows = score_results(results, mini, mini)
    assert [sorted(r) for r in rows] == [["picture_score", "sound_score"]] * 2
    assert rows[1]["picture_score"] == pytest.approx(
        float(mini.score_pictures(results[1].spectrogram[None], "trees")[0]), rel=1e-5
    )
    rows = score_results(results, clip, clap)
    assert all(0 <= r["picture_score"] <= 100 and 0 <= r["sound_score"] <= 100 for r in rows)
    broken = _result(2)
    del broken.params["audio_prompt"]
    with pytest.raises(ValueError, match="audio_prompt"):
        score_results([broken], mini, mini)


def test_mismatched_prompts_are_refused(mini, clip, clap):
    with pytest.raises(ValueError, match="3 entries but there are 2 samples"):
        clip.score(np.zeros((2, 32, 64)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="1 entries but there are 2 samples"):
        clap.score([_sound(0.5), _sound(0.5)], 16000, ["a"])
    with pytest.raises(ValueError, match="prompts has 2 entries"):
        mini.score_sounds(np.zeros((1, NUM_SAMPLES)), 16000, ["siren", "rain"])


def test_mean_ci_by_hand():
    mean, half = mean_ci([1.0, 2.0, 3.0, 4.0])
    std = math.sqrt(((1.5**2) * 2 + (0.5**2) * 2) / 3)
    assert mean == 2.5 and half == pytest.approx(1.96 * std / 2)
    assert mean_ci([7.0])[0] == 7.0 and math.isnan(mean_ci([7.0])[1])
    with pytest.raises(ValueError, match="empty"):
        mean_ci([])


def test_rerank_by_hand():
    pictures = [90, 10, 80, 70, 20, 60, 30, 50]  # ranks 0 7 1 2 6 3 5 4
    sounds = [10, 20, 85, 95, 30, 90, 40, 50]  # ranks 7 6 2 0 5 1 4 3
    # top 2 (= ceil(0.25 * 8)) by picture: 0, 2; by sound: 3, 5
    assert rerank(pictures, sounds, 0.25, "picture").tolist() == [0, 2]
    assert rerank(pictures, sounds, 0.25, "sound").tolist() == [3, 5]
    # top 4 by both: picture {0, 2, 3, 5}, sound {3, 5, 2, 7} -> {2, 3, 5} by rank sum 3, 2, 4
    assert rerank(pictures, sounds, 0.5, "both").tolist() == [3, 2, 5]
    # top 1 by picture is 0, by sound 3: none in both -> the best rank sum (1: 1 + 1)
    with pytest.warns(UserWarning, match="best sum of ranks"):
        assert rerank([5, 4, 3, 2, 1], [1, 4, 3, 5, 2], 0.2, "both").tolist() == [1]
    with pytest.raises(ValueError, match="same length"):
        rerank([1, 2], [1], 0.5)
    with pytest.raises(ValueError, match="top_fraction"):
        rerank([1, 2], [1, 2], 0.0)


# --- folders, FID and FAD --------------------------------------------------------------------


def _folder(root: Path, seeds: list[int]) -> Path:
    for seed in seeds:
        _result(seed).save(root / f"sample_{seed:03d}")
    return root


def test_bad_folders_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fid(tmp_path / "missing", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no sample_"):
        fad(tmp_path / "empty", tmp_path / "empty", embedder=object())
    folder = _folder(tmp_path / "samples", [0, 1])
    (folder / "sample_001" / "audio.wav").unlink()
    with pytest.raises(FileNotFoundError, match="sample_001.*audio.wav"):
        fad(folder, folder, embedder=object())
    assert len(sample_folders(folder, "spectrogram.png")) == 2


class _Pool(torch.nn.Module):
    """A small fixed feature extractor for FID tests: 4 x 4 average pooling, 16 features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x[:, :1], 4).flatten(1)


def test_fid_and_fad_with_torchmetrics(tmp_path, clap):
    ours = _folder(tmp_path / "ours", [0, 1, 2])
    theirs = _folder(tmp_path / "theirs", [3, 4, 5])
    assert fid(ours, ours, feature=_Pool()) == pytest.approx(0.0, abs=1e-3)
    assert fid(ours, theirs, feature=_Pool()) >= 0.0
    assert fad(ours, ours, embedder=clap) == pytest.approx(0.0, abs=1e-3)
    assert math.isfinite(fad(ours, theirs, embedder=clap))
