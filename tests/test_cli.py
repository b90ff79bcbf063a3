"""The command line, end to end on tiny random models loaded from SD-layout folders."""

import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from itslib.cli import build_parser, main


def generate_args(tiny_repos, out, *extra):
    image, sound = tiny_repos
    return ["generate", "--image-prompt", "a castle", "--audio-prompt", "bell ringing",
            "--image-model", str(image), "--audio-model", str(sound), "--steps", "4",
            "--height", "256", "--width", "64", "--out", str(out), *extra]  # fmt: skip


def test_generate_writes_sample_folders(tiny_repos, tmp_path):
    out = tmp_path / "run"
    code = main(generate_args(tiny_repos, out, "--num-samples", "2", "--seed", "7",
                              "--save-latents", "--video"))  # fmt: skip
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["sample_000", "sample_001"]
    for k, folder in enumerate(sorted(out.iterdir())):
        names = sorted(p.name for p in folder.iterdir())
        assert names == ["audio.wav", "image.png", "latents.npy", "params.json",
                         "spectrogram.png", "video.mp4"]  # fmt: skip
        params = json.loads((folder / "params.json").read_text())
        assert params["seed"] == 7 + k
        assert params["unet_evaluations"] == 2 * (4 + 4)
        assert params["image_model"].endswith("tiny-sd") and params["steps"] == 4
        assert params["scheduler"] == "ddim" and params["device"] == "cpu"
        assert Image.open(folder / "spectrogram.png").mode == "L"
        assert Image.open(folder / "spectrogram.png").size == (62, 256)
        assert Image.open(folder / "image.png").size == (62, 256)
        wav, rate = sf.read(folder / "audio.wav")
        assert rate == 16000 and wav.shape == (62 * 160,)
        assert np.load(folder / "latents.npy").shape == (4, 32, 8)
        assert (folder / "video.mp4").stat().st_size > 1000


def test_existing_sample_is_never_overwritten_silently(tiny_repos, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(generate_args(tiny_repos, out)) == 0
    before = (out / "sample_000" / "params.json").read_text()
    assert main(generate_args(tiny_repos, out, "--seed", "9")) == 2
    assert "already exist" in capsys.readouterr().err
    assert (out / "sample_000" / "params.json").read_text() == before
    assert main(generate_args(tiny_repos, out, "--seed", "9", "--overwrite")) == 0
    assert json.loads((out / "sample_000" / "params.json").read_text())["seed"] == 9
    assert sorted(p.name for p in out.iterdir()) == ["sample_000"]  # no staging folders left


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--width", "60"], "width=60 must be a positive multiple of 8"),
        (["--audio-weight", "2"], "audio_weight=2.0 must be in [0, 1]"),
        (["--image-start", "0.5", "--audio-start", "0.5"], "no expert is active at step 0"),
        (["--audio-guidance", "-3"], "audio_guidance=-3.0 must be a finite number >= 0"),
        (["--steps", "0"], "steps=0 must be a whole number >= 1"),
    ],
)
def test_bad_input_fails_before_any_work(tiny_repos, tmp_path, capsys, extra, message):
    out = tmp_path / "run"
    assert main(generate_args(tiny_repos, out, *extra)) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_unwritable_output_and_missing_model(tiny_repos, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(generate_args(tiny_repos, blocker / "out")) == 2
    err = capsys.readouterr().err
    assert "not writable" in err or "not a folder" in err
    args = generate_args(tiny_repos, tmp_path / "run")
    args[args.index("--image-model") + 1] = "itslib-tests/not-cached"
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "itslib-tests/not-cached" in err and "local folder" in err
    assert not (tmp_path / "run" / "sample_000").exists()


def test_help_explains_every_option():
    parser = build_parser()
    generate = parser._subparsers._group_actions[0].choices["generate"]
    text = generate.format_help()
    for action in generate._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, action.dest
            assert action.option_strings[0] in text
    assert "(default: 100)" in text and "(default: 0.5)" in text


def test_unknown_scheduler_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--image-prompt", "a", "--audio-prompt", "b", "--scheduler", "x"])
    assert "invalid choice" in capsys.readouterr().err


def model_args(tiny_repos):
    return ["--image-model", str(tiny_repos[0]), "--audio-model", str(tiny_repos[1]),
            "--height", "256", "--width", "64"]  # fmt: skip


def test_imprint_with_own_files(tiny_repos, tmp_path):
    Image.fromarray((np.random.default_rng(0).uniform(size=(30, 50)) * 255).astype(np.uint8)).save(
        tmp_path / "me.png"
    )
    t = np.arange(8000) / 8000
    sf.write(tmp_path / "me.wav", np.sin(2 * np.pi * 300 * t), 8000)
    out = tmp_path / "imprint"
    code = main(["imprint", "--picture", str(tmp_path / "me.png"), "--sound",
                 str(tmp_path / "me.wav"), "--out", str(out), *model_args(tiny_repos)])  # fmt: skip
    assert code == 0
    params = json.loads((out / "sample_000" / "params.json").read_text())
    assert params["method"] == "imprint" and params["own_picture"] and params["own_sound"]
    wav, rate = sf.read(out / "sample_000" / "audio.wav")
    assert rate == 16000 and wav.shape == (64 * 160,)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strength", "1.5", "--image-prompt", "a", "--audio-prompt", "b"],
         "strength=1.5 must be in [0, 1]"),
        (["--picture", "nowhere.png", "--audio-prompt", "b"], "does not exist"),
        (["--audio-prompt", "b"], "give --image-prompt or --picture"),
    ],
)
def test_imprint_bad_input(tiny_repos, tmp_path, capsys, extra, message):
    assert main(["imprint", *extra, "--out", str(tmp_path / "o"), *model_args(tiny_repos)]) == 2
    assert message in capsys.readouterr().err


def test_sds_command(tiny_repos, tmp_path):
    out = tmp_path / "sds"
    code = main(["sds", "--image-prompt", "a castle", "--audio-prompt", "bell ringing",
                 "--steps", "3", "--audio-only-steps", "1", "--image-guidance", "7.5",
                 "--out", str(out), *model_args(tiny_repos)])  # fmt: skip
    assert code == 0
    params = json.loads((out / "sample_000" / "params.json").read_text())
    assert params["method"] == "sds" and set(params["losses"]) == {"audio", "image"}


def test_help_is_built_from_the_settings_and_the_worlds(capsys):
    """Flags, their help and their defaults come from the settings objects and the worlds'
    declared canvases, never typed again (the mini canvas was once 64 in the help)."""
    import dataclasses

    from itslib.cli import build_parser
    from itslib.sds import SDSSettings
    from itslib.settings import Settings
    from itslib.worlds import WORLDS

    parser = build_parser()
    for command, cls in (("generate", Settings), ("sds", SDSSettings)):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for field in dataclasses.fields(cls):
            flag = field.metadata.get("flag")
            if flag:
                spelled = flag if isinstance(flag, str) else field.name.replace("_", "-")
                assert f"--{spelled}" in text, (command, spelled)
        for axis in (0, 1):
            canvases = ", ".join(f"{w.canvas[axis]} {n}" for n, w in WORLDS.items())
            assert f"(default: the world's canvas: {canvases})" in text
    # sds's loss weights are not generate's mixing weight: their own names and help
    assert "--image-sds-weight" in text and "--audio-weight " not in text
    assert f"{WORLDS['mini'].sds.steps:,} mini" in text
