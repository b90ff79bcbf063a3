"""Many samples at once: a batched sample equals the one drawn alone."""

from __future__ import annotations

import pytest
import torch

from itslib.baselines import imprint_baseline, imprint_many
from itslib.experts import load_audio_expert, load_image_expert
from itslib.pipeline import ImagesThatSound

from .numerics import assert_close_across_kernels


@pytest.fixture(scope="module")
def pipeline(tiny_repos):
    image, sound = tiny_repos
    return ImagesThatSound(load_image_expert(image, device="cpu"),
                           load_audio_expert(sound, device="cpu"))  # fmt: skip


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
@pytest.mark.parametrize("image_start", [0.0, 0.25])
def test_a_batched_sample_equals_the_one_drawn_alone(pipeline, scheduler, image_start):
    kwargs = dict(steps=4, height=256, width=64, seed=11, scheduler=scheduler,
                  image_start=image_start, vocoder="hifigan", progress=False)  # fmt: skip
    together = pipeline("a castle", "bell ringing", num_samples=2, batch_size=2, capture=True,
                        **kwargs)  # fmt: skip
    alone = pipeline("a castle", "bell ringing", num_samples=2, batch_size=1, capture=True,
                     **kwargs)  # fmt: skip
    assert [r.params["seed"] for r in together] == [11, 12]
    assert [r.params["batch_size"] for r in together] == [2, 2]
    for a, b in zip(together, alone, strict=True):
        assert_close_across_kernels(a.latents, b.latents, passes=4)
        assert_close_across_kernels(a.spectrogram, b.spectrogram, passes=5)  # + the decoder
        assert a.params["unet_evaluations"] == b.params["unet_evaluations"]
        assert len(a.trajectory) == len(b.trajectory) == 4
        assert_close_across_kernels(a.trajectory[3].x0, b.trajectory[3].x0, passes=4)
        assert sorted(a.trajectory[0].noise) == sorted(b.trajectory[0].noise)
    # the samples of a batch are different samples, which the tolerance tells apart
    assert (together[0].latents - together[1].latents).abs().max() > 1e-2
    with pytest.raises(AssertionError):
        assert_close_across_kernels(together[0].latents, alone[1].latents, passes=4)


def test_batches_split_and_warm_starts_from_a_picture(pipeline):
    picture = torch.rand(256, 64).numpy()
    kwargs = dict(steps=4, height=256, width=64, seed=3, init_picture=picture, strength=0.5,
                  vocoder="hifigan", progress=False)  # fmt: skip
    five = pipeline("a castle", "bell ringing", num_samples=5, batch_size=2, **kwargs)
    assert [r.params["batch_size"] for r in five] == [2, 2, 2, 2, 1]
    (fourth,) = pipeline("a castle", "bell ringing", **(kwargs | {"seed": 6}))
    assert_close_across_kernels(five[3].latents, fourth.latents, passes=4)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="batch_size="):
            pipeline("a castle", "bell ringing", batch_size=bad, **kwargs)


class FixedJudges:
    """Judges whose scores are given: picture and sound score per sample, in order."""

    unit = "test score"

    def __init__(self, pictures, sounds):
        self.rows = [{"picture_score": p, "sound_score": s, "both_accept": float("nan")}
                     for p, s in zip(pictures, sounds, strict=True)]  # fmt: skip

    def score(self, results):
        return [dict(row) for row in self.rows[: len(results)]]


def test_keep_best_ranks_by_both_scores():
    from itslib.metrics import keep_best
    from itslib.results import Result

    empty = dict(image=None, spectrogram=None, logmel=None, waveform=None, latents=None)
    results = [Result(sample_rate=16000, params={"seed": k}, **empty) for k in range(4)]
    # ranks: picture (3, 0, 1, 2), sound (0, 3, 1, 2): sums 3, 3, 2, 4
    judges = FixedJudges([10, 40, 30, 20], [40, 10, 30, 20])
    kept, table = keep_best(results, judges, keep=2)
    assert [r.params["seed"] for r in kept] == [2, 0]  # rank sum 2, then 3 (first of a tie)
    assert kept[0].params["rank"] == 0 and kept[0].params["picture_score"] == 30
    assert results[3].params["rank"] == 3
    assert table.count("| yes |") == 2 and "test score" in table
    for bad in (0, 5, 1.5):
        with pytest.raises(ValueError, match="keep="):
            keep_best(results, judges, keep=bad)


def test_generate_keeps_the_best(tmp_path, monkeypatch, capsys):
    from itslib.cli import main
    monkeypatch.setenv("ITSLIB_WORLD", "mini")
    out = tmp_path / "best"
    assert main(["generate", "--num-samples", "3", "--keep", "1", "--batch-size", "2",
                 "--steps", "3", "--out", str(out)]) == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["ranking.md", "sample_000"]
    ranking = (out / "ranking.md").read_text()
    assert ranking.count("| yes |") == 1 and ranking.count("\n| ") == 4  # header + 3 samples
    assert main(["generate", "--num-samples", "2", "--keep", "3", "--out", str(out)]) == 2
    assert "--keep=3 must be in 1..--num-samples (2)" in capsys.readouterr().err


def test_a_sweep_groups_consecutive_seeds_of_one_variant_and_pair():
    from itslib import sweep

    variants = sweep.make_variants(["joint", "imprint"], [{"steps": 2}])
    jobs = sweep.make_jobs(variants, [("waves", "chord"), ("stars", "siren")], [0, 1, 2, 4])
    groups = sweep.batches(jobs, size=2)
    keys = [(g[0].variant.method, g[0].pair, [j.seed for j in g]) for g in groups]
    assert keys == [("joint", 0, [0, 1]), ("joint", 0, [2]), ("joint", 0, [4]),
                    ("imprint", 0, [0, 1]), ("imprint", 0, [2]), ("imprint", 0, [4]),
                    ("joint", 1, [0, 1]), ("joint", 1, [2]), ("joint", 1, [4]),
                    ("imprint", 1, [0, 1]), ("imprint", 1, [2]), ("imprint", 1, [4])]  # fmt: skip
    assert sorted(j.key + j.variant.method for g in groups for j in g) == sorted(
        j.key + j.variant.method for j in jobs)  # every job once


def test_a_batch_that_does_not_fit_names_batch_size(pipeline, monkeypatch):
    import itslib.pipeline as module

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(module, "sample", out_of_memory)
    with pytest.raises(module.BatchTooLargeError, match=r"batch_size=4 does not fit.*size 2"):
        pipeline("a castle", "bell ringing", num_samples=4, steps=2, height=256, width=64,
                 progress=False)  # fmt: skip


def test_imprint_denoises_its_seeds_together_as_each_alone(pipeline):
    kwargs = dict(image_steps=3, audio_steps=2, height=256, width=64, vocoder="hifigan")
    together = imprint_many(pipeline, "a castle", "bell ringing", seeds=[5, 9], **kwargs)
    assert [r.params["seed"] for r in together] == [5, 9]
    assert [r.params["batch_size"] for r in together] == [2, 2]
    for seed, batched in zip((5, 9), together, strict=True):
        alone = imprint_baseline(pipeline, "a castle", "bell ringing", seed=seed, **kwargs)
        assert abs(batched.spectrogram - alone.spectrogram).max() < 1e-4
        assert abs(batched.image - alone.image).max() < 1e-4
        assert abs(batched.waveform - alone.waveform).max() < 1e-3
    assert abs(together[0].spectrogram - together[1].spectrogram).max() > 1e-2
    split = imprint_many(pipeline, "a castle", "bell ringing", seeds=[5, 9], batch_size=1,
                         **kwargs)  # fmt: skip
    assert [r.params["batch_size"] for r in split] == [1, 1]
    assert abs(split[1].spectrogram - together[1].spectrogram).max() < 1e-4
    for bad, message in (([], "seeds=\\[\\] must be a non-empty list"),
                         (3, "seeds=3 must be"), ([1.5], "seeds=\\[1.5\\] must be")):
        with pytest.raises(ValueError, match=message):
            imprint_many(pipeline, "a castle", "bell ringing", seeds=bad, **kwargs)
    with pytest.raises(ValueError, match="batch_size=0 must be"):
        imprint_many(pipeline, "a castle", "bell ringing", seeds=[1], batch_size=0, **kwargs)
    with pytest.raises(ValueError, match="seed=0.7 must be a whole number"):
        imprint_baseline(pipeline, "a castle", "bell ringing", seed=0.7, **kwargs)
