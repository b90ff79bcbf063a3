"""The miniature world's experts: the joint pipeline assembled from the shipped (or your
own) weights, with class-name prompts (:class:`itslib.experts.ClassPromptEncoder`)."""

from __future__ import annotations

import os

import torch
from torch import nn

from itslib.experts import ClassPromptEncoder, Expert
from itslib.mini.store import load_components, sampling_weights
from itslib.mini.world import HEIGHT, MINI_MEL, WIDTH
from itslib.pipeline import ImagesThatSound

UNET_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def mini_pipeline(
    folder: str | os.PathLike | None = None,
    device: str = "cpu",
    threads: int | None = 1,
    dtype: torch.dtype | None = None,
) -> ImagesThatSound:
    """The miniature world as a joint pipeline: class-name prompts, a 128 x 512 canvas,
    one shared autoencoder, Griffin-Lim as the vocoder.

    ``folder``: weights to load (default ``ITSLIB_MINI_WEIGHTS`` if set, else the shipped
    ones). ``threads``: sets ``torch.set_num_threads`` (process-wide). The miniature
    UNets are too small to gain from more CPU threads, and with other work running a
    second thread made each UNet call up to 10x slower here; ``None`` leaves it alone.
    ``dtype``: the UNets' precision (default fp32; ``torch.bfloat16`` made batches of 8
    1.2x faster on this project's CPU, which has bf16 units, and is slow on CPUs without;
    fp16 needs CUDA); the autoencoder and the judges stay fp32. On the CPU the UNets run
    channels-last, faster at every batch size here.
    """
    dtype = dtype or torch.float32
    if dtype not in UNET_DTYPES:
        raise ValueError(f"dtype={dtype} must be one of {', '.join(map(str, UNET_DTYPES))}.")
    on_cpu = torch.device(device).type == "cpu"
    if dtype == torch.float16 and on_cpu:
        raise ValueError("dtype=torch.float16 needs a CUDA device; on the CPU use "
                         "torch.bfloat16 or torch.float32.")  # fmt: skip
    if threads is not None and on_cpu:
        torch.set_num_threads(threads)
    folder = sampling_weights(folder)
    parts = load_components(folder, device=device, unet_dtype=dtype)
    source = str(folder) if folder is not None else "itslib/mini/weights"

    def expert(name: str, unet: nn.Module, classes: tuple[str, ...]) -> Expert:
        if on_cpu:
            unet = unet.to(memory_format=torch.channels_last)
        return Expert(name=name, unet=unet, vae=parts.vae,
                      prompt_encoder=ClassPromptEncoder(list(classes)),
                      scheduler_config=dict(parts.scheduler_config), model_id=f"{source}:{name}",
                      mel=MINI_MEL)  # fmt: skip

    return ImagesThatSound(
        expert("image", parts.image_unet, parts.picture_classes),
        expert("audio", parts.audio_unet, parts.sound_classes),
        world="mini",
        canvas=(HEIGHT, WIDTH),
        crop_right=False,
        info={"world": "mini"},
    )
