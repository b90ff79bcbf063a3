"""Experts: one diffusion model with its conditioning, answering "what noise is in x_t?".

An :class:`Expert` holds a noise-predicting UNet, the VAE that maps its latents to
pictures, and a prompt encoder. Given a noisy latent ``x_t`` at timestep ``t`` it
returns the classifier-free-guided noise estimate (Ho and Salimans, 2022)::

    eps = eps(x_t, t, uncond) + guidance * (eps(x_t, t, cond) - eps(x_t, t, uncond))

computed with one batched UNet call on ``[uncond, cond]``. The sampler never looks
inside an expert, so Stable Diffusion, Auffusion and the miniature models all go
through the same loop.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from itslib._hub import (
    DamagedModelError,
    ModelUnavailableError,
    check_finite_weights,
    check_layout,
    check_weight_files,
    from_pretrained_prefer_fp16,
    gated_message,
    is_local,
    unavailable_message,
)
from itslib._hub import model_id as real_model_id
from itslib.audio import AUFFUSION, MelConfig
from itslib.checks import default_device, default_dtype
from itslib.hifigan import HiFiGAN

# The subfolders each loader reads from a repository (a local folder must hold them).
SD_PARTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
IF_PARTS = ("unet", "text_encoder", "tokenizer", "scheduler")


class NonFiniteOutputError(ValueError):
    """A model computed NaN or infinite values from finite inputs (e.g. an fp16 overflow)."""


def precision_advice(dtype: torch.dtype) -> str:
    """What to try when a model in ``dtype`` computes NaN or infinite values."""
    if dtype == torch.float16:
        return ("fp16 overflows easily: load it in float32 (dtype=torch.float32, --dtype fp32), "
                "or in bfloat16 on GPUs that have it (Ampere or newer: dtype=torch.bfloat16, "
                "--dtype bf16)")  # fmt: skip
    if dtype == torch.bfloat16:
        return "load it in float32 (dtype=torch.float32, --dtype fp32)"
    return ("in float32 an overflow is unlikely: its weights may be damaged (load them again "
            "from a fresh copy)")  # fmt: skip


def _finite(tensor: torch.Tensor) -> bool:
    return bool(torch.isfinite(tensor).all())


@dataclass
class Condition:
    """An encoded prompt pair: UNet keyword arguments for the unconditional
    (negative) and the conditional branch, each with batch size 1."""

    uncond: dict[str, torch.Tensor]
    cond: dict[str, torch.Tensor]
    prompt: str = ""  # the part of each prompt the encoder read (see TextPromptEncoder.fit)
    negative_prompt: str = ""


class TextPromptEncoder(nn.Module):
    """CLIP text conditioning as Stable Diffusion does it: 77 tokens, last hidden state."""

    special_tokens = 2  # CLIP's start and end tokens take two of the 77

    def __init__(self, tokenizer, text_encoder: nn.Module):
        super().__init__()
        self.tokenizer = tokenizer
        self.text_encoder = text_encoder

    @property
    def max_length(self) -> int:
        """Tokens the text encoder reads, its special tokens included (77 for CLIP)."""
        return int(self.tokenizer.model_max_length)

    def fit(self, text: str) -> tuple[str, str]:
        """``(read, dropped)``: the part of ``text`` the encoder reads, and the part beyond
        its ``max_length`` tokens that it never sees ("" when it all fits), as the
        tokenizer spells them."""
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        room = self.max_length - self.special_tokens
        if len(ids) <= room:
            return text, ""
        decode = self.tokenizer.decode
        return decode(ids[:room]).strip(), decode(ids[room:]).strip()

    def forward(self, text: str) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer(
            [text],
            padding="max_length",
            max_length=self.max_length,
            truncation=True,
            return_tensors="pt",
        )
        device = next(self.text_encoder.parameters()).device
        embeddings = self.text_encoder(tokens.input_ids.to(device))[0]
        return {"encoder_hidden_states": embeddings}


class ClassPromptEncoder(nn.Module):
    """Class-label conditioning: the prompt is a class name; the empty prompt is the null
    class used for classifier-free guidance."""

    def __init__(self, class_names: list[str]):
        super().__init__()
        self.class_names = list(class_names)

    @property
    def null_class(self) -> int:
        return len(self.class_names)

    def forward(self, text: str) -> dict[str, torch.Tensor]:
        text = text.strip()
        if text == "":
            index = self.null_class
        elif text in self.class_names:
            index = self.class_names.index(text)
        else:
            raise ValueError(
                f"prompt {text!r} is not one of this model's classes: "
                f"{', '.join(self.class_names)}."
            )
        return {"class_labels": torch.tensor([index])}


class T5PromptEncoder(TextPromptEncoder):
    """T5 text conditioning as DeepFloyd IF does it: 77 tokens with the attention mask."""

    special_tokens = 1  # T5's end token

    @property
    def max_length(self) -> int:
        return 77  # IF's pipelines cut T5's input there

    def forward(self, text: str) -> dict[str, torch.Tensor]:
        tokens = self.tokenizer([text], padding="max_length", max_length=77, truncation=True,
                                add_special_tokens=True, return_tensors="pt")  # fmt: skip
        device = next(self.text_encoder.parameters()).device
        embeddings = self.text_encoder(
            tokens.input_ids.to(device), attention_mask=tokens.attention_mask.to(device)
        )[0]
        return {"encoder_hidden_states": embeddings}


@dataclass
class Expert:
    """One diffusion model with its conditioning.

    Attributes:
        name: a short label ("image", "audio") used in trajectories and logs.
        unet: predicts noise; called as ``unet(x, t, **condition_kwargs).sample``.
        vae: maps latents to pictures in [-1, 1] and back (diffusers ``AutoencoderKL``);
            ``None`` for a pixel-space model (DeepFloyd IF), whose "latents" are the
            pictures themselves in [-1, 1].
        prompt_encoder: text or class name -> UNet keyword arguments.
        scheduler_config: the noise schedule the UNet was trained with.
        model_id: where the weights came from (hub id or folder).
        mel: the spectrogram conventions of an audio expert's pictures.
        extras: anything else the loader found (e.g. ``{"vocoder": HiFiGAN}``).
        offload_to: with a GPU, keep the text encoder and VAE on this device (the
            CPU) and move each to the UNet's device only while it works, to save
            GPU memory on small cards. ``None``: everything stays on the UNet's device.
    """

    name: str
    unet: nn.Module
    vae: nn.Module | None
    prompt_encoder: nn.Module
    scheduler_config: dict[str, Any]
    model_id: str = ""
    mel: MelConfig = AUFFUSION
    extras: dict[str, Any] = field(default_factory=dict)
    offload_to: str | None = None

    @contextlib.contextmanager
    def resident(self, module: nn.Module) -> Iterator[nn.Module]:
        """Run ``module`` on the UNet's device; with offloading, move it back after."""
        if self.offload_to is None:
            yield module
            return
        module.to(self.device)
        try:
            yield module
        finally:
            module.to(self.offload_to)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @torch.inference_mode()
    def condition(self, prompt: str, negative_prompt: str = "") -> Condition:
        """Encode ``prompt`` and ``negative_prompt`` (the unconditional branch). A prompt
        longer than the text encoder reads is said, with the part dropped; the
        :class:`Condition` records the part read."""
        read = [self.fitted(text, kind) for text, kind in ((prompt, "prompt"),
                                                           (negative_prompt, "negative prompt"))]
        with self.resident(self.prompt_encoder) as encode:
            return Condition(encode(negative_prompt), encode(prompt), *read)

    def fitted(self, text: str, kind: str = "prompt") -> str:
        """The part of ``text`` the prompt encoder reads; what it drops is printed."""
        fit = getattr(self.prompt_encoder, "fit", None)  # class-name encoders read it all
        if fit is None:
            return text
        read, dropped = fit(text)
        if dropped:
            print(f"the {self.name} {kind} is longer than its text encoder reads "
                  f"({self.prompt_encoder.max_length} tokens); dropped: {dropped!r}.")
        return read

    def predict_noise(
        self, x_t: torch.Tensor, t: torch.Tensor | int, condition: Condition, guidance: float
    ) -> torch.Tensor:
        """Classifier-free-guided noise estimate for ``x_t`` (B, C, h, w) at ``t``.

        One UNet call on the batch ``[uncond] * B + [cond] * B``; returns (B, C, h, w)
        in the UNet's dtype. ``t``: a scalar, or one timestep per sample (B,).
        """
        batch = x_t.shape[0]
        if torch.is_tensor(t) and t.ndim == 1 and t.numel() == batch:
            t = torch.cat([t, t])
        x = torch.cat([x_t, x_t]).to(self.device, self.dtype)
        kwargs = {
            key: torch.cat(
                [
                    condition.uncond[key].expand(batch, *condition.uncond[key].shape[1:]),
                    condition.cond[key].expand(batch, *condition.cond[key].shape[1:]),
                ]
            ).to(self.device)
            for key in condition.cond
        }
        if "encoder_hidden_states" in kwargs:
            kwargs["encoder_hidden_states"] = kwargs["encoder_hidden_states"].to(self.dtype)
        out = self.unet(x, t, **kwargs).sample[:, : x.shape[1]]  # IF adds variance channels
        noise_uncond, noise_cond = out.chunk(2)
        estimate = noise_uncond + guidance * (noise_cond - noise_uncond)
        if not _finite(estimate):  # one check per call; the causes only on failure
            self._explain_non_finite("noise estimate", {"x_t": x, **kwargs})
        return estimate

    def _explain_non_finite(self, what: str, inputs: dict[str, torch.Tensor]) -> None:
        """Raise for a NaN or infinite ``what``: ``ValueError`` naming the input when one of
        ``inputs`` was already non-finite, else :class:`NonFiniteOutputError` naming this
        model (or its prompt encoder), its precision and what to try."""
        model = f"the {self.name} expert ({self.model_id or 'no model id'}, {self.dtype})"
        for name, tensor in inputs.items():
            if not (torch.is_tensor(tensor) and tensor.is_floating_point()) or _finite(tensor):
                continue
            if name == "encoder_hidden_states":
                raise NonFiniteOutputError(
                    f"the prompt encoder of {model} computed NaN or infinite values; "
                    f"{precision_advice(self.dtype)}."
                )
            raise ValueError(f"{model} was given NaN or infinite values in {name}; clean the "
                             "input first.")  # fmt: skip
        raise NonFiniteOutputError(
            f"{model} computed NaN or infinite values in its {what} from finite inputs; "
            f"{precision_advice(self.dtype)}."
        )

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, 4, h, w) -> pictures (B, C, 8h, 8w) in [0, 1] (float32, CPU)."""
        scale = self.vae.config.scaling_factor
        with self.resident(self.vae) as vae:
            pictures = vae.decode(latents.to(self.device, vae.dtype) / scale).sample
            if not _finite(pictures):  # before the clamp, which would hide inf
                self._explain_non_finite("decoded pictures (its VAE)", {"latents": latents})
        return (pictures.float() / 2 + 0.5).clamp(0, 1).cpu()

    @torch.inference_mode()
    def encode(self, pictures: torch.Tensor, generator: torch.Generator | None = None):
        """Pictures (B, C, H, W) in [0, 1] -> scaled latents (B, c, H/f, W/f), float32,
        where f is the VAE's downsampling factor and c its latent channels (SD: 8 and 4;
        the miniature world: 4 and 4).

        Takes the mean of the VAE's posterior (deterministic)."""
        channels = self.vae.config.in_channels
        if pictures.shape[1] != channels:
            pictures = pictures.mean(dim=1, keepdim=True).expand(-1, channels, -1, -1)
        with self.resident(self.vae) as vae:
            latents = vae.encode(pictures.to(self.device, vae.dtype) * 2 - 1).latent_dist.mean
        if not _finite(latents):
            self._explain_non_finite("encoded latents (its VAE)", {"pictures": pictures})
        return latents.float() * self.vae.config.scaling_factor


def load_stable_diffusion_expert(
    model_id: str | os.PathLike,
    name: str,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    offload: bool = False,
) -> Expert:
    """Load the parts of a Stable Diffusion 1.x repository an expert needs.

    Reads ``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/`` and ``scheduler/``
    from a hub id or a local folder laid out like one (the safety checker is never
    loaded). Raises :class:`ModelUnavailableError` naming the model and the fix when
    the weights cannot be had or a local folder lacks one of those subfolders, and
    :class:`itslib._hub.DamagedModelError` naming the file when a weights file is damaged
    (truncated, bad header, NaN weights). ``offload``: keep the text encoder and VAE on
    the CPU between uses (see :attr:`Expert.offload_to`).
    """
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    device = device or default_device()
    dtype = dtype or default_dtype(device)
    model_id = str(model_id)
    if is_local(model_id) and not os.path.isdir(os.path.expanduser(model_id)):
        raise ModelUnavailableError(unavailable_message(model_id, "no such folder"))
    check_layout(model_id, SD_PARTS, name)
    try:
        scheduler_config = dict(DDIMScheduler.load_config(model_id, subfolder="scheduler"))
        tokenizer = CLIPTokenizer.from_pretrained(model_id, subfolder="tokenizer")
        text_encoder = CLIPTextModel.from_pretrained(
            model_id, subfolder="text_encoder", dtype=dtype
        )
        vae = AutoencoderKL.from_pretrained(model_id, subfolder="vae", dtype=dtype)
        unet = UNet2DConditionModel.from_pretrained(model_id, subfolder="unet", dtype=dtype)
    except Exception as err:  # transformers raises SafetensorError too
        check_weight_files(model_id, ("text_encoder", "vae", "unet"), err)
        if not isinstance(err, (OSError, ValueError)):
            raise
        raise ModelUnavailableError(
            unavailable_message(model_id, f"{type(err).__name__}: {str(err).splitlines()[0]}")
        ) from err
    offload_to = "cpu" if offload and torch.device(device).type != "cpu" else None
    for part, module in (("text_encoder", text_encoder), ("vae", vae), ("unet", unet)):
        module.eval().requires_grad_(False)
        module.to(offload_to if offload_to and module is not unet else device)
        check_finite_weights(module, model_id, part)
    return Expert(
        name=name,
        unet=unet,
        vae=vae,
        prompt_encoder=TextPromptEncoder(tokenizer, text_encoder),
        scheduler_config=scheduler_config,
        model_id=model_id,
        offload_to=offload_to,
    )


def load_image_expert(
    model_id: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    offload: bool = False,
) -> Expert:
    """The image expert: Stable Diffusion 1.5 (or any SD 1.x id or folder; ``None``:
    ``ITSLIB_IMAGE_MODEL`` if set, else the hub's SD 1.5)."""
    model_id = model_id or real_model_id("image")
    return load_stable_diffusion_expert(model_id, "image", device, dtype, offload)


def load_audio_expert(
    model_id: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    vocoder: bool = True,
    offload: bool = False,
) -> Expert:
    """The audio expert: Auffusion, with its HiFi-GAN from the repository's ``vocoder/``
    (in ``expert.extras["vocoder"]``, fp32 unless on CUDA), which must fit the expert's
    spectrogram (``expert.mel``: mel bins, hop, sampling rate). ``None``:
    ``ITSLIB_AUDIO_MODEL`` if set, else the hub's Auffusion."""
    model_id = str(model_id or real_model_id("audio"))
    check_layout(model_id, SD_PARTS + (("vocoder",) if vocoder else ()), "audio")
    expert = load_stable_diffusion_expert(model_id, "audio", device, dtype, offload)
    if vocoder:
        expert.extras["vocoder"] = HiFiGAN.from_pretrained(
            model_id, subfolder="vocoder", device=expert.device, dtype=expert.dtype,
            mel=expert.mel,
        )  # fmt: skip
    return expert


def load_if_expert(
    model_id: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> Expert:
    """DeepFloyd IF stage I as a pixel-space image expert (``vae=None``): its "latents"
    are 3 x 64 x 64 pictures in [-1, 1]. For the SDS baseline's image loss, as the paper
    uses it. IF is gated: accept its licence on the hub and log in first. ``None``:
    ``ITSLIB_IF_STAGE1`` if set, else the hub's IF-I-M."""
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer, T5EncoderModel

    device = device or default_device()
    dtype = dtype or default_dtype(device)
    model_id = str(model_id or real_model_id("if_stage1"))
    check_layout(model_id, IF_PARTS, "if_stage1")
    try:
        if is_local(model_id) and not os.path.isdir(os.path.expanduser(model_id)):
            raise OSError("no such folder")
        scheduler_config = dict(DDPMScheduler.load_config(model_id, subfolder="scheduler"))
        tokenizer = AutoTokenizer.from_pretrained(model_id, subfolder="tokenizer")
        fp16 = dtype == torch.float16  # the fp16 files: T5-XXL is ~9.5 GB instead of ~19 GB
        text_encoder = from_pretrained_prefer_fp16(
            T5EncoderModel, model_id, dict(subfolder="text_encoder", dtype=dtype), fp16,
            ("text_encoder",),
        )  # fmt: skip
        unet = from_pretrained_prefer_fp16(
            UNet2DConditionModel, model_id, dict(subfolder="unet", dtype=dtype), fp16, ("unet",)
        )
    except DamagedModelError:
        raise
    except Exception as err:  # transformers raises SafetensorError too
        check_weight_files(model_id, ("text_encoder", "unet"), err)
        if not isinstance(err, (OSError, ValueError, ImportError)):
            raise
        reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
        raise ModelUnavailableError(gated_message(model_id, reason)) from err
    # On a GPU the T5 encoder waits in CPU memory and visits the GPU only to encode the
    # prompts (once per SDS run), so a 15 GB card holds the UNets.
    offload_to = "cpu" if torch.device(device).type != "cpu" else None
    text_encoder.eval().requires_grad_(False).to(offload_to or device)
    unet.eval().requires_grad_(False).to(device)
    check_finite_weights(text_encoder, model_id, "text_encoder")
    check_finite_weights(unet, model_id, "unet")
    return Expert(name="image", unet=unet, vae=None,
                  prompt_encoder=T5PromptEncoder(tokenizer, text_encoder),
                  scheduler_config=scheduler_config, model_id=model_id,
                  offload_to=offload_to)  # fmt: skip
