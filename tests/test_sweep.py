"""Sweeps: prompt sets, the grid, resuming, scoring folders, and a two-process run."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from itslib import evaluate, sweep

from .numerics import assert_close_across_kernels


def test_paper_prompt_sets_ship_as_data():
    grid = sweep.load_prompt_pairs("paper-quantitative")
    assert len(grid) == 100 and len(set(grid)) == 100
    assert ("a painting of castles, grayscale", "dog barking") in grid
    assert all(img.endswith(", grayscale") for img, _ in grid)
    human = sweep.load_prompt_pairs("paper-human-study")
    assert len(human) == 7
    assert human[0] == ("a painting of castle towers, grayscale", "bell ringing")
    assert len(sweep.load_prompt_pairs("mini-classes")) == 64


def test_prompt_files_and_their_errors(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"image_prompts": ["a", "b"], "audio_prompts": ["x", "y"],
                                "pairing": "zip"}))  # fmt: skip
    assert sweep.load_prompt_pairs(str(good)) == [("a", "x"), ("b", "y")]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"image_prompts": ["a", "b"], "audio_prompts": ["x"],
                               "pairing": "zip"}))  # fmt: skip
    with pytest.raises(ValueError, match="as many image prompts"):
        sweep.load_prompt_pairs(str(bad))
    with pytest.raises(FileNotFoundError, match="neither a prompt set"):
        sweep.load_prompt_pairs(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="pairs"):
        (tmp_path / "p.json").write_text(json.dumps({"pairs": [["only one"]]}))
        sweep.load_prompt_pairs(str(tmp_path / "p.json"))


def test_grid_of_settings_and_variants():
    grid = sweep.parse_settings(["steps=25,50", "image_start=0,0.1"])
    assert grid == [{"steps": 25, "image_start": 0}, {"steps": 25, "image_start": 0.1},
                    {"steps": 50, "image_start": 0}, {"steps": 50, "image_start": 0.1}]  # fmt: skip
    variants = sweep.make_variants(["joint", "imprint"], grid)
    # the imprint baseline has no warm start: one variant per distinct step count
    assert [v.name for v in variants if v.method == "imprint"] == [
        "imprint (steps=25)", "imprint (steps=50)"]  # fmt: skip
    assert len([v for v in variants if v.method == "joint"]) == 4
    jobs = sweep.make_jobs(variants, [("a", "x"), ("b", "y")], [0, 1])
    assert len(jobs) == 6 * 2 * 2 and len({(j.variant.folder, j.key) for j in jobs}) == len(jobs)
    same_label = [sweep.Variant("joint", {"steps": n}, label="joint") for n in (25, 50)]
    assert same_label[0].folder != same_label[1].folder  # other settings, other rows
    with pytest.raises(ValueError, match="name=value"):
        sweep.parse_settings(["steps"])
    with pytest.raises(ValueError, match="methods"):
        sweep.make_variants(["magic"], [{}])


def _table(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_sweep_resumes_and_scores_folders(tmp_path):
    from itslib.worlds import load_world

    world = load_world("mini")
    judges = world.load_judges()
    variants = sweep.make_variants(["joint", "imprint"], [{"steps": 2}])
    jobs = sweep.make_jobs(variants, [("waves", "chord"), ("stars", "siren")], [0])
    made = sweep.run_sweep(world, jobs, tmp_path, {"vocoder": "griffin-lim"}, judges,
                           progress=False)
    assert len(made) == 4
    rows, summary = sweep.write_table(tmp_path, jobs, scale=100)
    assert [r["variant"] for r in rows] == ["joint (steps=2)", "imprint (steps=2)"] * 2
    assert all(0 <= r["picture_score"] <= 100 and r["both_accept"] in (0.0, 1.0) for r in rows)
    assert [s["n"] for s in summary] == [2, 2]
    # a sample lost in an interruption is redone, the finished ones are skipped
    lost = sweep.row_path(tmp_path, jobs[3])
    lost.unlink()
    again = sweep.run_sweep(world, jobs, tmp_path, {"vocoder": "griffin-lim"}, judges,
                            progress=False)  # fmt: skip
    assert [(r["pair"], r["variant"]) for r in again] == [(1, "imprint (steps=2)")]
    assert again[0]["picture_score"] == pytest.approx(rows[3]["picture_score"], abs=1e-6)
    assert len(_table(tmp_path / "results.csv")) == 4
    # the saved sample folders score like the results did
    folder = tmp_path / "samples" / variants[0].folder
    assert variants[0].folder.startswith("joint-steps-2-")
    scored = sweep.score_folder(folder, judges)
    assert [s["folder"] for s in scored] == ["sample_p000_s0", "sample_p001_s0"]
    expected = [rows[0]["picture_score"], rows[2]["picture_score"]]
    assert np.allclose([s["picture_score"] for s in scored], expected, atol=1.0)  # 8-bit PNG


def test_scoring_bad_folders(tmp_path):
    from itslib.worlds import WORLDS

    judges = WORLDS["mini"].load_judges()
    with pytest.raises(ValueError, match="holds no sample_"):
        sweep.score_folder(tmp_path, judges)
    (tmp_path / "sample_000").mkdir()
    (tmp_path / "sample_000" / "spectrogram.png").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="audio.wav"):
        sweep.score_folder(tmp_path, judges)


def test_two_processes_make_the_table_of_one(tmp_path):
    """``accelerate launch`` with two CPU processes splits the grid; the merged table is the
    one-process table (up to the measured seconds and float noise from thread counts)."""
    args = ["sweep", "--models", "mini", "--prompts", "examples", "--pairs", "2", "--methods",
            "joint", "imprint", "--seeds", "1", "--set", "steps=2", "--no-samples"]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    one = subprocess.run([sys.executable, "-m", "itslib", *args, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert one.returncode == 0, one.stderr[-2000:]
    launch = [shutil.which("accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "--main_process_port", "29533", "-m", "itslib"]  # fmt: skip
    two = subprocess.run([*launch, *args, "--out", str(tmp_path / "two")], env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert two.returncode == 0, two.stderr[-2000:]
    assert "[process 1/2]" in two.stdout and "[process 2/2]" in two.stdout
    a, b = _table(tmp_path / "one" / "results.csv"), _table(tmp_path / "two" / "results.csv")
    assert len(a) == len(b) == 4
    for x, y in zip(a, b, strict=True):
        for key in ("variant", "pair", "image_prompt", "audio_prompt", "seed", "both_accept",
                    "unet_evaluations"):  # fmt: skip
            assert x[key] == y[key]
        for key in ("picture_score", "sound_score"):
            # 2 steps, the decoder and the judge, on 1 thread against 2 processes
            assert_close_across_kernels(float(x[key]), float(y[key]), passes=4, scale=100)


def test_cheapest_setting_within_the_reference_intervals():
    from itslib.evaluate import cheapest_within

    def line(name, p, s, b, evals, seconds, ci=0.05):
        return {"variant": name, "picture_score": p, "picture_score_ci": ci, "sound_score": s,
                "sound_score_ci": ci, "both_accept": b, "both_accept_ci": ci,
                "unet_evaluations": evals, "seconds": seconds}  # fmt: skip

    summary = [line("DDIM 100", 0.6, 0.6, 0.4, 380, 10.0),
               line("DDIM 25", 0.58, 0.62, 0.37, 96, 2.5),
               line("DPM 15", 0.5, 0.6, 0.4, 56, 1.5)]  # fmt: skip
    best = cheapest_within(summary)
    assert best["variant"] == "DDIM 25"  # DPM 15's picture score falls outside
    assert best["evaluation_speedup"] == pytest.approx(380 / 96)
    assert best["seconds_speedup"] == pytest.approx(4.0)
    with pytest.raises(ValueError, match="reference"):
        cheapest_within(summary, reference="DDIM 1000")


def test_meetings_name_each_class_best_partner():
    rows = [
        {"image_prompt": "waves", "audio_prompt": "rain", "both_accept": 1.0},
        {"image_prompt": "waves", "audio_prompt": "rain", "both_accept": 0.0},
        {"image_prompt": "waves", "audio_prompt": "siren", "both_accept": 0.0},
        {"image_prompt": "stars", "audio_prompt": "siren", "both_accept": 0.0,
         "picture_score": 0.4},
        {"image_prompt": "stars", "audio_prompt": "rain", "both_accept": 0.0,
         "picture_score": 0.3},
        {"image_prompt": "stars", "audio_prompt": "bell", "both_accept": float("nan")},
        {"image_prompt": "stars", "audio_prompt": "siren", "both_accept": 1.0,
         "variant": "imprint"},
    ]
    rows = [{"variant": "joint", "picture_score": 0.0, "sound_score": 0.0} | r for r in rows]
    best = evaluate.meetings(rows, "joint")
    # a tie at 0 goes to the higher score; the row without judges (NaN) is left out
    assert best["picture"] == {"waves": ("rain", 0.5), "stars": ("siren", 0.0)}
    assert "bell" not in best["sound"]
    assert best["sound"]["rain"] == ("waves", 0.5) and best["sound"]["siren"][1] == 0.0
    text = evaluate.meetings_markdown(rows, "joint")
    assert "| waves | rain | 0.50 |" in text and "| siren |" in text
