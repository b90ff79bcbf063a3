"""Finding model files on the Hugging Face hub or in a local folder, with clear errors."""

from __future__ import annotations

import os
from pathlib import Path


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
