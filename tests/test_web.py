"""The browser bundle (itslib.web): deterministic, hashed, and the same numbers as torch.

Each ONNX graph is run with onnxruntime (CPU, one thread) and compared with the library
code it was traced from, within the kernel tolerance of tests/numerics.py: ONNX runs the
same mathematics along other kernels.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from itslib import audio  # noqa: E402
from itslib.experts import Condition  # noqa: E402
from itslib.mini.experts import mini_pipeline  # noqa: E402
from itslib.mini.store import judge_pictures, judge_sounds, load_components, weights_id  # noqa: E402
from itslib.mini.world import MINI_MEL, NULL_CLASS, NUM_SAMPLES  # noqa: E402
from itslib.pipeline import make_scheduler  # noqa: E402
from itslib.settings import Settings  # noqa: E402
from itslib.web import constants, export_web  # noqa: E402
from tests.numerics import assert_close_across_kernels  # noqa: E402


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web") / "bundle"
    manifest = export_web(folder)
    return folder, manifest


@pytest.fixture(scope="module")
def pipe():
    return mini_pipeline(threads=None)


def session(folder, name):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(str(folder / name), options, providers=["CPUExecutionProvider"])


def test_manifest_names_every_file_with_its_hash(bundle):
    folder, manifest = bundle
    assert json.loads((folder / "manifest.json").read_text()) == manifest
    on_disk = {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}, name
    assert manifest["total_bytes"] == sum(e["bytes"] for e in manifest["files"].values())
    assert manifest["weights_id"] == weights_id()
    world = json.loads((folder / "world.json").read_text())
    assert world["weights_id"] == weights_id()


def test_same_weights_same_bytes(bundle, tmp_path):
    folder, manifest = bundle
    again = export_web(tmp_path / "again")
    assert again == manifest
    for name in manifest["files"]:
        assert (tmp_path / "again" / name).read_bytes() == (folder / name).read_bytes(), name


def test_existing_folder_is_kept_without_overwrite(bundle):
    folder, manifest = bundle
    with pytest.raises(ValueError, match="already exists"):
        export_web(folder)
    assert json.loads((folder / "manifest.json").read_text()) == manifest


def test_missing_weights_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="weights="):
        export_web(tmp_path / "out", weights=tmp_path / "nowhere")
    assert not (tmp_path / "out").exists()


def expert_sum(pipe, x, t, labels, guidance, weights):
    """Python's mix (itslib.sampler.sample): sum of weight * guided estimate, active only."""
    total = 0
    for expert, label, g, w in zip((pipe.image_expert, pipe.audio_expert), labels, guidance,
                                   weights, strict=True):  # fmt: skip
        if w > 0:
            condition = Condition({"class_labels": torch.tensor([NULL_CLASS])},
                                  {"class_labels": torch.tensor(label)})  # fmt: skip
            with torch.no_grad():
                total = total + w * expert.predict_noise(x, torch.tensor(t), condition, g).float()
    return total.numpy()


@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.0, 1.0), (1.0, 0.0), (0.3, 0.7)])
def test_noise_graph_is_the_product_of_experts(bundle, pipe, weights):
    folder, _ = bundle
    noise = session(folder, "noise.onnx")
    x = torch.randn(2, 4, 32, 128, generator=torch.Generator().manual_seed(1))
    labels, guidance = ([1, 6], [3, 0]), (10.0, 7.5)
    feeds = {"x_t": x.numpy(), "t": np.array(481, np.int64),
             "image_label": np.array(labels[0]), "audio_label": np.array(labels[1]),
             "image_guidance": np.array(guidance[0], np.float32),
             "audio_guidance": np.array(guidance[1], np.float32),
             "image_weight": np.array(weights[0], np.float32),
             "audio_weight": np.array(weights[1], np.float32)}  # fmt: skip
    (eps,) = noise.run(None, feeds)
    expected = expert_sum(pipe, x, 481, labels, guidance, weights)
    # u + g (c - u) carries the rounding of 1 + 2 g passes of the UNet
    assert_close_across_kernels(eps, expected, passes=1 + 2 * round(max(guidance)))
    assert np.abs(expected).max() > 1  # guidance 10 makes large estimates: not a trivial pass


def test_decoder_graph_is_the_pipelines_decode(bundle, pipe):
    folder, _ = bundle
    latents = torch.randn(2, 4, 32, 128, generator=torch.Generator().manual_seed(2))
    (picture,) = session(folder, "decoder.onnx").run(None, {"latents": latents.numpy()})
    expected = pipe.audio_expert.decode(latents).mean(dim=1).numpy()
    assert picture.shape == (2, 128, 512)
    assert_close_across_kernels(picture, expected, passes=1)


def test_preview_is_near_the_decoder(bundle, pipe):
    folder, _ = bundle
    result = pipe("stars", "siren", seed=3, steps=10, progress=False)[0]
    latents = result.latents[None].numpy()
    (preview,) = session(folder, "preview.onnx").run(None, {"latents": latents})
    assert preview.shape == (1, 128, 512)
    # a linear stand-in: it draws the shapes where the decoder does (correlation 0.75 on
    # this sample when written), not the decoder's exact levels
    correlation = np.corrcoef(preview[0].ravel(), result.spectrogram.ravel())[0, 1]
    assert correlation > 0.6, f"preview correlates {correlation:.2f} with the decoded picture"


def test_magnitude_graph_is_griffin_lims_start(bundle):
    folder, _ = bundle
    picture = np.random.default_rng(0).random((1, 128, 512), dtype=np.float32)
    (magnitude,) = session(folder, "magnitude.onnx").run(None, {"picture": picture})
    mel = torch.from_numpy(np.exp(audio.picture_to_logmel(picture[0], MINI_MEL)))[None]
    expected = audio.mel_to_magnitude(mel, MINI_MEL).numpy()
    assert magnitude.shape == (1, 513, 512)
    assert_close_across_kernels(magnitude, expected, passes=1)


def test_judge_graphs_give_the_judges_probabilities(bundle):
    folder, _ = bundle
    parts = load_components()
    rng = np.random.default_rng(1)
    pictures = rng.random((2, 128, 512), dtype=np.float32)
    (probs,) = session(folder, "picture_judge.onnx").run(None, {"picture": pictures})
    assert_close_across_kernels(probs, judge_pictures(pictures, judge=parts.picture_judge),
                                passes=1)  # fmt: skip
    t = np.arange(NUM_SAMPLES) / MINI_MEL.sample_rate
    wavs = np.stack([np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t), rng.normal(0, 0.1, t.size)])
    wavs = np.stack([audio.peak_normalize(w.astype(np.float32), MINI_MEL.peak) for w in wavs])
    pad = torch.nn.functional.pad(torch.from_numpy(wavs)[:, None], (MINI_MEL.pad,) * 2,
                                  mode="reflect")[:, 0]  # fmt: skip
    spec = audio._stft(pad, MINI_MEL)
    magnitudes = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9).numpy()
    (probs,) = session(folder, "sound_judge.onnx").run(None, {"magnitude": magnitudes})
    assert_close_across_kernels(probs, judge_sounds(wavs, judge=parts.sound_judge), passes=1)


def test_world_json_is_read_from_the_library(bundle):
    folder, _ = bundle
    world = json.loads((folder / "world.json").read_text())
    config = load_components().scheduler_config
    for name in ("ddim", "dpm++"):
        scheduler = make_scheduler(name, config)
        for steps in (15, 25, 100):
            scheduler.set_timesteps(steps)
            assert world["scheduler"][name]["timesteps"][str(steps)] == scheduler.timesteps.tolist()
    assert world["scheduler"]["alphas_cumprod"] == scheduler.alphas_cumprod.tolist()
    defaults = Settings()
    for name, entry in world["settings"].items():
        assert entry["default"] == getattr(defaults, name), name
    assert world["mel"]["n_mels"] == MINI_MEL.n_mels and world["mel"]["pad"] == MINI_MEL.pad
    assert world["graphs"]["noise.onnx"]["inputs"][0] == {
        "name": "x_t", "type": "float", "shape": ["batch", 4, 32, 128]}


def test_a_control_python_refuses_is_refused(monkeypatch):
    monkeypatch.setitem(constants.CONTROLS, "audio_weight", (0.0, 1.5, 0.1))
    with pytest.raises(ValueError, match="audio_weight"):
        constants.controls()
    monkeypatch.setitem(constants.CONTROLS, "audio_weight", (0.0, 1.0, 0.1))
    monkeypatch.setitem(constants.CONTROLS, "image_start", (0.0, 1.0, 0.1))
    with pytest.raises(ValueError, match="image_start"):
        constants.controls()
