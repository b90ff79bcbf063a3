"""How far apart do two kernel paths of one sample drift? The figures behind the tests'
float tolerance (tests/numerics.py).

Draws each sample twice, in one batch of 2 and alone (batch size picks the kernels), and
prints the largest difference of the final latents and spectrograms, also as ulps of the
latents' scale per network pass (steps), for

- ``mini``: the shipped miniature world (a trained denoiser);
- ``tiny``: the tests' rehearsal models (tiny SD layouts, random weights), with the
  paper's warm start and ``image_start=0.25``.

Run it as this CPU is, and as another CPU would be:

    python benchmarks/kernel_drift.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 OMP_NUM_THREADS=1 \\
        python benchmarks/kernel_drift.py
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from itslib.experts import load_audio_expert, load_image_expert
from itslib.mini.experts import mini_pipeline
from itslib.pipeline import ImagesThatSound
from itslib.rehearsal import write_auffusion, write_stable_diffusion

EPS = torch.finfo(torch.float32).eps


def tiny_pipeline() -> ImagesThatSound:
    root = Path(tempfile.mkdtemp())
    image = write_stable_diffusion(root / "tiny-sd", seed=0)
    sound = write_auffusion(root / "tiny-auffusion", seed=1)
    return ImagesThatSound(load_image_expert(image, device="cpu"),
                           load_audio_expert(sound, device="cpu"))  # fmt: skip


def drift(pipe, prompts, steps: int, scheduler: str, **canvas) -> str:
    kwargs = dict(steps=steps, seed=11, scheduler=scheduler, num_samples=2, progress=False,
                  **canvas)  # fmt: skip
    together = pipe(*prompts, batch_size=2, **kwargs)
    alone = pipe(*prompts, batch_size=1, **kwargs)
    pairs = list(zip(together, alone, strict=True))
    latents = max(float((a.latents - b.latents).abs().max()) for a, b in pairs)
    spectrograms = max(float(abs(a.spectrogram - b.spectrogram).max()) for a, b in pairs)
    scale = max(1.0, float(alone[0].latents.abs().max()))
    return (f"{scheduler:6s} {steps:3d} steps: latents {latents:.2e} (scale {scale:5.2f}, "
            f"{latents / scale / steps / EPS:6.0f} ulps a pass), spectrogram {spectrograms:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[3, 4, 10, 25])
    args = parser.parse_args()
    print(f"ATen {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} thread(s)")
    mini = mini_pipeline()
    tiny = tiny_pipeline()
    for steps in args.steps:
        for scheduler in ("ddim", "dpm++"):
            print("mini", drift(mini, ("circles", "siren"), steps, scheduler))
            print("tiny", drift(tiny, ("a castle", "bell ringing"), steps, scheduler, height=256,
                                width=64, image_start=0.25, vocoder="hifigan"))  # fmt: skip


if __name__ == "__main__":
    main()
