"""The shipped miniature weights: export after training, load with no network.

Layout of a weights folder (diffusers' own layout for the diffusers models)::

    vae/          config.json + diffusion_pytorch_model.safetensors  (AutoencoderKL)
    image_unet/   config.json + diffusion_pytorch_model.safetensors  (UNet2DModel)
    audio_unet/   config.json + diffusion_pytorch_model.safetensors  (UNet2DModel)
    scheduler/    scheduler_config.json                              (DDIMScheduler)
    picture_judge.safetensors + picture_judge.json
    sound_judge.safetensors + sound_judge.json
    training.json  how they were trained: command, seed, steps, losses, accuracies
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from itslib._io import staged_folder
from itslib.mini.datasets import decode, encode, hear, test_sets
from itslib.mini.models import SCHEDULER_CONFIG, Judge
from itslib.mini.sounds import sound_picture
from itslib.mini.world import HEIGHT, NUM_SAMPLES, PICTURE_CLASSES, SOUND_CLASSES, WIDTH

DEFAULT_WEIGHTS = Path(__file__).parent / "weights"
TRAIN_COMMAND = "python -m itslib train-mini --out .mini_run --seed 0 --weights itslib/mini/weights"


def sampling_weights(folder: str | os.PathLike | None = None) -> str | os.PathLike | None:
    """The weights folder the miniature experts sample with: ``folder``, else
    ``ITSLIB_MINI_WEIGHTS`` if set, else None (the shipped weights)."""
    return folder or os.environ.get("ITSLIB_MINI_WEIGHTS") or None


def weights_id(folder: str | os.PathLike | None = None) -> str:
    """12 hex digits of a hash of every file in the weights folder the experts sample
    with (:func:`sampling_weights`): results computed with other weights are kept apart
    under another id."""
    folder = Path(sampling_weights(folder) or DEFAULT_WEIGHTS)
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class MiniComponents:
    """Everything the miniature world needs at sampling and judging time."""

    vae: torch.nn.Module
    image_unet: torch.nn.Module
    audio_unet: torch.nn.Module
    scheduler_config: dict
    picture_judge: Judge
    sound_judge: Judge
    picture_classes: list[str] = field(default_factory=lambda: list(PICTURE_CLASSES))
    sound_classes: list[str] = field(default_factory=lambda: list(SOUND_CLASSES))
    info: dict = field(default_factory=dict)

    def __getitem__(self, key: str):
        return getattr(self, key)

    @property
    def scaling_factor(self) -> float:
        """Multiply the VAE's latents by this (divide before decoding), as in SD."""
        return float(self.vae.config.scaling_factor)


def _load_judge(folder: Path, name: str, device, dtype) -> Judge:
    from safetensors.torch import load_file

    config = json.loads((folder / f"{name}.json").read_text())
    judge = Judge(**config)
    judge.load_state_dict(load_file(str(folder / f"{name}.safetensors")))
    return judge.to(device=device, dtype=dtype).eval()


def load_components(
    folder: str | Path | None = None,
    device: str | torch.device = "cpu",
    dtype=torch.float32,
    unet_dtype=None,
) -> MiniComponents:
    """Load the miniature models from ``folder`` (default: the weights shipped in the package),
    in ``dtype`` (the experts' UNets in ``unet_dtype`` if given).

    Reads local safetensors only: no network, no training. Raises ``FileNotFoundError``
    naming the training command when the weights are missing.
    """
    from diffusers import AutoencoderKL, UNet2DModel

    folder = Path(folder) if folder is not None else DEFAULT_WEIGHTS
    needed = ["vae/config.json", "image_unet/config.json", "audio_unet/config.json",
              "picture_judge.safetensors", "sound_judge.safetensors"]  # fmt: skip
    missing = [name for name in needed if not (folder / name).exists()]
    if missing:
        raise FileNotFoundError(
            f"miniature weights not found in {str(folder)!r} (missing {missing}); train them "
            f"with `{TRAIN_COMMAND}` (about an hour on a CPU) or pass folder=<weights folder>."
        )

    def diffusers_model(cls, sub: str, dtype=dtype):
        model = cls.from_pretrained(folder / sub, dtype=dtype, local_files_only=True)
        return model.to(device).eval().requires_grad_(False)

    scheduler_path = folder / "scheduler" / "scheduler_config.json"
    scheduler_config = dict(SCHEDULER_CONFIG)
    if scheduler_path.exists():
        scheduler_config.update(json.loads(scheduler_path.read_text()))
    info_path = folder / "training.json"
    return MiniComponents(
        vae=diffusers_model(AutoencoderKL, "vae"),
        image_unet=diffusers_model(UNet2DModel, "image_unet", unet_dtype or dtype),
        audio_unet=diffusers_model(UNet2DModel, "audio_unet", unet_dtype or dtype),
        scheduler_config=scheduler_config,
        picture_judge=_load_judge(folder, "picture_judge", device, dtype),
        sound_judge=_load_judge(folder, "sound_judge", device, dtype),
        info=json.loads(info_path.read_text()) if info_path.exists() else {},
    )


@lru_cache(maxsize=2)
def _default_judges(folder: str | None) -> tuple[Judge, Judge]:
    parts = load_components(folder)
    return parts.picture_judge, parts.sound_judge


def _as_batch(x, shape: tuple[int, ...], name: str) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    x = x.detach().float().cpu()
    if x.ndim == len(shape):
        x = x[None]
    if tuple(x.shape[1:]) != shape:
        raise ValueError(
            f"{name} must have shape (B, {', '.join(map(str, shape))}), got {tuple(x.shape)}."
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return x


@torch.no_grad()
def judge_pictures(pictures, judge: Judge | None = None, folder: str | None = None) -> np.ndarray:
    """The picture judge's class probabilities (B, 8) for pictures (B, HEIGHT, WIDTH) in [0, 1]."""
    x = _as_batch(pictures, (HEIGHT, WIDTH), "pictures").clamp(0, 1)
    judge = judge if judge is not None else _default_judges(folder)[0]
    param = next(judge.parameters())
    return judge(x.to(param.device, param.dtype)).float().softmax(-1).cpu().numpy()


@torch.no_grad()
def judge_sounds(waveforms, judge: Judge | None = None, folder: str | None = None) -> np.ndarray:
    """The sound judge's class probabilities (B, 8) for 16 kHz waveforms (B, 40960).

    The judge listens: it computes the log-mel of each waveform itself (peak
    normalised, ``MINI_MEL``), so pass what you would play, e.g. a Griffin-Lim output.
    """
    wavs = _as_batch(waveforms, (NUM_SAMPLES,), "waveforms").numpy()
    pictures = torch.from_numpy(np.stack([sound_picture(w) for w in wavs]))
    judge = judge if judge is not None else _default_judges(folder)[1]
    param = next(judge.parameters())
    return judge(pictures.to(param.device, param.dtype)).float().softmax(-1).cpu().numpy()


@torch.no_grad()
def judge_accuracies(
    picture_judge: Judge, sound_judge: Judge, test: dict, heard: np.ndarray
) -> dict[str, float]:
    """Accuracies on fresh procedural data: pictures, clean sounds, Griffin-Lim-played sounds.

    ``test`` is :func:`itslib.mini.datasets.test_sets`' output; ``heard`` holds the
    first test sounds after Griffin-Lim (uint8); item i of each has class i % 8.
    """
    picture_judge.eval()
    sound_judge.eval()
    labels = test["labels"]
    heard_x = torch.from_numpy(heard).float() / 255
    accuracy = {
        "picture_judge": picture_judge(torch.from_numpy(test["pictures"]).float()).argmax(-1),
        "sound_judge_clean": sound_judge(torch.from_numpy(test["sounds"]).float()).argmax(-1),
        "sound_judge_griffin_lim32": sound_judge(heard_x).argmax(-1),
    }
    out = {}
    for name, guess in accuracy.items():
        out[name] = round(float((guess.numpy() == labels[: len(guess)]).mean()), 4)
    return out | {"n_test": len(labels), "n_test_griffin_lim": len(heard)}


@torch.no_grad()
def round_trip_accuracies(parts: MiniComponents, test: dict, n_heard: int) -> dict[str, float]:
    """The judges on fresh data after an autoencoder round trip (encode, decode), the
    sound judge listening through Griffin-Lim (32 iterations) to the first ``n_heard``
    sounds. No sample of an expert can score above what its decoder can draw, so these
    are the world's ceilings: a world whose autoencoder blurs a class away shows it here
    before any expert is trained on it."""
    parts.picture_judge.eval()
    parts.sound_judge.eval()
    labels = test["labels"]
    decoded = {}
    for name, items in (("pictures", test["pictures"]), ("sounds", test["sounds"][:n_heard])):
        decoded[name] = decode(parts.vae, encode(parts.vae, items.astype(np.float32), desc=name))
    heard = np.stack([hear(s, 32, seed=i) for i, s in enumerate(decoded["sounds"])])
    picture_guess = parts.picture_judge(torch.from_numpy(decoded["pictures"])).argmax(-1)
    sound_guess = parts.sound_judge(torch.from_numpy(heard).float()).argmax(-1)
    return {
        "picture_judge_after_autoencoder": round(
            float((picture_guess.numpy() == labels).mean()), 4),
        "sound_judge_after_autoencoder_griffin_lim32": round(
            float((sound_guess.numpy() == labels[:n_heard]).mean()), 4),
    }  # fmt: skip


def export(
    trainer, folder: Path, command: str, plan: dict, wall: float, half: bool = False
) -> dict:
    """Copy the finished stages' weights into ``folder`` with ``training.json``: written
    whole into a staging folder beside it, which then replaces ``folder`` (a failure
    leaves ``folder`` as it was)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DModel

    run = Path(trainer.out)
    with staged_folder(folder, name="weights") as tmp:
        dtype = torch.float16 if half else torch.float32
        AutoencoderKL.from_pretrained(run / "autoencoder" / "final").save_pretrained(tmp / "vae")
        for stage, name in (("image", "image_unet"), ("audio", "audio_unet")):
            unet = UNet2DModel.from_pretrained(run / stage / "final").to(dtype)
            unet.save_pretrained(tmp / name)
        DDIMScheduler.from_config(SCHEDULER_CONFIG).save_pretrained(tmp / "scheduler")
        for name in ("picture_judge", "sound_judge"):
            for suffix in (".safetensors", ".json"):
                shutil.copy(run / "judges" / "final" / f"{name}{suffix}", tmp / f"{name}{suffix}")
        parts = load_components(tmp)  # also checks that the export loads
        stages = {s: trainer.done(s) for s in ("autoencoder", "image", "audio", "judges")}
        test = test_sets(trainer.seed, trainer.plan.n_test)
        accuracy = judge_accuracies(parts.picture_judge, parts.sound_judge, test,
                                    trainer.data.heard()[2])  # fmt: skip
        accuracy |= round_trip_accuracies(parts, test, trainer.plan.n_test_heard)
        size = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        info = {
            "command": command,
            "seed": trainer.seed,
            "plan": plan,
            "stages": stages,
            "judge_accuracy": accuracy,
            "vae_scaling_factor": parts.scaling_factor,
            "null_class": len(PICTURE_CLASSES),
            "weights_dtype": str(dtype).replace("torch.", ""),
            "weights_bytes": size,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "wall_seconds": round(wall, 1),
            "torch": torch.__version__,
        }
        (tmp / "training.json").write_text(json.dumps(info, indent=2))
    return info
