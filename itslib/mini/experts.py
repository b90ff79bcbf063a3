"""The miniature world's experts: class-name prompts, and the joint pipeline assembled
from the shipped (or your own) weights."""

from __future__ import annotations

import os

import torch
from torch import nn

from itslib.experts import Expert
from itslib.mini.store import load_components
from itslib.mini.world import HEIGHT, MINI_MEL, WIDTH
from itslib.pipeline import ImagesThatSound


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
                f"prompt {text!r} is not one of this miniature model's classes: "
                f"{', '.join(self.class_names)}."
            )
        return {"class_labels": torch.tensor([index])}


def mini_pipeline(
    folder: str | os.PathLike | None = None, device: str = "cpu", threads: int | None = 1
) -> ImagesThatSound:
    """The miniature world as a joint pipeline: class-name prompts, a 64 x 256 canvas,
    one shared autoencoder, Griffin-Lim as the vocoder.

    ``folder``: weights to load (default ``ITSLIB_MINI_WEIGHTS`` if set, else the shipped
    ones). ``threads``: sets ``torch.set_num_threads`` (process-wide). The miniature
    UNets are too small to gain from more CPU threads, and with other work running a
    second thread made each UNet call up to 10x slower here; ``None`` leaves it alone.
    """
    if threads is not None and torch.device(device).type == "cpu":
        torch.set_num_threads(threads)
    folder = folder or os.environ.get("ITSLIB_MINI_WEIGHTS") or None
    parts = load_components(folder, device=device)
    source = str(folder) if folder is not None else "itslib/mini/weights"

    def expert(name: str, unet: nn.Module, classes: tuple[str, ...]) -> Expert:
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
