"""``python -m itslib train-mini --quick`` trains every stage and the result loads; it
writes only where it is told, and checks its flags before it writes anything."""

import json
import re

import numpy as np
import pytest
import torch

from itslib.cli import main as cli_main
from itslib.mini import judge_pictures, judge_sounds, load_components
from itslib.mini.store import DEFAULT_WEIGHTS, weights_id
from itslib.mini.train import STAGES


def main(argv: list[str]) -> int:
    return cli_main(["train-mini", *argv])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The README's smoke run, as typed there: no --weights."""
    out = tmp_path_factory.mktemp("mini_run")
    shipped = weights_id(DEFAULT_WEIGHTS)
    torch_threads = torch.get_num_threads()
    assert main(["--out", str(out), "--seed", "0", "--quick"]) == 0
    torch.set_num_threads(torch_threads)
    assert weights_id(DEFAULT_WEIGHTS) == shipped  # the package's weights are untouched
    return out, out / "weights"


def test_quick_training_runs_every_stage(quick_run):
    out, weights = quick_run
    assert (weights / "training.json").is_file()  # exported into the run folder
    for stage in STAGES:
        assert (out / stage / "done.json").exists()
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert {record["stage"] for record in log} == set(STAGES)
    info = json.loads((weights / "training.json").read_text())
    assert info["seed"] == 0 and "--quick" in info["command"]
    accuracy = info["judge_accuracy"]
    assert set(accuracy) >= {"picture_judge", "sound_judge_griffin_lim32",
                             "picture_judge_after_autoencoder",
                             "sound_judge_after_autoencoder_griffin_lim32"}  # fmt: skip
    assert all(0 <= accuracy[k] <= 1 for k in accuracy if not k.startswith("n_"))
    assert info["weights_bytes"] <= 25 * 2**20


def test_quick_weights_load_and_run(quick_run):
    _, weights = quick_run
    parts = load_components(weights)
    assert parts.vae.config.scaling_factor > 0
    assert parts.scheduler_config["beta_schedule"] == "scaled_linear"
    x = torch.randn(2, 4, 32, 128)
    with torch.no_grad():
        eps = parts.image_unet(x, torch.tensor([10, 10]), class_labels=torch.tensor([0, 8])).sample
        pictures = parts.vae.decode(x / parts.scaling_factor).sample
    assert eps.shape == x.shape and pictures.shape == (2, 1, 128, 512)
    rng = np.random.default_rng(0)
    probs = judge_pictures(rng.random((3, 128, 512)), judge=parts.picture_judge)
    assert probs.shape == (3, 8) and np.allclose(probs.sum(1), 1, atol=1e-5)
    probs = judge_sounds(rng.standard_normal((2, 40960)) * 0.1, judge=parts["sound_judge"])
    assert probs.shape == (2, 8)


def test_resume_skips_finished_stages(quick_run, capsys):
    out, weights = quick_run
    before = {s: (out / s / "done.json").stat().st_mtime_ns for s in STAGES}
    main(["--out", str(out), "--seed", "0", "--quick", "--no-export"])
    assert {s: (out / s / "done.json").stat().st_mtime_ns for s in STAGES} == before
    assert capsys.readouterr().err.count("done, skipped") == len(STAGES)


def test_missing_weights_name_the_train_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="itslib train-mini"):
        load_components(tmp_path)


@pytest.mark.parametrize("flags, message", [  # message: a regular expression
    (["--seed", "-1"], "seed=-1 must be a whole number >= 0 \\(--seed\\)"),
    (["--threads", "0"], "threads=0 must be a whole number >= 1 \\(--threads\\)"),
    (["--steps-scale", "0"], "steps_scale=0.0 must be a finite number > 0 \\(--steps-scale"),
    (["--steps-scale", "-1"], "steps_scale=-1.0 must be a finite number > 0 \\(--steps-scale"),
    (["--steps-scale", "nan"], "steps_scale=nan must be a finite number > 0 \\(--steps-scale"),
    (["--steps-scale", "1e-6"], "leaves a stage without a step"),
    (["--weights", "FILE"], "weights \\(--weights\\)='.*FILE' is a file"),
])  # fmt: skip
def test_bad_flags_are_refused_before_anything_is_written(tmp_path, capsys, flags, message):
    (tmp_path / "FILE").write_text("mine")
    flags = [tmp_path / "FILE" if f == "FILE" else f for f in flags]
    out = tmp_path / "run"
    assert main(["--out", str(out), "--quick", *map(str, flags)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and len(err.strip().splitlines()) == 1
    assert re.search(message, err), err
    assert not out.exists() and (tmp_path / "FILE").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("itslib.mini.train.train", interrupted)
    assert main(["--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err.strip()
    assert err.startswith("itslib train-mini: interrupted") and "resume" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
