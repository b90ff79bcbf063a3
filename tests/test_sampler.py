"""The product-of-experts sampler on tiny random SD-layout models, loaded offline."""

from types import SimpleNamespace

import pytest
import torch

from itslib._hub import ModelUnavailableError
from itslib.experts import ClassPromptEncoder, Expert, load_audio_expert, load_image_expert
from itslib.mini.models import SCHEDULER_CONFIG
from itslib.pipeline import ImagesThatSound, make_scheduler
from itslib.sampler import Term, image_audio_terms, sample, step_weights
from itslib.settings import Settings

from .numerics import assert_close_across_kernels, assert_same_path

H, W = 256, 64  # latent 4 x 32 x 8


@pytest.fixture(scope="module")
def experts(tiny_repos):
    image_repo, audio_repo = tiny_repos
    return load_image_expert(image_repo), load_audio_expert(audio_repo)


def noise(seed=0):
    return torch.randn((1, 4, H // 8, W // 8), generator=torch.Generator().manual_seed(seed))


def count_calls(expert):
    """Record the batch size of every UNet call of ``expert``."""
    batches = []
    handle = expert.unet.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    return batches, handle


def test_default_schedule_makes_380_sample_evaluations(experts):
    image, sound = experts
    terms = image_audio_terms(image, sound, Settings("a castle", "bell ringing"))
    scheduler = make_scheduler("ddim", image.scheduler_config)
    image_calls, h1 = count_calls(image)
    audio_calls, h2 = count_calls(sound)
    seen = []
    try:
        out = sample(terms, scheduler, noise(), 100, callback=seen.append, progress=False)
    finally:
        h1.remove()
        h2.remove()
    assert len(image_calls) == 90 and len(audio_calls) == 100  # 10 x 1 + 90 x 2 calls
    assert set(image_calls) == set(audio_calls) == {2}  # one batched [uncond, cond] call
    assert out.unet_calls == {"image": 90, "audio": 100}
    assert out.unet_evaluations == 380
    # The image expert is never called during the 10% audio-only warm start.
    assert all(set(s.noise) == {"audio"} and s.weights == {"audio": 1.0} for s in seen[:10])
    assert all(s.weights == {"image": 0.5, "audio": 0.5} for s in seen[10:])
    assert torch.isfinite(out.latents).all()


def test_weights_follow_eq_6():
    class Named:  # the weights only need names and starts
        def __init__(self, name):
            self.name = name

    def terms(weight, image_start, audio_start):
        return [Term(Named("image"), "", 1.0, weight=1 - weight, start=image_start),
                Term(Named("audio"), "", 1.0, weight=weight, start=audio_start)]  # fmt: skip

    assert step_weights(terms(0.5, 0.1, 0.0), 9, 100) == {1: 1.0}
    assert step_weights(terms(0.5, 0.1, 0.0), 10, 100) == {0: 0.5, 1: 0.5}
    assert step_weights(terms(0.3, 0.0, 0.2), 1, 10) == {0: 1.0}  # image-first warm start
    assert step_weights(terms(0.3, 0.0, 0.2), 2, 10) == pytest.approx({0: 0.7, 1: 0.3})
    assert step_weights(terms(1.0, 0.1, 0.0), 50, 100) == {1: 1.0}  # weight 0: not evaluated
    assert step_weights(terms(1.0, 0.0, 0.1), 0, 100) == {0: 1.0}  # lone expert gets 1


def test_trajectory_records_every_step(experts):
    image, sound = experts
    terms = image_audio_terms(image, sound, Settings("a castle", "bell ringing", image_start=0.25))
    out = sample(terms, make_scheduler("ddim", image.scheduler_config), noise(), 8,
                 capture=True, progress=False)  # fmt: skip
    assert [s.index for s in out.trajectory] == list(range(8))
    assert [set(s.noise) for s in out.trajectory[:2]] == [{"audio"}] * 2
    assert set(out.trajectory[2].noise) == {"image", "audio"}
    step = out.trajectory[3]
    expected = 0.5 * step.noise["image"] + 0.5 * step.noise["audio"]
    torch.testing.assert_close(step.mixed, expected)
    assert step.x_t.shape == step.x0.shape == (1, 4, 32, 8)
    ts = [s.t for s in out.trajectory]
    assert ts == sorted(ts, reverse=True)


@pytest.mark.parametrize("which", ["audio", "image"])
def test_single_expert_limit_reproduces_diffusers(experts, tiny_repos, which):
    """audio_weight 1 (or 0 with no warm start) is plain Stable Diffusion with that model."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    image, sound = experts
    audio_weight, image_start = (1.0, 0.1) if which == "audio" else (0.0, 0.0)
    terms = image_audio_terms(image, sound, Settings(
        "a castle", "bell ringing", image_guidance=7.5, audio_guidance=7.5,
        audio_weight=audio_weight, image_start=image_start))
    ours = sample(terms, make_scheduler("ddim", image.scheduler_config), noise(3), 10,
                  progress=False)  # fmt: skip

    repo = tiny_repos[1] if which == "audio" else tiny_repos[0]
    pipe = StableDiffusionPipeline.from_pretrained(repo, safety_checker=None)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    prompt = "bell ringing" if which == "audio" else "a castle"
    theirs = pipe(
        prompt,
        height=H,
        width=W,
        num_inference_steps=10,
        guidance_scale=7.5,
        generator=torch.Generator("cpu").manual_seed(3),
        output_type="latent",
    ).images
    assert_close_across_kernels(ours.latents, theirs, passes=10)  # diffusers' own loop


def test_dpm_solver_runs_and_is_deterministic(experts):
    image, sound = experts
    terms = image_audio_terms(image, sound, Settings("a castle", "bell ringing"))

    def run(name):
        scheduler = make_scheduler(name, image.scheduler_config)
        return sample(terms, scheduler, noise(), 6, progress=False).latents

    dpm = run("dpm++")
    assert torch.isfinite(dpm).all()
    assert_same_path(dpm, run("dpm++"))
    assert not torch.allclose(dpm, run("ddim"))


def test_seeds(experts):
    pipeline = ImagesThatSound(*experts)
    kwargs = dict(steps=3, height=H, width=W, vocoder="hifigan", progress=False)
    a1, a2 = pipeline("a castle", "bell ringing", num_samples=2, seed=5, **kwargs)
    (again,) = pipeline("a castle", "bell ringing", seed=5, **kwargs)
    (six,) = pipeline("a castle", "bell ringing", seed=6, **kwargs)
    # sample k of a batch is seed + k drawn alone (batch 2 against 1: other kernels)
    assert_close_across_kernels(a1.latents, again.latents, passes=3)
    assert_close_across_kernels(a2.latents, six.latents, passes=3)
    (repeat,) = pipeline("a castle", "bell ringing", seed=5, **kwargs)
    assert_same_path(repeat.latents, again.latents)  # and one path repeats bit for bit
    assert not torch.allclose(a1.latents, a2.latents)
    assert a2.params["seed"] == 6


def test_pipeline_result(experts):
    pipeline = ImagesThatSound(*experts)
    (result,) = pipeline("a castle", "bell ringing", steps=4, height=H, width=W, progress=False)
    keep = W - 2  # 32/1024 of 64 columns cropped at the right edge
    assert result.image.shape == (H, keep, 3) and result.spectrogram.shape == (H, keep)
    assert 0 <= result.spectrogram.min() and result.spectrogram.max() <= 1
    assert result.logmel.shape == (256, keep)
    assert result.waveform.shape == (keep * 160,) and abs(result.waveform).max() <= 1
    assert result.latents.shape == (4, 32, 8) and result.latents.dtype == torch.float32
    assert result.params["unet_evaluations"] == 2 * (4 + 4)  # image joins at round(0.4) = 0
    (uncropped,) = pipeline("a castle", "bell ringing", steps=2, height=H, width=W,
                            crop_right=False, vocoder="griffin-lim", progress=False)  # fmt: skip
    assert uncropped.spectrogram.shape == (H, W) and uncropped.waveform.shape == (W * 160,)


def test_start_from_a_picture_or_a_recording(experts):
    import numpy as np

    pipeline = ImagesThatSound(*experts)
    picture = np.zeros((H, W), dtype=np.float32)
    picture[100:150] = 1.0
    kwargs = dict(steps=10, height=H, width=W, progress=False, vocoder="griffin-lim")
    (low,) = pipeline("a castle", "bell ringing", init_picture=picture, strength=0.3, **kwargs)
    assert low.params["unet_evaluations"] == 2 * 2 * 3  # 3 of 10 steps, both experts
    wav = np.sin(np.arange(W * 160) / 16000 * 2 * np.pi * 440).astype(np.float32)
    (from_sound,) = pipeline("a castle", "bell ringing", init_sound=wav, strength=0.5, **kwargs)
    assert from_sound.params["init"] == "sound"
    with pytest.raises(ValueError, match="init_picture is 256 x 32 pixels but the canvas is 256"):
        pipeline("a castle", "bell ringing", init_picture=picture[:, :32], **kwargs)
    with pytest.raises(ValueError, match="strength=0"):
        pipeline("a castle", "bell ringing", init_picture=picture, strength=0, **kwargs)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"height": 100}, "height=100 must be a positive multiple of 8"),
        ({"width": 1020}, "width=1020"),
        ({"audio_weight": 1.5}, r"audio_weight=1.5 must be in \[0, 1\]"),
        ({"audio_weight": -0.1}, "audio_weight"),
        ({"image_start": 1.0}, r"image_start=1.0 must be in \[0, 1\)"),
        ({"image_start": 0.2, "audio_start": 0.1}, "no expert is active at step 0"),
        ({"steps": 0}, "steps=0 must be a whole number >= 1"),
        ({"image_guidance": -1}, "image_guidance=-1 must be a finite number >= 0"),
        ({"scheduler": "magic"}, "scheduler='magic'"),
        ({"vocoder": "tape"}, "vocoder='tape'"),
    ],
)
def test_bad_settings_are_named(experts, settings, message):
    pipeline = ImagesThatSound(*experts)
    with pytest.raises(ValueError, match=message):
        pipeline("a castle", "bell ringing", **settings)


def test_nan_latents_are_refused(experts):
    image, sound = experts
    bad = noise()
    bad[0, 0, 0, 0] = float("nan")
    terms = image_audio_terms(image, sound, Settings("a castle", "bell ringing"))
    with pytest.raises(ValueError, match="NaN"):
        sample(terms, make_scheduler("ddim", image.scheduler_config), bad, 4, progress=False)


def test_missing_models_offline_give_one_clear_error(tmp_path):
    with pytest.raises(ModelUnavailableError, match="itslib-tests/not-cached") as info:
        load_image_expert("itslib-tests/not-cached")
    assert "local folder" in str(info.value) and "HF_HUB_OFFLINE=1" in str(info.value)
    with pytest.raises(ModelUnavailableError, match="no such folder"):
        load_audio_expert(tmp_path / "nowhere")


def test_offloaded_modules_give_the_same_sample(tiny_repos):
    """With offloading the text encoder and VAE move in and out; results are unchanged."""
    image_repo, audio_repo = tiny_repos
    kwargs = dict(steps=3, height=H, width=W, progress=False, vocoder="griffin-lim")
    plain = ImagesThatSound(load_image_expert(image_repo), load_audio_expert(audio_repo))
    offloaded = ImagesThatSound(load_image_expert(image_repo), load_audio_expert(audio_repo))
    for expert in (offloaded.image_expert, offloaded.audio_expert):
        expert.offload_to = "cpu"
    (a,) = plain("a castle", "bell ringing", **kwargs)
    (b,) = offloaded("a castle", "bell ringing", **kwargs)
    assert_same_path(a.latents, b.latents)  # offloading moves modules, not arithmetic
    assert next(offloaded.image_expert.vae.parameters()).device.type == "cpu"


class ConstantNoise(torch.nn.Module):
    """A stand-in UNet whose noise estimate is 0.25 everywhere: exact in any precision."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1, dtype=dtype))  # gives the dtype

    def forward(self, x, t, **_):
        return SimpleNamespace(sample=torch.full_like(x, 0.25))


def test_the_latent_stays_fp32_whatever_the_experts_precision():
    """An expert in bf16 (or fp16) rounds its own arithmetic only: the sampler's latent and
    the scheduler's steps stay fp32, so the same estimates give the same latent."""
    latents = {}
    for dtype in (torch.float32, torch.bfloat16):
        expert = Expert("image", ConstantNoise(dtype), None, ClassPromptEncoder(["a"]),
                        dict(SCHEDULER_CONFIG))  # fmt: skip
        term = Term(expert, "a", guidance=1.0, weight=1.0)
        out = sample([term], make_scheduler("ddim", SCHEDULER_CONFIG), noise(), 20,
                     progress=False)  # fmt: skip
        latents[dtype] = out.latents
    assert latents[torch.bfloat16].dtype == torch.float32
    torch.testing.assert_close(latents[torch.bfloat16], latents[torch.float32], atol=1e-6, rtol=0)


def test_one_settings_object_travels_and_keywords_go_over_it(experts):
    """``__call__`` takes a Settings (as the CLI builds it) and readable keywords over it;
    every setting is a keyword, and nothing else is."""
    import inspect

    from itslib.settings import SETTING_KEYWORDS, Settings

    keywords = set(inspect.signature(ImagesThatSound.__call__).parameters)
    assert SETTING_KEYWORDS <= keywords
    pipeline = ImagesThatSound(*experts)
    base = Settings(steps=3, audio_weight=0.25, image_start=0.0, seed=4)
    (result,) = pipeline("a castle", "bell ringing", settings=base, steps=2, height=H, width=W,
                         progress=False)  # fmt: skip
    params = result.params
    assert (params["steps"], params["audio_weight"], params["seed"]) == (2, 0.25, 4)
    assert base.steps == 3 and base.height is None  # the caller's object is not changed
