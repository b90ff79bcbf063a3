"""How fast is the joint sampler, and how much of the time is the sampler's own?

Reports, per sample: seconds, UNet sample evaluations, seconds inside UNet calls,
and the sampler's overhead (everything else in the loop: CFG arithmetic, mixing,
scheduler steps), for

- ``mini``: the shipped miniature experts (128 x 512 canvas, 4 x 32 x 128 latent) on
  the CPU with ``--threads`` torch threads, plus the Griffin-Lim vocoder;
- ``tiny``: the tiny random SD-layout models the tests use, at the real 256 x 1024
  canvas, with their tiny vocoder;
- ``sd15``: random-weight models with Stable Diffusion 1.5's exact shapes (UNet
  860 M parameters, CLIP ViT-L text encoder, SD VAE) at the paper's 4 x 32 x 128
  latent, on whatever device is present (fp16 on CUDA). Compute does not depend on
  the weights, so this is the real models' speed without downloading them.

    python benchmarks/bench_sampler.py --world mini --steps 100 --threads 2
    python benchmarks/bench_sampler.py --world tiny --steps 100
    python benchmarks/bench_sampler.py --world sd15 --steps 100            # on a GPU
    python benchmarks/bench_sampler.py --world sd15 --steps 4 --device cpu # a taste on CPU
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from itslib import audio
from itslib.checks import default_dtype
from itslib.experts import load_audio_expert, load_image_expert
from itslib.mini.experts import mini_pipeline
from itslib.pipeline import ImagesThatSound, make_scheduler
from itslib.rehearsal import write_auffusion, write_stable_diffusion
from itslib.sampler import image_audio_terms, sample
from itslib.settings import Settings
from itslib.worlds import WORLDS


def rehearsal_pipeline(size: str, device: str, dtype: torch.dtype) -> ImagesThatSound:
    """Random-weight SD 1.x and Auffusion repositories written by itslib.rehearsal in the
    hub's layout (``tiny``, or ``full``: SD 1.5's exact shapes) and loaded through the
    library's own loaders. Compute does not depend on the weights."""
    root = Path(tempfile.mkdtemp())
    image = write_stable_diffusion(root / "sd", seed=0, size=size)
    sound = write_auffusion(root / "auffusion", seed=1, size=size)
    return ImagesThatSound(load_image_expert(image, device, dtype),
                           load_audio_expert(sound, device, dtype))  # fmt: skip


# the benchmark's model sets: each a pipeline and the world whose example prompts it uses
MODELS: dict[str, tuple[Callable[..., ImagesThatSound], str]] = {
    "mini": (lambda device, dtype, threads: mini_pipeline(device=device, threads=threads,
                                                          dtype=dtype), "mini"),
    "tiny": (lambda device, dtype, threads: rehearsal_pipeline("tiny", device, dtype), "real"),
    "sd15": (lambda device, dtype, threads: rehearsal_pipeline("full", device, dtype), "real"),
}  # fmt: skip


class UnetTimer:
    """Adds up wall time spent inside each UNet call (synchronising CUDA)."""

    def __init__(self, *unets):
        self.seconds, self.calls, self._start = 0.0, 0, 0.0
        for unet in unets:
            unet.register_forward_pre_hook(self._before)
            unet.register_forward_hook(self._after)

    def _sync(self) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def _before(self, *_):
        self._sync()
        self._start = time.perf_counter()

    def _after(self, *_):
        self._sync()
        self.seconds += time.perf_counter() - self._start
        self.calls += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=["mini", "tiny", "sd15"], default="mini")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--samples", type=int, default=2, help="timed samples (after a warm-up)")
    parser.add_argument("--scheduler", default="ddim")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = default_dtype(args.device)
    build, world = MODELS[args.world]
    pipe = build(args.device, dtype, args.threads)
    image, sound = pipe.image_expert, pipe.audio_expert
    shape = pipe.latent_shape(*pipe.canvas)
    timer = UnetTimer(image.unet, sound.unet)
    terms = image_audio_terms(image, sound, Settings(*WORLDS[world].examples[0]))

    def vocode(spectrograms: torch.Tensor) -> None:
        logmel = audio.picture_to_logmel(spectrograms[0].mean(dim=0).cpu().numpy(), sound.mel)
        pipe.vocode(logmel, "griffin-lim" if pipe.vocoder is None else "hifigan")

    def one(seed: int) -> dict:
        latents = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        scheduler = make_scheduler(args.scheduler, image.scheduler_config)
        timer.seconds, timer.calls = 0.0, 0
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        out = sample(terms, scheduler, latents, args.steps, progress=False)
        loop = time.perf_counter() - start
        image.decode(out.latents)
        spectrogram = sound.decode(out.latents)
        decoded = time.perf_counter()
        vocode(spectrogram)
        end = time.perf_counter()
        return {"seconds": end - start, "loop_seconds": loop, "unet_seconds": timer.seconds,
                "decode_seconds": decoded - start - loop, "vocoder_seconds": end - decoded,
                "unet_evaluations": out.unet_evaluations}  # fmt: skip

    one(0)  # warm-up
    runs = [one(seed) for seed in range(1, 1 + args.samples)]
    mean = {k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}
    report = {
        "world": args.world,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "dtype": str(dtype).replace("torch.", ""),
        "latent": list(shape),
        "steps": args.steps,
        "scheduler": args.scheduler,
        "seconds_per_sample": round(mean["seconds"], 3),
        "unet_evaluations_per_sample": mean["unet_evaluations"],
        "seconds_in_unet": round(mean["unet_seconds"], 3),
        "sampler_overhead_seconds": round(mean["loop_seconds"] - mean["unet_seconds"], 3),
        "decode_seconds": round(mean["decode_seconds"], 3),
        "vocoder_seconds": round(mean["vocoder_seconds"], 3),
        "unet_parameters_millions": round(sum(p.numel() for p in image.unet.parameters()) / 1e6, 1),
    }
    if torch.cuda.is_available():
        report["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
