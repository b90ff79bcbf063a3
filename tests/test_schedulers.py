"""Every offered scheduler works on every path, as diffusers' own pipelines run it: pure
noise, a start picture at several strengths, 1 to 3 steps, batches and trajectory
capture. With one expert active (audio_weight 0, no warm start) the joint pipeline is
plain Stable Diffusion, so diffusers' StableDiffusion(Img2Img)Pipeline is the reference."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from itslib.experts import load_audio_expert, load_image_expert
from itslib.pipeline import ImagesThatSound, make_scheduler
from itslib.settings import SCHEDULERS, Settings

from .numerics import assert_close_across_kernels

H, W = 256, 64  # latent 4 x 32 x 8
IMAGE_ONLY = dict(audio_weight=0.0, image_start=0.0, image_guidance=7.5, height=H, width=W,
                  vocoder="hifigan", progress=False)  # fmt: skip


@pytest.fixture(scope="module")
def pipeline(tiny_repos):
    image, sound = tiny_repos
    return ImagesThatSound(load_image_expert(image, device="cpu"),
                           load_audio_expert(sound, device="cpu"))  # fmt: skip


@pytest.fixture(scope="module")
def diffusers_pipes(tiny_repos):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline

    text = StableDiffusionPipeline.from_pretrained(tiny_repos[0], safety_checker=None)
    text.set_progress_bar_config(disable=True)
    img2img = StableDiffusionImg2ImgPipeline(**text.components)
    img2img.set_progress_bar_config(disable=True)
    return text, img2img


def reference(pipe, name: str, steps: int, seed: int, **kwargs) -> torch.Tensor:
    """diffusers' own loop with the scheduler built as make_scheduler builds it."""
    pipe.scheduler = make_scheduler(name, pipe.scheduler.config)
    return pipe("a castle", num_inference_steps=steps, guidance_scale=7.5, output_type="latent",
                generator=torch.Generator("cpu").manual_seed(seed), **kwargs).images  # fmt: skip


@pytest.mark.parametrize("steps", [1, 2, 3])
@pytest.mark.parametrize("name", SCHEDULERS)
def test_from_pure_noise_as_diffusers(pipeline, diffusers_pipes, name, steps):
    (ours,) = pipeline("a castle", "bell ringing", seed=3, steps=steps, scheduler=name,
                       **IMAGE_ONLY)  # fmt: skip
    theirs = reference(diffusers_pipes[0], name, steps, 3, height=H, width=W)
    assert_close_across_kernels(ours.latents, theirs[0], passes=steps + 1)


@pytest.mark.parametrize("strength", [0.3, 0.6, 1.0])
@pytest.mark.parametrize("name", SCHEDULERS)
def test_from_a_start_picture_as_diffusers_image_to_image(pipeline, diffusers_pipes, name,
                                                          strength):  # fmt: skip
    """The start picture is noised to the first step's level once, Euler's sigma included
    (it used to be scaled by init_noise_sigma a second time at strength 1: final latent
    std 113 against diffusers' 1, a saturated spectrogram)."""
    picture = np.random.default_rng(0).random((H, W)).astype(np.float32)
    steps = 4
    (ours,) = pipeline("a castle", "bell ringing", seed=5, steps=steps, scheduler=name,
                       init_picture=picture, strength=strength, capture=True,
                       **IMAGE_ONLY)  # fmt: skip
    clean = pipeline.encode_init(Settings(init="picture"), picture)
    theirs = reference(diffusers_pipes[1], name, steps, 5, image=clean, strength=strength)
    assert_close_across_kernels(ours.latents, theirs[0], passes=steps + 1)
    run = max(1, int(steps * strength))  # diffusers' rule: the steps that denoise it
    scheduler = make_scheduler(name, pipeline.image_expert.scheduler_config)
    scheduler.set_timesteps(steps)
    assert len(ours.trajectory) == len(scheduler.timesteps) - (steps - run)
    assert ours.params["unet_evaluations"] == 2 * len(ours.trajectory)


@pytest.mark.parametrize("name", SCHEDULERS)
def test_a_batch_equals_its_samples_drawn_alone(pipeline, name):
    picture = np.random.default_rng(1).random((H, W)).astype(np.float32)
    for start in ({}, {"init_picture": picture, "strength": 0.6}):
        kwargs = dict(steps=3, seed=7, num_samples=2, scheduler=name, **start,
                      **(IMAGE_ONLY | {"audio_weight": 0.5}))  # fmt: skip
        together = pipeline("a castle", "bell ringing", batch_size=2, **kwargs)
        alone = pipeline("a castle", "bell ringing", batch_size=1, **kwargs)
        for a, b in zip(together, alone, strict=True):
            assert_close_across_kernels(a.latents, b.latents, passes=4)
        assert (together[0].latents - together[1].latents).abs().max() > 1e-2


def test_pndm_runs_plms_only_in_both_worlds(pipeline):
    """SD 1.5's scheduler config skips PNDM's Runge-Kutta warm-up; the miniature world's
    does too, so 1 to 3 steps work and cost the same UNet calls in both."""
    from itslib.mini.models import SCHEDULER_CONFIG

    real = make_scheduler("pndm", pipeline.image_expert.scheduler_config)
    mini = make_scheduler("pndm", SCHEDULER_CONFIG)
    for steps in (1, 2, 3, 4):
        real.set_timesteps(steps)
        mini.set_timesteps(steps)
        assert mini.timesteps.tolist() == real.timesteps.tolist()
        # PLMS repeats its first timestep once (diffusers' own 1-step schedule is [1])
        assert len(mini.timesteps) == (1 if steps == 1 else steps + 1)


@pytest.mark.parametrize("name", [n for n in SCHEDULERS if n != "ddim"])
def test_eta_is_refused_where_the_scheduler_has_none(name):
    message = re.escape(f"eta=0.7 applies to DDIM only; scheduler='{name}' has none")
    with pytest.raises(ValueError, match=message):
        Settings(eta=0.7, scheduler=name).check()
    Settings(eta=0.7, scheduler="ddim").check()


def test_dpm_sde_is_not_offered():
    """It needs torchsde, which no requirement brings, and its Brownian noise would make a
    batched sample differ from the one drawn alone."""
    with pytest.raises(ValueError, match="scheduler='dpm\\+\\+sde' is not one of"):
        Settings(scheduler="dpm++sde").check()


def test_a_prompt_longer_than_clip_reads_is_said_and_recorded_as_read(pipeline, capsys):
    """CLIP reads 77 tokens (75 of text): the rest is dropped, said with the part dropped,
    and params record the prompt the encoder read, not the one typed."""
    words = " ".join(["a castle on a hill"] * 20 + ["under a red moon"])  # 105 tokens
    (result,) = pipeline(words, "bell ringing", steps=1, **IMAGE_ONLY)
    said = capsys.readouterr().out
    assert "the image prompt is longer than its text encoder reads (77 tokens); dropped:" in said
    read = result.params["image_prompt"]
    assert words.startswith(read) and len(read) < len(words) and "red moon" in said
    assert result.params["audio_prompt"] == "bell ringing"  # a short prompt, as typed
    tokenizer = pipeline.image_expert.prompt_encoder.tokenizer
    assert len(tokenizer(read, add_special_tokens=False).input_ids) == 75
