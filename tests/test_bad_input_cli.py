"""Bad input at the command line and in the pipeline's API: a clear error that names the
parameter and the fix, before any model loads, and nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from itslib import cli


@pytest.fixture
def no_models(monkeypatch):
    """Any attempt to load a world's models fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was checked")

    monkeypatch.setattr(cli, "load_world", refuse)
    monkeypatch.setattr(cli, "load_colorizer", refuse)
    monkeypatch.setattr(cli, "load_if_expert", refuse)


def error_of(argv: list[str], capsys) -> str:
    assert cli.main(argv) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--height", "0"], "height=0 must be a positive multiple of 8"),
        (["generate", "--width", "100"], "downsamples by 8); try 96"),
        (["generate", "--out", ""], "--out='' names no folder"),
        (["generate", "--strength", "0.5"], "strength=0.5 needs a starting picture or sound"),
        (["generate", "--image-guidance", "inf"], "image_guidance=inf must be a finite number"),
        (["generate", "--audio-weight", "nan"], "audio_weight=nan must be in [0, 1]"),
        (["generate", "--steps", "0"], "steps=0 must be a whole number >= 1"),
        (["generate", "--image-start", "0.2", "--audio-start", "0.3"], "no expert is active"),
        (["generate", "--image-prompt", "waves"], "give both --image-prompt and --audio-prompt"),
        (["generate", "--dtype", "fp16", "--device", "cpu"], "--dtype fp16 runs only on a CUDA"),
        (["generate", "--device", "gpu"], "--device='gpu' is not a device"),
        (["generate", "--init-picture", "nowhere.png"], "--init-picture 'nowhere.png' does not"),
        (["imprint", "--image-prompt", "a", "--picture", "p.png", "--audio-prompt", "b"],
         "give one of --image-prompt and --picture, not both"),
        (["imprint", "--image-prompt", "a", "--audio-prompt", "b", "--strength", "2"],
         "strength=2.0 must be in [0, 1]"),
        (["sds", "--image-prompt", "a", "--audio-prompt", "b", "--steps", "0"],
         "steps=0 must be a whole number >= 1"),
        (["sweep", "--set", "stepz=5"], "--set stepz: no chosen method takes it"),
        (["sweep", "--set", "steps=five"], "steps='five' must be a whole number"),
        (["sweep", "--seeds", "0"], "--seeds=0 must be >= 1"),
        (["sweep", "--pairs", "0"], "--pairs=0 must be >= 1"),
        (["evaluate", "--seeds", "0"], "--seeds=0 must be >= 1"),
        (["evaluate", "--pairs", "0"], "--pairs=0 must be in 1..64"),
        (["evaluate", "--pairs", "99"], "--pairs=99 must be in 1..64"),
        (["evaluate", "--table", "table1", "--variants", "nosuch"], "variants ['nosuch'] are not"),
        (["evaluate", "--weights", "/nowhere"], "--weights '/nowhere' is not a folder"),
        # what the world can take, known before its models load
        (["generate", "--models", "mini", "--height", "64"],
         "height=64 must be 128, this world's mel bins"),
        (["imprint", "--models", "mini", "--height", "256", "--image-prompt", "waves",
          "--audio-prompt", "siren"], "height=256 must be 128"),
        (["imprint", "--models", "mini", "--image-prompt", "a castle", "--audio-prompt", "siren"],
         "image_prompt='a castle' is not one of the mini world's classes"),
        (["sds", "--models", "mini", "--image-prompt", "waves", "--audio-prompt", "a dog"],
         "audio_prompt='a dog' is not one of the mini world's classes"),
        (["sweep", "--models", "mini", "--prompts", "paper-quantitative"],
         "image_prompt='a painting of castles, grayscale' is not one of the mini world's"),
        (["generate", "--scheduler", "euler", "--eta", "0.7"], "eta=0.7 applies to DDIM only"),
        # evaluate: every row's settings, and where it writes
        (["evaluate", "--guidance", "nan"], "image_guidance=nan must be a finite number >= 0"),
        (["evaluate", "--guidance", "-1"], "image_guidance=-1.0 must be a finite number >= 0"),
        (["evaluate", "--table", "table1", "--variants", "image-only", "--guidance", "-1"],
         "image_guidance=-1.0 must be a finite number >= 0"),
        (["evaluate", "--grid", "g.png", "--steps", "0"], "--steps=0 must be >= 1"),
        (["evaluate", "--out", "taken.txt"], "--out='taken.txt' is a file"),
        (["evaluate", "--grid", "grid"], "--grid='grid' must name a .png file"),
        (["evaluate", "--grid", "taken.txt/g.png"], "--grid's folder="),
        (["rehearse", ""], "folder='' names no folder"),
    ],
)
def test_bad_flags_are_named_before_any_model_loads(argv, message, no_models, tmp_path,
                                                    monkeypatch, capsys):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.txt").write_text("the reader's")
    if "--out" not in argv and argv[0] not in ("evaluate", "rehearse"):
        argv = [*argv, "--out", str(tmp_path / "out")]
    err = error_of(argv, capsys)
    assert message in err, err
    # nothing left behind, nothing of the reader's touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.txt"]
    assert (tmp_path / "taken.txt").read_text() == "the reader's"


def test_cuda_asked_for_on_a_machine_without_one(no_models, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    err = error_of(["generate", "--device", "cuda", "--out", str(tmp_path / "o")], capsys)
    assert "--device='cuda': this torch sees no CUDA GPU" in err


def test_prompt_files_that_are_not_prompt_sets(no_models, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "load_world", lambda *a, **k: type("W", (), {"examples": []})())
    as_list = tmp_path / "list.json"
    as_list.write_text(json.dumps([["a", "b"]]))
    broken = tmp_path / "broken.json"
    broken.write_text('{"pairs": [["a", "b"]')
    for path, message in ((as_list, "holds a JSON list; it must be an object"),
                          (broken, "is not valid JSON")):  # fmt: skip
        err = error_of(["sweep", "--prompts", str(path), "--out", str(tmp_path / "o")], capsys)
        assert message in err and path.name in err


def test_a_prompt_the_world_cannot_take_is_refused_before_its_models_load(
        no_models, tmp_path, capsys, monkeypatch):  # fmt: skip
    monkeypatch.setenv("ITSLIB_WORLD", "mini")
    out = tmp_path / "never"
    err = error_of(["generate", "--image-prompt", "a castle", "--audio-prompt", "siren",
                    "--steps", "2", "--out", str(out)], capsys)  # fmt: skip
    assert "image_prompt='a castle' is not one of the mini world's classes: circles" in err
    assert not out.exists()


def test_an_error_after_the_models_load_leaves_no_empty_folder(tmp_path, capsys, monkeypatch):
    from itslib.pipeline import ImagesThatSound

    def fails(*args, **kwargs):
        raise ValueError("something only sampling finds")

    monkeypatch.setenv("ITSLIB_WORLD", "mini")
    monkeypatch.setattr(ImagesThatSound, "__call__", fails)
    out = tmp_path / "never"
    err = error_of(["generate", "--steps", "2", "--out", str(out)], capsys)
    assert "something only sampling finds" in err
    assert not out.exists()


@pytest.mark.parametrize("keyword", [{"steps": 3.5}, {"seed": 1.5}, {"image_guidance": "high"}])
def test_the_api_names_bad_settings(keyword):
    from itslib.worlds import load_world

    pipe = load_world("mini").pipeline
    name = next(iter(keyword))
    with pytest.raises(ValueError, match=name):
        pipe("waves", "siren", **keyword, progress=False)
    with pytest.raises(ValueError, match="image_prompt=None must be a string"):
        pipe(None, "siren", steps=2, progress=False)
    with pytest.raises(ValueError, match="init_picture has values in"):
        pipe("waves", "siren", steps=2, init_picture=np.full((64, 256), 255.0), progress=False)


def test_imprint_with_own_files_loads_no_model(no_models, tmp_path, capsys):
    picture = tmp_path / "photo.png"
    Image.fromarray((np.random.default_rng(0).random((300, 200)) * 255).astype(np.uint8)).save(
        picture
    )
    sound = tmp_path / "voice.wav"
    sf.write(sound, 0.3 * np.sin(np.linspace(0, 4000, 16000 * 12)), 16000)  # 12 s
    out = tmp_path / "imprinted"
    assert cli.main(["imprint", "--picture", str(picture), "--sound", str(sound),
                     "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "first 10.24 s" in printed
    spectrogram = np.asarray(Image.open(out / "sample_000" / "spectrogram.png"))
    assert spectrogram.shape[:2] == (256, 1024)  # the real canvas, the whole 10.24 s
    params = json.loads((out / "sample_000" / "params.json").read_text())
    assert params["own_picture"] and params["own_sound"] and params["vocoder"] == "griffin-lim"
    wav, rate = sf.read(out / "sample_000" / "audio.wav")
    assert rate == 16000 and len(wav) == 1024 * 160
    assert Path(out / "sample_000" / "image.png").is_file()


def test_imprint_of_own_files_refuses_many_samples(no_models, tmp_path, capsys):
    picture, sound = tmp_path / "photo.png", tmp_path / "voice.wav"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(picture)
    sf.write(sound, np.zeros(1600), 16000)
    out = tmp_path / "imprinted"
    message = error_of(["imprint", "--picture", str(picture), "--sound", str(sound),
                        "--num-samples", "3", "--out", str(out)], capsys)  # fmt: skip
    assert "--num-samples=3 with --picture and --sound" in message and "drop" in message
    assert not out.exists()
