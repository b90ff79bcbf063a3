"""The shipped miniature weights: they load offline, sample deterministically, and the
judges beat chance by a wide margin on fresh procedural data."""

import numpy as np
import pytest
import torch

from itslib.mini import load_components
from itslib.mini.datasets import test_sets as fresh_sets
from itslib.mini.store import DEFAULT_WEIGHTS, judge_pictures, judge_sounds

pytestmark = pytest.mark.skipif(
    not (DEFAULT_WEIGHTS / "training.json").exists(),
    reason="miniature weights not trained yet (python -m itslib.mini.train)",
)


@pytest.fixture(scope="module")
def parts():
    return load_components()


def test_shipped_weights_are_small_and_documented(parts):
    size = sum(p.stat().st_size for p in DEFAULT_WEIGHTS.rglob("*") if p.is_file())
    assert size <= 25 * 2**20
    for key in ("command", "seed", "stages", "judge_accuracy", "date"):
        assert key in parts.info
    assert parts.info["null_class"] == 8 and len(parts.picture_classes) == 8


def _ddim_sample(parts, unet, label: int, seed: int, steps: int = 10) -> torch.Tensor:
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler.from_config(parts.scheduler_config)
    scheduler.set_timesteps(steps)
    x = torch.randn(1, 4, 16, 64, generator=torch.Generator().manual_seed(seed))
    labels = torch.tensor([8, label])
    with torch.no_grad():
        for t in scheduler.timesteps:
            uncond, cond = unet(x.repeat(2, 1, 1, 1), t, class_labels=labels).sample.chunk(2)
            x = scheduler.step(uncond + 5.0 * (cond - uncond), t, x).prev_sample
        picture = parts.vae.decode(x / parts.scaling_factor).sample
    return (picture[:, 0] / 2 + 0.5).clamp(0, 1)


def test_shipped_experts_sample_deterministically(parts):
    a = _ddim_sample(parts, parts.image_unet, 0, seed=3)
    b = _ddim_sample(parts, parts.image_unet, 0, seed=3)
    assert a.shape == (1, 64, 256) and torch.equal(a, b)
    c = _ddim_sample(parts, parts.audio_unet, 2, seed=3)
    assert not torch.equal(a, c)


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
