"""The rehearsal: random-weight copies of every real model, found through the ITSLIB_*
variables by every loader, the CLI and the real world's judges."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tomllib
import yaml

from itslib._hub import REAL_MODELS, ModelUnavailableError, model_id
from itslib.cli import main
from itslib.methods import make_method
from itslib.rehearsal import export_lines, write_rehearsal
from itslib.sds import SDSSettings, cap_loop

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory) -> dict[str, str]:
    return write_rehearsal(tmp_path_factory.mktemp("rehearsal"))


@pytest.fixture
def real_env(rehearsal, monkeypatch) -> dict[str, str]:
    for name, value in rehearsal.items():
        monkeypatch.setenv(name, value)
    return rehearsal


def test_every_real_model_gets_a_copy_in_its_hub_layout(rehearsal):
    assert set(rehearsal) == {m.env for m in REAL_MODELS.values()} | {
        "ITSLIB_WORLD", "ITSLIB_MAX_LOOP_STEPS"}  # fmt: skip
    for role, model in REAL_MODELS.items():
        folder = Path(rehearsal[model.env])
        assert folder.as_posix().endswith(model.hub_id), role
        assert (folder.parent / (folder.name + ".complete")).is_file()
    sd = Path(rehearsal["ITSLIB_IMAGE_MODEL"])
    for part in ("unet/config.json", "vae/config.json", "text_encoder/config.json",
                 "scheduler/scheduler_config.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
                 "model_index.json"):  # fmt: skip
        assert (sd / part).is_file(), part
    vocoder = Path(rehearsal["ITSLIB_AUDIO_MODEL"]) / "vocoder"
    assert (vocoder / "config.json").is_file() and (vocoder / "vocoder.pt").is_file()
    assert (Path(rehearsal["ITSLIB_IF_STAGE2"]) / "image_noising_scheduler").is_dir()
    # a second call keeps the finished copies (it is resumable, not rewritten)
    stamp = (sd / "unet" / "config.json").stat().st_mtime_ns
    assert write_rehearsal(sd.parent.parent) == rehearsal
    assert (sd / "unet" / "config.json").stat().st_mtime_ns == stamp


def test_rehearse_command_prints_exports_a_shell_can_use(rehearsal, capsys):
    folder = Path(rehearsal["ITSLIB_IMAGE_MODEL"]).parent.parent
    assert main(["rehearse", str(folder), "--quiet"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == export_lines(rehearsal)
    lines = printed.splitlines()
    parsed = dict(re.fullmatch(r"export (\w+)='(.*)'", line).groups() for line in lines)
    assert parsed == rehearsal


def test_variables_override_each_real_model(monkeypatch, tmp_path):
    for model in REAL_MODELS.values():
        monkeypatch.delenv(model.env, raising=False)
    assert model_id("clip") == "openai/clip-vit-base-patch16"
    monkeypatch.setenv("ITSLIB_CLIP_MODEL", str(tmp_path / "my-clip"))
    assert model_id("clip") == str(tmp_path / "my-clip")
    from itslib.metrics import CLIPJudge

    with pytest.raises(ModelUnavailableError, match="my-clip"):
        CLIPJudge.from_pretrained()  # read at load time, not at import
    with pytest.raises(ValueError, match="role='vae'"):
        model_id("vae")


def test_the_real_world_loads_everything_from_the_variables(real_env):
    from itslib.colorize import load_colorizer
    from itslib.experts import load_if_expert
    from itslib.worlds import load_world

    world = load_world()  # ITSLIB_WORLD=real
    assert world.name == "real" and world.pipeline.canvas == (256, 1024)
    assert world.pipeline.image_expert.model_id == real_env["ITSLIB_IMAGE_MODEL"]
    assert world.pipeline.audio_expert.model_id == real_env["ITSLIB_AUDIO_MODEL"]
    assert world.pipeline.vocoder is not None  # Auffusion's vocoder/ came along
    (result,) = world.pipeline(*world.examples[0], steps=2, progress=False)
    assert result.spectrogram.shape == (256, 1024 - 32)  # the real canvas, right band cropped
    judges = world.load_judges()
    (row,) = judges.score([result])
    assert 0 <= row["picture_score"] <= 100 and 0 <= row["sound_score"] <= 100
    assert np.isnan(row["both_accept"]) and judges.threshold is None
    assert world.load_vocoder() is not None and world.colorizer_unavailable() is None
    assert load_if_expert(device="cpu").model_id == real_env["ITSLIB_IF_STAGE1"]
    assert load_colorizer(device="cpu").model_ids == (real_env["ITSLIB_IF_STAGE1"],
                                                      real_env["ITSLIB_IF_STAGE2"])  # fmt: skip


def test_generate_with_no_model_flags_uses_the_variables(real_env, tmp_path, capsys):
    assert main(["generate", "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "the real world's first example" in out and str(tmp_path / "run") in out
    params = json.loads((tmp_path / "run" / "sample_000" / "params.json").read_text())
    assert params["world"] == "real" and params["image_model"] == real_env["ITSLIB_IMAGE_MODEL"]
    assert params["image_prompt"] == "a painting of castle towers, grayscale"
    assert main(["generate", "--image-prompt", "x", "--out", str(tmp_path / "one")]) == 2
    assert "give both --image-prompt and --audio-prompt" in capsys.readouterr().err


def test_the_loop_cap_shrinks_sds_only_when_set(monkeypatch, capsys):
    monkeypatch.delenv("ITSLIB_MAX_LOOP_STEPS", raising=False)
    paper = SDSSettings()
    assert cap_loop(paper) is paper
    monkeypatch.setenv("ITSLIB_MAX_LOOP_STEPS", "20")
    short = cap_loop(SDSSettings(steps=2000, audio_only_steps=250, snapshot_every=200))
    assert (short.steps, short.audio_only_steps, short.snapshot_every) == (20, 2, 2)
    assert "runs 20 of its 2000 steps" in capsys.readouterr().out
    assert cap_loop(SDSSettings(steps=10, audio_only_steps=1)).steps == 10
    monkeypatch.setenv("ITSLIB_MAX_LOOP_STEPS", "lots")
    with pytest.raises(ValueError, match="ITSLIB_MAX_LOOP_STEPS='lots'"):
        cap_loop(paper)


def test_sds_steps_from_a_sweep_and_from_the_cap_keep_the_warm_start_in_proportion(
    monkeypatch, capsys
):
    base = SDSSettings(steps=300, audio_only_steps=40, snapshot_every=30)
    swept = make_method("sds", steps=15).resolve_over(base, seed=4)
    monkeypatch.setenv("ITSLIB_MAX_LOOP_STEPS", "15")
    capped = cap_loop(base)
    assert swept == replace(capped, seed=4)
    assert (capped.steps, capped.audio_only_steps, capped.snapshot_every) == (15, 2, 2)
    # a warm start stays on (at least one step) and a given one wins
    assert make_method("sds", steps=3).resolve_over(base).audio_only_steps == 1
    given = make_method("sds", steps=15, audio_only_steps=0).resolve_over(base)
    assert given.audio_only_steps == 0
    assert SDSSettings(steps=10, audio_only_steps=0).with_steps(5).audio_only_steps == 0


WORLD_NAMES = {"mini", "real"}


def _names_a_world(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return node.value in WORLD_NAMES
    return isinstance(node, ast.Tuple | ast.List | ast.Set) and any(map(_names_a_world, node.elts))


def branches_on_a_world_name(source: str) -> list[int]:
    """The lines of ``source`` that decide by a world's name, however spelled: a comparison
    (==, !=, is, in) with "mini" or "real" or a collection of them, a ``case "mini":``,
    ``.startswith("mini")``, or a dict of per-world values indexed on the spot."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            found = any(map(_names_a_world, [node.left, *node.comparators]))
        elif isinstance(node, ast.MatchValue):
            found = _names_a_world(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found = node.func.attr in ("startswith", "endswith") and any(
                map(_names_a_world, node.args))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
            found = any(_names_a_world(key) for key in node.value.keys if key is not None)
        else:
            found = False
        if found:
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("spelling", [
    'world == "mini"', "world.name == 'mini'", 'pipe.world != "real"', '"mini" == world.name',
    'world.name in ("mini", "tiny")', 'world.name not in ["real"]', 'world.name is "mini"',
    'world.name.startswith("mini")', '{"mini": 1, "real": 2}[world.name]',
    'match world.name:\n    case "mini":\n        pass',
])  # fmt: skip
def test_the_world_name_detector_catches_every_spelling(spelling):
    lines = branches_on_a_world_name(f"if True:\n    x = 1\n{spelling}\n")
    assert lines and min(lines) >= 3  # found, on the branch's own lines
    assert branches_on_a_world_name('name = "mini"\nworld = WORLDS[name]\n') == []


def test_chapters_and_the_library_never_branch_on_the_world_name():
    """Chapters, sweeps, tables, methods and the core ask the World for what differs;
    only itslib/worlds.py, where the worlds are declared, knows them by name."""
    sources = [*sorted((ROOT / "notebooks" / "src").glob("0*.py")),
               *sorted((ROOT / "itslib").rglob("*.py"))]  # fmt: skip
    offenders = {
        str(p.relative_to(ROOT)): lines
        for p in sources
        if p.name != "worlds.py" and (lines := branches_on_a_world_name(p.read_text()))
    }
    assert offenders == {}


def test_ci_runs_the_readmes_test_command():
    """CI's test stage is the command the README gives a newcomer, word for word."""
    readme = (ROOT / "README.md").read_text()
    (command,) = re.findall(r"HF_HUB_OFFLINE=1 (python -m pytest -q tests [^\n`]*)", readme)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci


def test_the_repository_url_is_written_once():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["urls"]["Repository"] == url
    readme = (ROOT / "README.md").read_text()
    assert f"colab.research.google.com/github/{url.split('github.com/')[1]}/" in readme
    for notebook in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        setup = "".join(cells[1]["source"])
        assert f"git+{url}" in setup and "google.colab" in setup, notebook.name
        assert "skip-execution" in cells[1]["metadata"]["tags"]
        others = "".join("".join(c["source"]) for c in cells[2:])
        assert "pip install" not in others, f"{notebook.name} installs twice"
