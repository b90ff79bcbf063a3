"""Every chapter's real path with full-size random-weight models, under a GPU memory budget.

Writes random-weight copies of every real model in the hub's layouts with the
rehearsal writers (:mod:`itslib.rehearsal`) at ``--size full``: Stable Diffusion 1.5's
UNet, VAE and CLIP text encoder (for SD and for Auffusion), a full-size HiFi-GAN, CLIP
ViT-B/16, CLAP HTSAT-unfused, DeepFloyd IF stage I and II with a T5-XXL encoder (fp16
files; see :mod:`itslib.rehearsal.deepfloyd` for which IF shapes are approximate).
Points the real world at them (``ITSLIB_*`` variables, ``ITSLIB_WORLD=real``), caps the
process at ``--budget-gb`` of GPU memory with ``torch.cuda.set_per_process_memory_fraction``
and runs, one after another, what chapters 4 to 9 run in the real world, with the
library's defaults (fp16 on CUDA, the chapters' own step counts):

- 4: ``load_world()``, one joint sample (100 steps), the judges scoring it (as many
  copies as the chapter re-ranks);
- 5: a sample with ``capture=True`` and the decoded beliefs the chapter draws;
- 6: ``imprint_baseline`` from prompts and from a picture + a recording, then
  ``sds_baseline`` with ``world.sds_settings()``;
- 6 IF: ``sds_baseline`` with ``load_if_expert()`` on 8 crops (the paper's image loss);
- 7: a 25-step sample scored against every prompt by both judges;
- 8: a sample, then ``colorize(..., colorizer=load_colorizer())`` once the sampler is gone;
- 9: one sample with the playground's settings.

SDS runs ``--sds-steps`` steps (``ITSLIB_MAX_LOOP_STEPS``, as in every rehearsal): its
memory does not grow with steps. Each chapter starts from freed memory; the table gives
its peak ``torch.cuda.max_memory_allocated()`` (GB = 10^9 bytes), its seconds (model
loading included) and whether it fits the budget; ``--out`` gets the same as JSON with
each chapter's phases. With random weights the pictures are noise: what this measures is
memory and time, which do not depend on the weights. Exit status 1 if a chapter failed
or did not fit.

On a GPU (writes about 32 GB of models into ``--root`` once, reused by later runs)::

    python benchmarks/rehearse_gpu.py --root /tmp/rehearsal --out rehearse_gpu.json

Anywhere, as a check of the script itself (tiny models, CPU, a minute or two)::

    python benchmarks/rehearse_gpu.py --size tiny --device cpu --threads 1 --out /tmp/r.json

Needs what itslib needs (diffusers, transformers, accelerate, librosa, soundfile); it
says which are missing before writing anything.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import resource
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Everything is local: never wait on the hub. Before any Hugging Face import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GB = 1e9
NEEDED = ("diffusers", "transformers", "accelerate", "safetensors", "librosa", "soundfile",
          "matplotlib")  # fmt: skip
DISK_GB = {"tiny": 0.1, "full": 34.0}  # what the written models take, with some room


class Meter:
    """Peak GPU memory of a chapter and of its phases (CUDA), and wall seconds."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.phases: list[dict[str, Any]] = []
        self.name = "load"
        self.start = time.perf_counter()
        self.phase_start = self.start
        self.peak = self.peak_reserved = 0
        if self.cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            self.start_bytes = torch.cuda.memory_allocated(device)

    def phase(self, name: str | None) -> None:
        """Close the current phase (recording its peak) and open ``name``."""
        entry: dict[str, Any] = {"phase": self.name}
        if self.cuda:
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
            reserved = torch.cuda.max_memory_reserved(self.device)
            self.peak, self.peak_reserved = max(self.peak, peak), max(self.peak_reserved, reserved)
            entry["peak_gb"] = round(peak / GB, 3)
            torch.cuda.reset_peak_memory_stats(self.device)
        now = time.perf_counter()
        entry["seconds"] = round(now - self.phase_start, 2)
        self.phases.append(entry)
        self.name, self.phase_start = name, now

    def close(self) -> dict[str, Any]:
        self.phase(None)
        row: dict[str, Any] = {"seconds": round(time.perf_counter() - self.start, 2),
                               "phases": self.phases}  # fmt: skip
        if self.cuda:
            row["peak_gb"] = round(self.peak / GB, 3)
            row["start_gb"] = round(self.start_bytes / GB, 3)
            row["peak_reserved_gb"] = round(self.peak_reserved / GB, 3)
        else:
            row["peak_gb"] = None
        return row


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def parameters(*modules: Any) -> float:
    """Millions of parameters in ``modules`` (``None`` skipped)."""
    return round(sum(p.numel() for m in modules if m is not None for p in m.parameters()) / 1e6, 1)


def finite(*arrays: Any) -> bool:
    return all(bool(np.isfinite(np.asarray(a, dtype=np.float32)).all()) for a in arrays)


def stored_parameters(folder: Path) -> dict[str, float]:
    """Millions of parameters per component of a written repository, read from the
    safetensors headers (and the vocoder's ``vocoder.pt``, weight norm's g and v included)."""
    from safetensors import safe_open

    counts: dict[str, float] = {}
    for path in sorted(folder.rglob("*.safetensors")):
        part = path.parent.relative_to(folder).as_posix() or "."
        with safe_open(str(path), framework="pt") as f:
            n = sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())
        counts[part] = counts.get(part, 0.0) + n / 1e6
    for path in folder.rglob("vocoder.pt"):
        state = torch.load(path, map_location="cpu", weights_only=True)["generator"]
        part = path.parent.relative_to(folder).as_posix()
        counts[part] = sum(v.numel() for v in state.values()) / 1e6
    return {k: round(v, 1) for k, v in counts.items()}


def write_models(root: Path, size: str, build_device: str) -> tuple[dict[str, str], dict]:
    """Write (once) every real model's random copy under ``root/size``; return the
    environment pointing the real world at them, and what was written."""
    from itslib._hub import REAL_MODELS
    from itslib.rehearsal import WRITERS

    root = root.expanduser().resolve() / size
    env, written = {"ITSLIB_WORLD": "real"}, {}
    for seed, (role, write) in enumerate(WRITERS.items()):  # the seeds write_rehearsal uses
        folder = root / REAL_MODELS[role].hub_id
        done = folder.with_name(folder.name + ".complete")
        start = time.perf_counter()
        if not done.is_file():  # a finished copy is reused; a half-written one is redone
            print(f"writing {size} {role} -> {folder}", flush=True)
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            with torch.device(build_device):  # where the random weights are drawn
                write(folder, seed=seed, size=size)
            done.write_text(f"random weights, size {size}, written by benchmarks/rehearse_gpu.py\n")
            free_memory()
        env[REAL_MODELS[role].env] = str(folder)
        written[role] = {"folder": str(folder), "seconds": round(time.perf_counter() - start, 1),
                         "parameters_m": stored_parameters(folder)}  # fmt: skip
    return env, written


# --- the chapters, as notebooks/src/04..09 run them in the real world ---------------------


def chapter_4(meter: Meter) -> dict[str, Any]:
    from itslib.worlds import load_world

    world = load_world()
    pipe = world.pipeline
    image_prompt, audio_prompt = world.examples[0]
    meter.phase("sample")
    (result,) = pipe(image_prompt, audio_prompt, seed=0, progress=False)
    meter.phase("judges")
    judges = world.load_judges()
    scores = judges.score([result] * world.rerank_seeds)  # the chapter re-ranks this many
    image, sound = pipe.image_expert, pipe.audio_expert
    return {
        "dtype": str(image.dtype),
        "steps": result.params.get("steps"),
        "unet_evaluations": result.params["unet_evaluations"],
        "sample_seconds": round(result.params["seconds"], 2),
        "picture_score": round(float(scores[0]["picture_score"]), 3),
        "sound_score": round(float(scores[0]["sound_score"]), 3),
        "finite": finite(result.image, result.spectrogram, result.waveform),
        "parameters_m": {
            "image unet": parameters(image.unet), "image vae": parameters(image.vae),
            "image text encoder": parameters(image.prompt_encoder),
            "audio unet": parameters(sound.unet), "audio vae": parameters(sound.vae),
            "audio text encoder": parameters(sound.prompt_encoder),
            "vocoder": parameters(sound.extras.get("vocoder")),
            "clip": parameters(judges.picture.model), "clap": parameters(judges.sound.model),
        },
    }  # fmt: skip


def chapter_5(meter: Meter) -> dict[str, Any]:
    from itslib.pipeline import make_scheduler
    from itslib.sampler import predicted_x0
    from itslib.worlds import load_world

    world = load_world()
    pipe = world.pipeline
    image_prompt, audio_prompt = world.examples[0]
    meter.phase("sample with capture")
    (result,) = pipe(image_prompt, audio_prompt, seed=0, capture=True, progress=False)
    steps = result.trajectory
    meter.phase("decode beliefs")
    scheduler = make_scheduler("ddim", pipe.image_expert.scheduler_config)
    decoded = 0
    for i in (0, 5, 10, 15, 25, 50, 99):  # the chapter's figure
        step = steps[min(i, len(steps) - 1)]
        beliefs = [predicted_x0(scheduler, step.x_t, eps, step.t) for eps in step.noise.values()]
        for latent in (step.x_t, *beliefs, step.x0):
            pipe.audio_expert.decode(latent)[0].mean(dim=0).numpy()
            decoded += 1
    return {"steps_recorded": len(steps), "decoded": decoded, "finite": finite(result.spectrogram)}


def chapter_6(meter: Meter) -> dict[str, Any]:
    from matplotlib import cbook

    from itslib import files
    from itslib.baselines import imprint_baseline
    from itslib.demo import example_sound
    from itslib.sds import sds_baseline
    from itslib.worlds import load_world

    world = load_world()
    pipe = world.pipeline
    image_prompt, audio_prompt = world.examples[0]
    height, width = pipe.canvas
    meter.phase("imprint")
    printed = imprint_baseline(pipe, image_prompt, audio_prompt, strength=0.5, seed=0)
    with cbook.get_sample_data("grace_hopper.jpg") as photo_file:
        photo = files.load_picture(photo_file.name, height, width, fill=1.0)
    recording = example_sound(seconds=pipe.audio_expert.mel.seconds(width))
    own = imprint_baseline(pipe, picture=photo, sound=recording, strength=0.7)
    meter.phase("sds")
    settings = world.sds_settings()
    sds = sds_baseline(pipe, image_prompt, audio_prompt, settings, progress=False)
    return {"sds_steps": len(sds.extras["history"]),
            "finite": finite(printed.spectrogram, own.spectrogram, sds.spectrogram)}  # fmt: skip


def chapter_6_if(meter: Meter) -> dict[str, Any]:
    from itslib.experts import load_if_expert
    from itslib.sds import SDSSettings, sds_baseline
    from itslib.worlds import load_world

    world = load_world()
    pipe = world.pipeline
    image_prompt, audio_prompt = world.examples[0]
    image_expert = load_if_expert(None, pipe.audio_expert.device, pipe.audio_expert.dtype)
    meter.phase("sds with IF")
    settings = SDSSettings(image_crops=8, crop_resize=image_expert.unet.config.sample_size)
    sds = sds_baseline(pipe, image_prompt, audio_prompt, settings, image_expert=image_expert,
                       progress=False)  # fmt: skip
    return {
        "sds_steps": len(sds.extras["history"]),
        "finite": finite(sds.spectrogram),
        "parameters_m": {"IF unet": parameters(image_expert.unet),
                         "T5 (CPU while waiting)": parameters(image_expert.prompt_encoder)},
    }  # fmt: skip


def chapter_7(meter: Meter) -> dict[str, Any]:
    from itslib.worlds import load_world

    world = load_world()
    pipe = world.pipeline
    image_prompt, audio_prompt = world.examples[2]
    meter.phase("sample")
    guidance = world.table_guidance
    (sample,) = pipe(image_prompt, audio_prompt, seed=0, steps=25, progress=False,
                     image_guidance=guidance, audio_guidance=guidance)  # fmt: skip
    meter.phase("judges")
    judges = world.load_judges()
    looks = judges.picture.score_pictures([sample.spectrogram] * len(world.image_prompts),
                                          world.image_prompts)  # fmt: skip
    hears = judges.sound.score_sounds([sample.waveform] * len(world.audio_prompts),
                                      sample.sample_rate, world.audio_prompts)  # fmt: skip
    return {"picture_scores": len(looks), "sound_scores": len(hears),
            "finite": finite(looks, hears)}  # fmt: skip


def chapter_8(meter: Meter) -> dict[str, Any]:
    from itslib.colorize import colorize, free_gpu_memory, load_colorizer
    from itslib.worlds import load_world

    world = load_world()
    image_prompt, audio_prompt = world.examples[0]
    meter.phase("sample")
    (result,) = world.pipeline(image_prompt, audio_prompt, seed=0, progress=False)
    spectrogram = result.spectrogram
    why_not = world.colorizer_unavailable()
    if why_not:
        raise RuntimeError(why_not)
    world.pipeline = None  # the joint sampler's models leave the GPU before IF arrives
    free_gpu_memory()
    meter.phase("colorize")
    colorizer = load_colorizer()
    colour = colorize(spectrogram[:, : spectrogram.shape[1] // 32 * 32], image_prompt,
                      colorizer=colorizer)  # fmt: skip
    gray = spectrogram[:, : colour.shape[1]]
    return {
        "colour_shape": list(colour.shape),
        "grayscale_invariant": bool(np.abs(colour.mean(-1) - gray).max() <= 1 / 255),
        "finite": finite(colour),
        "offload": colorizer.device.type == "cuda",
        "parameters_m": {"stage I unet": parameters(colorizer.stage1.unet),
                         "stage I T5": parameters(colorizer.stage1.text_encoder),
                         "stage II unet": parameters(colorizer.stage2.unet)},
    }  # fmt: skip


def chapter_9(meter: Meter) -> dict[str, Any]:
    from itslib.worlds import load_world

    world = load_world()
    pipe = world.pipeline
    first_image, first_audio = world.examples[0]
    meter.phase("sample")
    # the playground's sliders, as they start: the paper's settings (Settings' defaults)
    (result,) = pipe(first_image, first_audio, progress=False)
    return {"unet_evaluations": result.params["unet_evaluations"],
            "finite": finite(result.waveform)}  # fmt: skip


CHAPTERS: dict[str, tuple[str, Callable[[Meter], dict[str, Any]]]] = {
    "4": ("4 images that sound", chapter_4),
    "5": ("5 inside the sampler", chapter_5),
    "6": ("6 baselines: imprint, SDS", chapter_6),
    "6if": ("6 baselines: SDS with IF", chapter_6_if),
    "7": ("7 measuring it", chapter_7),
    "8": ("8 colour", chapter_8),
    "9": ("9 playground", chapter_9),
}


def run_chapter(key: str, device: torch.device, budget_gb: float) -> dict[str, Any]:
    title, run = CHAPTERS[key]
    print(f"\n== chapter {title}", flush=True)
    free_memory()
    meter = Meter(device)
    row: dict[str, Any] = {"key": key, "chapter": title}
    try:
        row["notes"] = run(meter)
        row["ok"] = True
    except Exception as err:  # record and go on: one run should report every chapter
        traceback.print_exc()
        row["ok"] = False
        row["error"] = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
    row.update(meter.close())
    row["fits"] = (row["ok"] and row["peak_gb"] <= budget_gb) if meter.cuda else None
    row["max_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB, 2)
    free_memory()
    print(f"   {json.dumps({k: v for k, v in row.items() if k != 'phases'})}", flush=True)
    return row


def table(rows: list[dict[str, Any]], budget_gb: float) -> str:
    lines = [f"| chapter | peak GB | seconds | fits {budget_gb:g} GB |",
             "| --- | ---: | ---: | --- |"]  # fmt: skip
    for row in rows:
        peak = "n/a (CPU)" if row["peak_gb"] is None else f"{row['peak_gb']:.2f}"
        if row["fits"] is None:
            fits = "ran" if row["ok"] else f"FAILED: {row['error']}"
        elif row["fits"]:
            fits = "yes"
        else:
            fits = "no" + ("" if row["ok"] else f" (FAILED: {row['error']})")
        lines.append(f"| {row['chapter']} | {peak} | {row['seconds']:.1f} | {fits} |")
    return "\n".join(lines)


def missing_packages() -> list[str]:
    """The packages (or their own dependencies) that do not import, with why."""
    missing = []
    for name in NEEDED:
        try:
            importlib.import_module(name)
        except Exception as err:  # ImportError, or a broken install
            missing.append(f"{name} ({type(err).__name__}: {err})")
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("tiny", "full"), default="full")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--budget-gb", type=float, default=15.0,
                        help="GPU memory budget in GB (10^9 bytes), set as the process's "
                             "memory fraction (default 15)")  # fmt: skip
    parser.add_argument("--root", type=Path, default=Path("/tmp/itslib-rehearse-gpu"),
                        help="where the models are written (reused if there)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--chapters", nargs="+", choices=list(CHAPTERS), default=list(CHAPTERS))
    parser.add_argument("--sds-steps", type=int, default=5,
                        help="SDS steps (ITSLIB_MAX_LOOP_STEPS; default 5)")  # fmt: skip
    parser.add_argument("--build-device", default="cpu",
                        help="where the random weights are drawn while writing: cpu, or "
                             "cuda (faster; ~20 GB of GPU memory before the budget)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)

    missing = missing_packages()
    if missing:
        print(f"Python packages that do not import: {'; '.join(missing)}. Install them (or "
              "carry them as wheels); nothing was written.")  # fmt: skip
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        print("--device cuda, but torch sees no CUDA GPU.")
        return 2
    if cuda and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if args.size == "full" and not cuda:
        print("note: full-size IF is written in fp16 only (T5-XXL: 19 GB in fp32); the "
              "CPU loaders want fp32 files, so chapters 6 IF and 8 will fail.")  # fmt: skip
    args.root.mkdir(parents=True, exist_ok=True)
    free_disk = shutil.disk_usage(args.root).free / GB
    if free_disk < DISK_GB[args.size] and not (args.root / args.size).is_dir():
        print(f"{args.root} has {free_disk:.1f} GB free; {args.size} models need about "
              f"{DISK_GB[args.size]:g} GB.")  # fmt: skip
        return 2

    start = time.perf_counter()
    env, written = write_models(args.root, args.size, args.build_device)
    write_seconds = round(time.perf_counter() - start, 1)
    os.environ.update(env)
    os.environ["ITSLIB_MAX_LOOP_STEPS"] = str(args.sds_steps)
    print(f"models ready in {write_seconds} s under {args.root / args.size}")

    info: dict[str, Any] = {
        "size": args.size, "device": str(device), "budget_gb": args.budget_gb,
        "threads": torch.get_num_threads(), "sds_steps": args.sds_steps,
        "write_seconds": write_seconds, "python": platform.python_version(),
        "torch": torch.__version__,
    }  # fmt: skip
    for name in ("diffusers", "transformers"):
        info[name] = __import__(name).__version__
    if cuda:
        free_memory()
        properties = torch.cuda.get_device_properties(device)
        fraction = min(1.0, args.budget_gb * GB / properties.total_memory)
        torch.cuda.set_per_process_memory_fraction(fraction, device)
        info.update(gpu=properties.name, gpu_total_gb=round(properties.total_memory / GB, 2),
                    memory_fraction=round(fraction, 4))  # fmt: skip
        print(f"{properties.name}: {properties.total_memory / GB:.1f} GB; this process may "
              f"use {fraction:.3f} of it ({args.budget_gb:g} GB)")  # fmt: skip

    rows = [run_chapter(key, device, args.budget_gb) for key in args.chapters]
    print(f"\n{args.size} models, {device}, {info.get('gpu', platform.processor() or 'CPU')}:\n")
    print(table(rows, args.budget_gb))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"settings": info, "models": written, "chapters": rows},
                                       indent=2) + "\n")  # fmt: skip
        print(f"\nwrote {args.out}")
    good = all(row["ok"] and row["fits"] is not False for row in rows)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
