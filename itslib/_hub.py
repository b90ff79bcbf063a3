"""The real models' hub ids, each overridable by an environment variable, finding
model files on the Hugging Face hub or in a local folder, and checking a model folder's
layout and weights files, with clear errors."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Sequence
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


class DamagedModelError(ModelUnavailableError):
    """A model's weights file is there but damaged or incomplete."""


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


def from_pretrained_prefer_fp16(
    cls: Any, model_id: str, kwargs: dict[str, Any], fp16: bool, parts: Sequence[str] = ("",)
) -> Any:
    """``cls.from_pretrained(model_id, **kwargs)``, trying the repository's smaller ``fp16``
    files first when ``fp16`` (a copy without them loads its full-precision files). A
    damaged weights file in ``parts`` (subfolders) raises :class:`DamagedModelError`
    instead of falling back."""
    if fp16:
        try:
            return cls.from_pretrained(model_id, variant="fp16", **kwargs)
        except Exception as err:  # OSError, ValueError, SafetensorError...
            check_weight_files(model_id, parts, err)
            if not isinstance(err, (OSError, ValueError)):
                raise
            # no fp16 files in this copy: load the full-precision ones
    return cls.from_pretrained(model_id, **kwargs)


# Where each role's model can be chosen besides its environment variable.
PARAMETERS = {
    "image": "image_model / --image-model",
    "audio": "audio_model / --audio-model",
    "if_stage1": "stage1_model / --stage1-model (--if-model for sds)",
    "if_stage2": "stage2_model / --stage2-model",
}


def chosen_by(role: str, id_or_folder: str | os.PathLike) -> str:
    """How ``id_or_folder`` was chosen for ``role``: its environment variable (when it
    holds this value) or the parameter it was passed as."""
    model = REAL_MODELS.get(role)
    if model is not None and os.environ.get(model.env, "").strip() == str(id_or_folder):
        return f"the environment variable {model.env}"
    return f"the parameter {PARAMETERS.get(role, 'model_id')}"


def check_layout(id_or_folder: str | os.PathLike, parts: Sequence[str], role: str) -> None:
    """Refuse a local model folder that lacks any of the subfolders ``parts``, naming
    them and how the folder was chosen, before a loader reads it (diffusers would name
    only a missing config.json and a hub address made of the path). Hub ids, and folders
    that do not exist (the loaders say so), pass."""
    if not is_local(id_or_folder):
        return
    folder = Path(id_or_folder).expanduser()
    if not folder.is_dir():
        return
    missing = [part for part in parts if not (folder / part).is_dir()]
    if not missing:
        return
    model = REAL_MODELS.get(role)
    source = chosen_by(role, id_or_folder)
    for_what = f", for the {model.what}" if model else ""
    inside = _folders_with(folder, parts)
    such_as = f" (such as {inside})" if inside else ""
    if model is not None and source.endswith(model.env):
        fix = (f"Point {model.env} at the folder that holds them{such_as}, or unset it to use "
               f"the hub's {model.hub_id}.")  # fmt: skip
    else:
        fix = f"Pass the folder that holds them{such_as}."
    raise ModelUnavailableError(
        f"The model folder {str(folder)!r} lacks {', '.join(m + '/' for m in missing)} (it "
        f"was given by {source}{for_what}); a model folder holds "
        f"{', '.join(p + '/' for p in parts)} as the hub repository does. {fix}"
    )


def _folders_with(folder: Path, parts: Sequence[str], depth: int = 2) -> str:
    """A folder up to ``depth`` levels below ``folder`` that holds all ``parts`` ('' if none)."""
    level = [folder]
    for _ in range(depth):
        try:
            level = sorted(child for f in level for child in f.iterdir() if child.is_dir())[:200]
        except OSError:
            return ""
        for child in level:
            if all((child / part).is_dir() for part in parts):
                return str(child)
    return ""


# --- damaged weights files ------------------------------------------------------------

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


def model_folder(id_or_folder: str | os.PathLike) -> Path | None:
    """The folder on this machine that holds a model: the local folder itself, or the
    Hugging Face cache's copy of a hub repository (``None`` when there is none)."""
    if is_local(id_or_folder):
        folder = Path(id_or_folder).expanduser()
        return folder if folder.is_dir() else None
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(id_or_folder), local_files_only=True))
    except Exception:  # not cached, or not a valid id: nothing to look at
        return None


def weight_files(id_or_folder: str | os.PathLike, subfolder: str = "") -> list[Path]:
    """The weights files (safetensors, torch pickles) in ``subfolder`` of a model on this
    machine; empty when the model or the subfolder is not here."""
    folder = model_folder(id_or_folder)
    if folder is None or not (folder / subfolder).is_dir():
        return []
    return sorted(
        path for path in (folder / subfolder).iterdir()
        if path.name.endswith(WEIGHT_SUFFIXES) and path.is_file()
    )  # fmt: skip


def weights_problem(path: str | os.PathLike) -> str | None:
    """What is wrong with the structure of a weights file, or ``None``.

    A safetensors file must hold its 8-byte header length, a JSON header, and exactly
    the bytes its tensors' offsets say (only the header is read). A torch file must be a
    complete zip archive whose parts pass their checksums (read whole), or a legacy
    pickle. Values inside an intact file are not checked here.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if path.name.endswith(".safetensors"):
            return _safetensors_problem(f, head, size)
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
            return f"it is not a complete zip archive ({err})"
        return f"its part {bad} fails its checksum" if bad else None
    if head[:1] == b"\x80":  # a legacy torch pickle: nothing cheap to check
        return None
    return "it is neither a zip archive (torch.save) nor a pickle"


def _safetensors_problem(f: Any, head: bytes, size: int) -> str | None:
    if len(head) < 8:
        return f"it holds {size} bytes, fewer than a safetensors header's 8"
    length = int.from_bytes(head, "little")
    if 8 + length > size:
        return (f"its header says it is {length} bytes long but the file holds {size} "
                "bytes (truncated, or not a safetensors file)")  # fmt: skip
    try:
        header = json.loads(f.read(length))
    except ValueError:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return "its header is not valid JSON"
    if not isinstance(header, dict):
        return "its header is not a table of tensors"
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, stop = (int(v) for v in entry["data_offsets"])
        except (TypeError, KeyError, ValueError):
            return f"its header entry for {name!r} is damaged"
        if not 0 <= begin <= stop:
            return f"its header entry for {name!r} is damaged"
        end = max(end, stop)
    need = 8 + length + end
    if need > size:
        return (f"its tensors need {need} bytes but the file holds only {size} (an "
                "interrupted download or copy?)")  # fmt: skip
    if need < size:
        return f"it holds {size - need} bytes more than its tensors (damaged)"
    return None


def damaged_message(id_or_folder: str | os.PathLike, path: str | os.PathLike, problem: str) -> str:
    """The message for a damaged weights file, with what to do."""
    fix = (
        "copy or export it again (save_pretrained; `python -m itslib rehearse DIR` for the "
        "rehearsal copies)"
        if is_local(id_or_folder)
        else f"download it again: `huggingface-cli download {id_or_folder} --force-download` "
        "(or delete the file from the Hugging Face cache and run again)"
    )
    return (
        f"Could not load the model {str(id_or_folder)!r}: its file {path} is damaged or "
        f"incomplete: {problem}.\nWhat to do: {fix}."
    )


def check_weight_files(
    id_or_folder: str | os.PathLike, parts: Iterable[str], cause: BaseException | None = None
) -> None:
    """Raise :class:`DamagedModelError` (from ``cause``) for the first damaged weights
    file in the subfolders ``parts`` of a model on this machine; else return."""
    for part in parts:
        for path in weight_files(id_or_folder, part):
            problem = weights_problem(path)
            if problem:
                raise DamagedModelError(damaged_message(id_or_folder, path, problem)) from cause


def check_finite_weights(module: Any, id_or_folder: str | os.PathLike, part: str = "") -> None:
    """Raise :class:`DamagedModelError` when a loaded module (``part`` of the model) holds a
    NaN or infinite weight: random bytes where numbers should be, or values too large
    for the precision it was loaded in. One pass over the weights."""
    import torch

    for name, param in module.named_parameters():
        if torch.isfinite(param).all():
            continue
        files = weight_files(id_or_folder, part)
        where = ", ".join(str(p) for p in files) or f"{part or '.'} of {str(id_or_folder)!r}"
        fix = (
            "damaged (copy, export or download it again)"
            if param.dtype == torch.float32
            else f"damaged (copy, export or download it again), or its values do not fit "
            f"{param.dtype} (load the model in torch.float32)"
        )
        raise DamagedModelError(
            f"Could not load the model {str(id_or_folder)!r}: the weights in {where} hold NaN "
            f"or infinite values (first in {name}, loaded as {param.dtype}); the file is {fix}."
        )


def gated_message(model_id: str, reason: str) -> str:
    """Why a DeepFloyd IF model could not be loaded, and how to get it (it is gated)."""
    stage1, stage2 = REAL_MODELS["if_stage1"].hub_id, REAL_MODELS["if_stage2"].hub_id
    return (
        unavailable_message(model_id, reason)
        + "\n  - DeepFloyd IF is gated: accept the licence on both model pages, "
        f"https://huggingface.co/{stage1} and https://huggingface.co/{stage2},"
        " while logged in, then log in here too."
    )
