"""Choosing a world, and the miniature world through the same pipeline, CLI and tables."""

import json

import pytest
import torch

from itslib import worlds
from itslib.mini.experts import mini_pipeline

from .numerics import assert_close_across_kernels, assert_same_path


def test_pick_world(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("ITSLIB_WORLD", raising=False)
    assert worlds.pick_world("auto") == "mini"
    assert "No CUDA GPU" in capsys.readouterr().out
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert worlds.pick_world("auto") == "real"
    monkeypatch.setenv("ITSLIB_WORLD", "mini")
    assert worlds.pick_world("auto") == "mini"
    assert worlds.pick_world("real") == "real"  # an explicit choice wins
    monkeypatch.setenv("ITSLIB_WORLD", "moon")
    with pytest.raises(ValueError, match="ITSLIB_WORLD='moon'"):
        worlds.pick_world("auto")
    with pytest.raises(ValueError, match="models='big'"):
        worlds.pick_world("big")


def test_auto_falls_back_to_mini_when_the_hub_is_out_of_reach(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("ITSLIB_WORLD", raising=False)
    asked = {}

    def fake_mini_pipeline(folder=None, device="cpu", dtype=None):
        asked.update(device=device, dtype=dtype)
        return "mini!"

    monkeypatch.setattr(worlds, "mini_pipeline", fake_mini_pipeline)
    assert worlds.load_pipeline("auto", image_model="itslib-tests/not-cached") == "mini!"
    assert "not available" in capsys.readouterr().out
    # the reader's precision reaches the fallback (on the CPU: fp16 becomes fp32, said)
    worlds.load_pipeline("auto", image_model="itslib-tests/not-cached", dtype=torch.bfloat16)
    assert asked == {"device": "cpu", "dtype": torch.bfloat16}
    worlds.load_pipeline("auto", image_model="itslib-tests/not-cached", dtype=torch.float16)
    assert asked["dtype"] is None and "fp16 needs a CUDA GPU" in capsys.readouterr().out
    from itslib._hub import ModelUnavailableError

    with pytest.raises(ModelUnavailableError):
        worlds.load_pipeline("real", image_model="itslib-tests/not-cached")


def test_mini_world_samples_deterministically_through_the_same_sampler():
    pipe = mini_pipeline()
    assert pipe.world == "mini" and pipe.canvas == (128, 512)
    (a,) = pipe("circles", "siren", steps=10, seed=3, progress=False)
    (b,) = pipe("circles", "siren", steps=10, seed=3, progress=False)
    assert_same_path(a.latents, b.latents)
    assert a.spectrogram.shape == (128, 512) and a.image.shape == (128, 512, 3)
    assert a.waveform.shape == (512 * 80,) and a.params["vocoder"] == "griffin-lim"
    assert a.params["unet_evaluations"] == 2 * (9 + 10)
    with pytest.raises(ValueError, match="not one of this model's classes"):
        pipe("a castle", "siren", steps=2, progress=False)


def test_a_batched_mini_sample_is_the_one_drawn_alone():
    """The trained world, where the batch size picks other (channels-last) kernels: sample k
    of a batch is seed + k drawn alone, within the kernels' rounding."""
    pipe = mini_pipeline()
    kwargs = dict(steps=10, seed=3, num_samples=2, progress=False)
    together = pipe("circles", "siren", batch_size=2, **kwargs)
    alone = pipe("circles", "siren", batch_size=1, **kwargs)
    for a, b in zip(together, alone, strict=True):
        assert_close_across_kernels(a.latents, b.latents, passes=10)
        assert_close_across_kernels(a.spectrogram, b.spectrogram, passes=11)  # + the decoder
    assert abs(together[0].spectrogram - together[1].spectrogram).mean() > 0.05  # two samples


def test_cli_defaults_to_mini_without_a_gpu(tmp_path, monkeypatch, capsys):
    from itslib.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("ITSLIB_WORLD", raising=False)
    code = main(["generate", "--image-prompt", "waves", "--audio-prompt", "chord",
                 "--steps", "5", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    assert "miniature models" in capsys.readouterr().out
    params = json.loads((tmp_path / "sample_000" / "params.json").read_text())
    assert params["world"] == "mini" and params["width"] == 512


def test_evaluation_table_resumes(tmp_path):
    from itslib.evaluate import class_pairs, evaluate
    from itslib.mini.world import PICTURE_CLASSES, SOUND_CLASSES

    args = dict(seeds=1, steps=2, guidance=5.0, sds_steps=2, pairs=1)
    out, work = tmp_path / "results", tmp_path / "work"
    world = worlds.load_world("mini")
    rows = evaluate(world, "table1", out, work, variants=["joint", "imprint"], **args)
    assert [r["variant"] for r in rows] == ["imprint", "joint"]  # the table's order
    assert all(0 <= r["picture_score"] <= 1 and 0 <= r["sound_score"] <= 1 for r in rows)
    saved = json.loads((out / "table1.json").read_text())
    assert [s["variant"] for s in saved["summary"]] == ["imprint", "joint"]
    finished = sorted((work / "table1" / "rows").rglob("*.json"))
    stamps = [f.stat().st_mtime_ns for f in finished]
    again = evaluate(world, "table1", out, work, variants=["joint", "imprint", "audio-only"],
                     **args)
    assert len(again) == 3 and [f.stat().st_mtime_ns for f in finished] == stamps  # skipped
    assert "| audio-only |" in (out / "table1.md").read_text()
    with pytest.raises(ValueError, match="not in table1"):
        evaluate(world, "table1", out, work, variants=["magic"], **args)
    # any prefix of 8 x k diagonal pairs holds every class k times
    pairs = class_pairs(PICTURE_CLASSES, SOUND_CLASSES)
    assert len(set(pairs)) == 64
    assert sorted(s for _, s in pairs[:16]) == sorted(SOUND_CLASSES * 2)
    assert sorted(i for i, _ in pairs[:16]) == sorted(PICTURE_CLASSES * 2)
