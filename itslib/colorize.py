"""Colorization by Factorized Diffusion (Geng, Park and Owens, 2024), with DeepFloyd IF.

A colour picture ``x`` (3, H, W) splits into a grayscale part and a colour part::

    x = gray(x) + (x - gray(x)),        gray(x) = mean over the 3 channels

We want a colour picture whose grayscale part *is* the spectrogram, so it still
plays as the same sound. A pixel diffusion model (DeepFloyd IF) denoises as usual,
but at every step the noisy picture's grayscale part is replaced by the
spectrogram noised to that step's level: the model only ever generates the colour
residual ``x - gray(x)``. Stage I works at H/4 x W/4 and starts from the noised
gray picture at step ``start_step`` of ``steps``; stage II upsamples x4 under the
same projection; a last exact projection makes ``mean_c(out) == spectrogram``.

Memory: IF's T5-XXL text encoder alone is ~10 GB in fp16. On CUDA every model is
kept in CPU memory and moved to the GPU only while it runs (``enable_model_cpu_offload``),
so it fits a free Colab GPU next to nothing else. In one notebook, release the
joint sampler's models first::

    del pipeline; itslib.colorize.free_gpu_memory()

The IF models are gated: accept the licence on both model pages, then log in
(``huggingface-cli login``, or ``from huggingface_hub import login; login()`` in Colab).
"""

from __future__ import annotations

import gc
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from itslib._hub import (
    REAL_MODELS,
    DamagedModelError,
    ModelUnavailableError,
    check_finite_weights,
    check_layout,
    check_weight_files,
    from_pretrained_prefer_fp16,
    gated_message,
    is_local,
)
from itslib._hub import model_id as real_model_id
from itslib._io import write_png
from itslib.checks import default_device, default_dtype
from itslib.files import load_audio

STAGE_1_MODEL = REAL_MODELS["if_stage1"].hub_id
STAGE_2_MODEL = REAL_MODELS["if_stage2"].hub_id
PROMPT_TEMPLATE = "a colorful photo of {}"
MIN_MULTIPLE = 32  # stage I runs at H/4 and its UNet halves the size 3 times: 4 * 8
# The subfolders each stage's pipeline reads (stage II reuses stage I's prompt embeddings).
STAGE_1_PARTS = ("unet", "text_encoder", "tokenizer", "scheduler")
STAGE_2_PARTS = ("unet", "scheduler", "image_noising_scheduler")
_GRAY_WORDS = r"(grayscale|greyscale|black and white|black-and-white|monochrome)"
_STYLE_PREFIX = (
    r"^(a|an)\s+(painting|lithograph|drawing|sketch|photo|etching|woodcut|illustration)\s+of\s+"
)


def color_prompt(image_prompt: str, template: str = PROMPT_TEMPLATE) -> str:
    """The IF prompt for an image prompt: "a painting of castles, grayscale" ->
    "a colorful photo of castles" (style prefix and gray words dropped)."""
    subject = re.sub(rf",?\s*\b{_GRAY_WORDS}\b", "", image_prompt.strip(), flags=re.I)
    subject = re.sub(_STYLE_PREFIX, "", subject.strip(" ,"), flags=re.I).strip(" ,")
    return template.format(subject).strip()


def free_gpu_memory() -> None:
    """Collect garbage and return cached CUDA memory to the driver (after ``del model``)."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass
class Colorizer:
    """DeepFloyd IF stage I and II as diffusers pipelines, ready to colorize.

    ``stage2`` has no text encoder: it reuses stage I's T5 prompt embeddings.
    ``device`` is where the computation runs (with offloading the weights live in
    CPU memory and visit it one model at a time).
    """

    stage1: Any  # diffusers.IFPipeline
    stage2: Any  # diffusers.IFSuperResolutionPipeline
    device: torch.device
    dtype: torch.dtype
    model_ids: tuple[str, str] = (STAGE_1_MODEL, STAGE_2_MODEL)

    @property
    def multiple(self) -> int:
        """The size multiple both UNets accept at stage II's resolution (32 for IF-M)."""
        down1 = 2 ** (len(self.stage1.unet.config.block_out_channels) - 1)
        down2 = 2 ** (len(self.stage2.unet.config.block_out_channels) - 1)
        return math.lcm(MIN_MULTIPLE, 4 * down1, down2)

    @torch.inference_mode()
    def encode(self, prompt: str, negative_prompt: str = "") -> torch.Tensor:
        """T5 embeddings (2, 77, d) of ``[negative_prompt, prompt]`` for guidance."""
        cond, uncond = self.stage1.encode_prompt(
            prompt, True, device=self.device, negative_prompt=negative_prompt,
            clean_caption=False,
        )  # fmt: skip
        return torch.cat([uncond, cond])


def load_colorizer(
    stage1_model: str | os.PathLike | None = None,
    stage2_model: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    offload: bool | None = None,
) -> Colorizer:
    """Load IF stage I and II from hub ids or local folders in the hub layout (``None``:
    ``ITSLIB_IF_STAGE1`` / ``ITSLIB_IF_STAGE2`` if set, else the hub's IF-I-M / IF-II-M).

    fp16 on CUDA, fp32 elsewhere; ``offload`` (default: on with CUDA) keeps the
    models in CPU memory between uses. Safety checker, feature extractor and
    watermarker are not loaded. Raises :class:`ModelUnavailableError` telling the
    reader to accept the licence and log in when the weights cannot be had, naming the
    missing subfolders of a local folder, or (:class:`itslib._hub.DamagedModelError`)
    naming a damaged weights file.
    """
    from diffusers import IFPipeline, IFSuperResolutionPipeline

    stage1_model = str(stage1_model or real_model_id("if_stage1"))
    stage2_model = str(stage2_model or real_model_id("if_stage2"))
    device = torch.device(device or default_device())
    dtype = dtype or default_dtype(device)
    offload = device.type == "cuda" if offload is None else offload
    skip = dict(safety_checker=None, feature_extractor=None, watermarker=None,
                requires_safety_checker=False, dtype=dtype)  # fmt: skip
    pipes = []
    stages = (
        (IFPipeline, stage1_model, {}, "if_stage1", STAGE_1_PARTS),
        (IFSuperResolutionPipeline, stage2_model, dict(text_encoder=None, tokenizer=None),
         "if_stage2", STAGE_2_PARTS),
    )  # fmt: skip
    for _, model_id, _, role, parts in stages:
        check_layout(model_id, parts, role)
    for cls, model_id, extra, _, parts in stages:
        weighted = [part for part in ("unet", "text_encoder") if part in parts]
        try:
            if is_local(model_id) and not os.path.isdir(os.path.expanduser(model_id)):
                raise OSError("no such folder")
            pipe = from_pretrained_prefer_fp16(
                cls, model_id, skip | extra, dtype == torch.float16, weighted
            )
        except DamagedModelError:
            raise
        except Exception as err:  # the hub raises many kinds; all mean "not available"
            check_weight_files(model_id, weighted, err)
            reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
            if "sentencepiece" in str(err).lower():
                reason += " (IF's T5 tokenizer needs `pip install sentencepiece protobuf`)"
            raise ModelUnavailableError(gated_message(model_id, reason)) from err
        pipe.set_progress_bar_config(disable=True)
        if offload and device.type != "cpu":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        for part in weighted:
            check_finite_weights(getattr(pipe, part), model_id, part)
        pipes.append(pipe)
    return Colorizer(pipes[0], pipes[1], device, dtype, (str(stage1_model), str(stage2_model)))


def check_spectrogram(spectrogram: Any) -> np.ndarray:
    """Validate a spectrogram picture (H, W) in [0, 1] of any non-zero size; return it as
    float32."""
    array = np.asarray(
        spectrogram.detach().cpu() if torch.is_tensor(spectrogram) else spectrogram,
        dtype=np.float32,
    )
    if array.ndim != 2:
        raise ValueError(
            f"spectrogram must be a 2-D gray picture (H, W), got shape {array.shape}; "
            "pass the spectrogram itself, not a colour or batched picture."
        )
    height, width = array.shape
    if height == 0 or width == 0:
        raise ValueError(f"spectrogram size {height} x {width} is empty; pass a picture.")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError("spectrogram values must be finite and within [0, 1].")
    return array


def mean_c(x: torch.Tensor) -> torch.Tensor:
    """Grayscale component: the channel mean, (B, 3, H, W) -> (B, 1, H, W)."""
    return x.mean(dim=1, keepdim=True)


def replace_gray(x: torch.Tensor, gray: torch.Tensor) -> torch.Tensor:
    """Keep ``x``'s colour residual, swap in ``gray`` (B, 1, H, W) as its grayscale part."""
    return x - mean_c(x) + gray


def exact_projection(x: torch.Tensor, gray: torch.Tensor, low: float = 0.0, high: float = 1.0):
    """Project ``x`` (B, 3, H, W) so that ``mean_c == gray`` and every value is in [low, high].

    ``gray`` must lie in [low, high]. Where ``gray + residual`` would leave the range,
    the colour residual is scaled down (per pixel) just enough; its channel mean stays
    zero, so the grayscale part stays exactly ``gray``.
    """
    residual = x - mean_c(x)
    bound = torch.where(residual > 0, high - gray, low - gray)  # room in the residual's direction
    room = torch.where(residual != 0, bound / residual, torch.full_like(residual, math.inf))
    scale = room.amin(dim=1, keepdim=True).clamp(0, 1)
    return (gray + scale * residual).clamp(low, high)


def _guided(unet_out: torch.Tensor, guidance: float, scheduler: Any) -> torch.Tensor:
    """CFG on the noise channels of a batch-2 [uncond, cond] IF output (2, 6, h, w).

    IF's UNet predicts noise (channels 0-2) and a variance interpolation (3-5). The
    variance is taken from the conditional branch and passed on only when the scheduler
    learns it (``variance_type`` "learned"/"learned_range"), as DDPMScheduler expects.
    """
    uncond, cond = unet_out.float().chunk(2)
    noise = uncond[:, :3] + guidance * (cond[:, :3] - uncond[:, :3])
    if scheduler.config.variance_type in ("learned", "learned_range") and cond.shape[1] == 6:
        return torch.cat([noise, cond[:, 3:]], dim=1)
    return noise


def _noised_gray(scheduler: Any, gray: torch.Tensor, noise_gray: torch.Tensor | None, t):
    """The spectrogram at the noise level of timestep ``t`` (``t < 0``: clean)."""
    if int(t) < 0:
        return gray
    return scheduler.add_noise(gray, noise_gray, torch.tensor([int(t)], device=gray.device))


def _gray_noise(gray: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A fresh draw of the grayscale part of colour noise for ``gray`` (1, 1, h, w): the
    channel mean of 3 independent standard normals (std 1/sqrt(3)), drawn on the CPU."""
    noise = torch.randn((1, 3, *gray.shape[-2:]), generator=generator)
    return mean_c(noise).to(gray.device, gray.dtype)


def _denoise(
    unet: Any,
    scheduler: Any,
    x: torch.Tensor,
    gray: torch.Tensor,
    start_noise_gray: torch.Tensor,
    timesteps: torch.Tensor,
    embeddings: torch.Tensor,
    guidance: float,
    generator: torch.Generator,
    condition: torch.Tensor | None = None,
    noise_level: torch.Tensor | None = None,
) -> torch.Tensor:
    """The Factorized Diffusion loop: denoise ``x`` (1, 3, h, w) in [-1, 1] space over
    ``timesteps``, holding its grayscale part at ``gray`` noised to each step's level.

    The first step's gray part is noised with ``start_noise_gray`` (the grayscale part
    of the noise ``x`` started from, so the start picture is left as it is); every later
    step's with a fresh draw from ``generator``, as the paper's code does.

    Stage II passes ``condition`` (the noised upscaled stage I picture, concatenated
    to the input channels) and ``noise_level`` (its class label).
    """
    x = replace_gray(x, _noised_gray(scheduler, gray, start_noise_gray, timesteps[0]))
    for t in timesteps:
        model_in = x if condition is None else torch.cat([x, condition], dim=1)
        model_in = scheduler.scale_model_input(torch.cat([model_in, model_in]), t)
        extra = {} if noise_level is None else {"class_labels": noise_level.repeat(2)}
        out = unet(
            model_in.to(unet.dtype), t, encoder_hidden_states=embeddings, return_dict=False, **extra
        )[0]
        x = scheduler.step(_guided(out, guidance, scheduler), t, x, generator=generator)[0]
        level = scheduler.previous_timestep(t)  # x is now at this step's level (-1: clean)
        fresh = _gray_noise(gray, generator) if int(level) >= 0 else None
        x = replace_gray(x, _noised_gray(scheduler, gray, fresh, level))
    return x


@torch.inference_mode()
def colorize(
    spectrogram: Any,
    prompt: str,
    steps: int = 30,
    guidance: float = 10.0,
    start_step: int = 7,
    seed: int = 0,
    negative_prompt: str = "",
    stage2_steps: int | None = None,
    noise_level: int = 50,
    template: str | None = PROMPT_TEMPLATE,
    colorizer: Colorizer | None = None,
) -> np.ndarray:
    """Colorize a spectrogram picture so that its grayscale is unchanged.

    Args:
        spectrogram: (H, W) in [0, 1], any size (e.g. 256 x 1024, or 256 x 496: a
            ``--width 512`` sample after its right-band crop); sizes that are not
            multiples of ``colorizer.multiple`` (32 for IF-M) are edge-padded to one and
            the result cropped back.
        prompt: the image prompt; the IF prompt is ``color_prompt(prompt, template)``
            ("a colorful photo of castles"); ``template=None`` uses ``prompt`` as is.
        steps: stage I denoising steps (the schedule is divided into this many).
        guidance: classifier-free guidance scale, both stages.
        start_step: index in [0, steps) of the step denoising starts from; stage I
            begins at the gray picture noised to that step's level (0: pure noise).
        seed: all randomness (noise, sampler) comes from this seed.
        stage2_steps: stage II steps (default ``steps``), from pure noise as IF does.
        noise_level: noise added to the upscaled stage I picture stage II sees: 50, the
            paper's code's value (diffusers' IF super-resolution pipeline uses 250; less
            noise there makes stage II follow stage I's colours more closely).
        colorizer: loaded models (:func:`load_colorizer`); loaded now if ``None``.

    Returns:
        (H, W, 3) float32 RGB in [0, 1] whose channel mean equals ``spectrogram``
        to float precision (so within 1/255 once saved as 8-bit PNG).
    """
    if not 0 <= start_step < steps:
        raise ValueError(f"start_step must be in [0, steps) = [0, {steps}), got {start_step}.")
    if stage2_steps is not None and stage2_steps < 1:
        raise ValueError(f"stage2_steps must be at least 1 (or None: steps), got {stage2_steps}.")
    if not 0 <= noise_level < 1000:
        raise ValueError(f"noise_level must be in [0, 1000), got {noise_level}.")
    spectrogram = check_spectrogram(spectrogram)
    colorizer = colorizer or load_colorizer()
    rows, cols = spectrogram.shape
    # IF needs multiples of colorizer.multiple (stage I works at H/4 x W/4 and halves that
    # 3 times): pad with the edge, crop back after.
    pad = ((0, -rows % colorizer.multiple), (0, -cols % colorizer.multiple))
    spectrogram = np.pad(spectrogram, pad, mode="edge")
    device, height, width = colorizer.device, *spectrogram.shape
    generator = torch.Generator("cpu").manual_seed(int(seed))
    embeddings = colorizer.encode(color_prompt(prompt, template) if template else prompt,
                                  negative_prompt)  # fmt: skip

    # IF works in [-1, 1]; gray pictures are (1, 1, h, w).
    gray = torch.from_numpy(spectrogram)[None, None].to(device) * 2 - 1
    gray_small = F.interpolate(gray, scale_factor=0.25, mode="area")

    # Stage I at H/4 x W/4: the gray picture noised to step `start_step`, then denoised.
    pipe1 = colorizer.stage1
    scheduler = type(pipe1.scheduler).from_config(pipe1.scheduler.config)
    scheduler.set_timesteps(steps, device=device)
    timesteps = scheduler.timesteps[start_step:]
    noise = torch.randn((1, 3, height // 4, width // 4), generator=generator).to(device)
    # The start picture is the gray picture noised to step `start_step`, its own noise
    # giving the first step's gray part. Every later step's gray part is noised with a
    # fresh draw, as in the paper's code (its samplers draw new noise for the fixed
    # grayscale component at every step). Each draw is the channel mean of colour noise
    # (std 1/sqrt(3)): the grayscale part noising a colour picture would give.
    x = scheduler.add_noise(gray_small.expand(1, 3, -1, -1), noise, timesteps[:1])
    x = _denoise(pipe1.unet, scheduler, x, gray_small, mean_c(noise), timesteps,
                 embeddings, guidance, generator)  # fmt: skip
    small = exact_projection(x, gray_small, -1.0, 1.0)
    pipe1.maybe_free_model_hooks()  # with offloading: stage I's UNet back to the CPU

    # Stage II at H x W: IF's super-resolution, conditioned on stage I's colours with
    # the full-resolution gray swapped in, under the same projection.
    pipe2 = colorizer.stage2
    upscaled = F.interpolate(small, (height, width), mode="bilinear", align_corners=True)
    upscaled = exact_projection(upscaled, gray, -1.0, 1.0)
    level = torch.tensor([noise_level], device=device)
    upscaled = pipe2.image_noising_scheduler.add_noise(
        upscaled, torch.randn(upscaled.shape, generator=generator).to(device), level
    )
    scheduler = type(pipe2.scheduler).from_config(pipe2.scheduler.config)
    scheduler.set_timesteps(stage2_steps or steps, device=device)
    noise = torch.randn((1, 3, height, width), generator=generator).to(device)
    x = noise * scheduler.init_noise_sigma
    x = _denoise(pipe2.unet, scheduler, x, gray, mean_c(noise), scheduler.timesteps,
                 embeddings.to(pipe2.unet.dtype), guidance, generator,
                 condition=upscaled.to(x.dtype), noise_level=level)  # fmt: skip
    pipe2.maybe_free_model_hooks()

    out = exact_projection((x + 1) / 2, (gray + 1) / 2)  # [0, 1], mean_c == spectrogram
    return out[0, :, :rows, :cols].permute(1, 2, 0).float().cpu().numpy()


def read_spectrogram(path: str | os.PathLike) -> np.ndarray:
    """A saved spectrogram PNG as (H, W) float32 in [0, 1], at its own size."""
    from PIL import Image

    if not os.path.isfile(path):
        raise FileNotFoundError(f"spectrogram picture {str(path)!r} does not exist.")
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def colorize_sample_folder(
    folder: str | os.PathLike,
    image_prompt: str | None = None,
    video: bool = False,
    colorizer: Colorizer | None = None,
    **settings: Any,
) -> Path:
    """Colorize a saved sample: ``spectrogram.png`` -> ``color.png`` beside it.

    ``image_prompt`` defaults to ``params.json``'s. ``settings`` go to :func:`colorize`
    (steps, guidance, start_step, seed, ...). With ``video`` also writes
    ``video_color.mp4``: the colour picture with a playhead, playing ``audio.wav``.
    Files are written atomically; nothing is written if colorizing fails (a failing
    video leaves the finished ``color.png``).
    Returns the path of ``color.png``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"sample folder {str(folder)!r} does not exist.")
    spectrogram = read_spectrogram(folder / "spectrogram.png")
    if image_prompt is None:
        params_path = folder / "params.json"
        params = json.loads(params_path.read_text()) if params_path.is_file() else {}
        image_prompt = params.get("image_prompt")
        if not image_prompt:
            raise ValueError(
                f"no image_prompt given and {params_path} has none; pass image_prompt."
            )
    if video and not (folder / "audio.wav").is_file():
        raise FileNotFoundError(f"video=True needs {folder / 'audio.wav'}, which does not exist.")

    color = colorize(spectrogram, image_prompt, colorizer=colorizer, **settings)

    path = folder / "color.png"
    write_png(path, color)
    if video:
        import soundfile as sf

        from itslib.viz import write_video

        rate = sf.info(str(folder / "audio.wav")).samplerate
        waveform = load_audio(folder / "audio.wav", sample_rate=rate)
        write_video(folder / "video_color.mp4", color, waveform, rate)
    return path
