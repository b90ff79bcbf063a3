"""The real models' hub ids, each overridable by an environment variable, and finding
model files on the Hugging Face hub or in a local folder, with clear errors."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RealModel:
    """One model of the real world: its hub id and the variable that overrides it."""

    hub_id: str
    env: str
    what: str


# Every real model the library and the book load. Set the variable to another hub id or
# to a local folder in the same layout (e.g. the copies `python -m itslib rehearse DIR`
# writes) and every loader, the CLI and the chapters use it.
REAL_MODELS = {
    "image": RealModel("stable-diffusion-v1-5/stable-diffusion-v1-5", "ITSLIB_IMAGE_MODEL",
                       "image expert: Stable Diffusion 1.5 (any SD 1.x id or folder)"),
    "audio": RealModel("auffusion/auffusion-full-no-adapter", "ITSLIB_AUDIO_MODEL",
                       "audio expert: Auffusion, with its HiFi-GAN in vocoder/"),
    "clip": RealModel("openai/clip-vit-base-patch16", "ITSLIB_CLIP_MODEL",
                      "picture judge: CLIP ViT-B/16"),
    "clap": RealModel("laion/clap-htsat-unfused", "ITSLIB_CLAP_MODEL",
                      "sound judge: CLAP (HTSAT, unfused)"),
    "if_stage1": RealModel("DeepFloyd/IF-I-M-v1.0", "ITSLIB_IF_STAGE1",
                           "DeepFloyd IF stage I (colorization, the paper's image SDS; gated)"),
    "if_stage2": RealModel("DeepFloyd/IF-II-M-v1.0", "ITSLIB_IF_STAGE2",
                           "DeepFloyd IF stage II (colorization; gated)"),
}  # fmt: skip


def model_id(role: str) -> str:
    """The hub id or folder to load for ``role`` (a key of :data:`REAL_MODELS`): its
    environment variable when set, else the hub id. Read at each load, not at import."""
    if role not in REAL_MODELS:
        raise ValueError(f"role={role!r} must be one of {', '.join(REAL_MODELS)}.")
    model = REAL_MODELS[role]
    return os.environ.get(model.env, "").strip() or model.hub_id


class ModelUnavailableError(FileNotFoundError):
    """A model could not be found locally and could not be downloaded."""


def unavailable_message(model_id: str, reason: str) -> str:
    """The one message a reader sees when a model cannot be had, with what to do."""
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False")
    lines = [
        f"Could not load the model {model_id!r}: {reason}.",
        "What to do:",
        "  - run once with internet access so the weights are downloaded and cached"
        + (" (HF_HUB_OFFLINE=1 is set, so nothing is downloaded now)" if offline else ""),
        f"  - if the model is gated, accept its licence at https://huggingface.co/{model_id}"
        " and log in (`huggingface-cli login`, or `from huggingface_hub import login; login()`"
        " in Colab)",
        "  - or pass a local folder that holds a copy of the model instead of the hub id.",
    ]
    return "\n".join(lines)


def is_local(id_or_folder: str | os.PathLike) -> bool:
    """True when ``id_or_folder`` names an existing folder or looks like a path."""
    text = str(id_or_folder)
    return Path(text).is_dir() or text.startswith((".", "/", "~")) or text.count("/") > 1


def resolve_file(id_or_folder: str | os.PathLike, filename: str, subfolder: str = "") -> Path:
    """Path of ``subfolder/filename`` in a local folder or in a hub repository's cache.

    Downloads from the hub when needed (and allowed). Raises
    :class:`ModelUnavailableError` with a message that names the model and the fix.
    """
    if is_local(id_or_folder):
        folder = Path(id_or_folder).expanduser()
        path = folder / subfolder / filename
        if not path.is_file():
            raise ModelUnavailableError(
                unavailable_message(str(id_or_folder), f"the file {path} does not exist")
            )
        return path

    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(str(id_or_folder), filename, subfolder=subfolder or None))
    except Exception as err:  # the hub raises many kinds; all mean "not available"
        reason = (
            f"{type(err).__name__} while fetching {subfolder + '/' if subfolder else ''}{filename}"
        )
        raise ModelUnavailableError(unavailable_message(str(id_or_folder), reason)) from err


def from_pretrained_prefer_fp16(cls: Any, model_id: str, kwargs: dict[str, Any], fp16: bool) -> Any:
    """``cls.from_pretrained(model_id, **kwargs)``, trying the repository's smaller ``fp16``
    files first when ``fp16`` (a copy without them loads its full-precision files)."""
    if fp16:
        try:
            return cls.from_pretrained(model_id, variant="fp16", **kwargs)
        except (OSError, ValueError):
            pass  # no fp16 files in this copy: load the full-precision ones
    return cls.from_pretrained(model_id, **kwargs)
