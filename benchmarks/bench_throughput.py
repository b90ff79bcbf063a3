"""Samples per second at batch 1 and at batch 8: what drawing many samples at once buys.

For each ``--batch-sizes`` value, in one run on one machine: the same ``--samples``
joint samples (seeds 0..N-1) are drawn through the pipeline with that batch size, after
a warm-up batch. Reports samples per second and its ratio to the first batch size,
seconds per sample, UNet evaluations per sample, seconds inside the UNets against
everything else (decoding, vocoding, the loop's own arithmetic), and peak memory
(GPU: ``max_memory_allocated``; CPU: the process's peak resident size).

- ``--world mini``: the shipped miniature experts on the CPU (Griffin-Lim vocoder);
- ``--world sd15``: random-weight models of Stable Diffusion 1.5's exact shapes for both
  experts at the paper's 4 x 32 x 128 latent (fp16 on CUDA), as in ``bench_sampler.py``.

    python benchmarks/bench_throughput.py --world mini --threads 2
    python benchmarks/bench_throughput.py --world mini --threads 2 --dtype bf16    # CPU bf16
    python benchmarks/bench_throughput.py --world sd15 --steps 100                 # a GPU
    python benchmarks/bench_throughput.py --world sd15 --steps 15 --scheduler dpm++
    python benchmarks/bench_throughput.py --world sd15 --budget-gb 15 --find-largest-batch
    python benchmarks/bench_throughput.py --world sd15 --compile --channels-last
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark

from bench_sampler import MODELS, UnetTimer  # noqa: E402

from itslib.checks import default_dtype  # noqa: E402
from itslib.cli import DTYPES  # noqa: E402
from itslib.pipeline import BatchTooLargeError, ImagesThatSound  # noqa: E402
from itslib.worlds import WORLDS  # noqa: E402


def build(args) -> tuple[ImagesThatSound, tuple[str, str]]:
    dtype = DTYPES[args.dtype] or default_dtype(args.device)
    make, world = MODELS[args.world]
    pipe = make(args.device, dtype, args.threads)
    return pipe, WORLDS[world].examples[0]


def peak_memory_gb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB on Linux


def draw(pipe, prompts, args, batch: int, samples: int, timer: UnetTimer) -> dict:
    """Time ``samples`` samples drawn ``batch`` at a time."""
    kwargs = dict(steps=args.steps, scheduler=args.scheduler, vocoder="griffin-lim",
                  progress=False)  # fmt: skip
    pipe(*prompts, num_samples=batch, batch_size=batch, seed=10_000, **kwargs)  # warm-up
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    timer.seconds, timer.calls = 0.0, 0
    start = time.perf_counter()
    results = pipe(*prompts, num_samples=samples, batch_size=batch, seed=0, **kwargs)
    seconds = time.perf_counter() - start
    return {
        "batch_size": batch,
        "samples": samples,
        "samples_per_second": round(samples / seconds, 3),
        "seconds_per_sample": round(seconds / samples, 3),
        "unet_evaluations_per_sample": results[0].params["unet_evaluations"],
        "seconds_in_unets_per_sample": round(timer.seconds / samples, 3),
        "seconds_outside_unets_per_sample": round((seconds - timer.seconds) / samples, 3),
        "peak_memory_gb": round(peak_memory_gb(args.device), 2),
    }


def largest_batch(pipe, prompts, args) -> int:
    """The largest power-of-two batch (up to 256) that one denoising run fits."""
    batch, fits = 1, 0
    while batch <= 256:
        try:
            pipe(*prompts, num_samples=batch, batch_size=batch, steps=2, progress=False,
                 vocoder="griffin-lim")  # fmt: skip
        except BatchTooLargeError:
            break
        fits, batch = batch, batch * 2
        torch.cuda.empty_cache()
    return fits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", choices=["mini", "sd15"], default="mini")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--scheduler", default="ddim")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--samples", type=int, default=16, help="samples per batch size")
    parser.add_argument("--dtype", choices=list(DTYPES), default="auto",
                        help="the UNets' precision (auto: mini fp32, sd15 fp16 on CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile both UNets")
    parser.add_argument("--channels-last", action="store_true",
                        help="channels-last UNets (the miniature world's are, on the CPU)")
    parser.add_argument("--budget-gb", type=float, help="GPU memory budget (10^9 bytes)")
    parser.add_argument("--find-largest-batch", action="store_true")
    parser.add_argument("--out", help="also write the report here (JSON)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.budget_gb and args.device.startswith("cuda"):
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.budget_gb * 1e9 / total))
    pipe, prompts = build(args)
    for expert in (pipe.image_expert, pipe.audio_expert):
        if args.channels_last:
            expert.unet.to(memory_format=torch.channels_last)
        if args.compile:
            expert.unet = torch.compile(expert.unet)
    timer = UnetTimer(pipe.image_expert.unet, pipe.audio_expert.unet)
    rows = [draw(pipe, prompts, args, b, args.samples, timer) for b in args.batch_sizes]
    for row in rows:
        row["speedup_over_first"] = round(row["samples_per_second"]
                                          / rows[0]["samples_per_second"], 2)  # fmt: skip
    report = {
        "world": args.world, "steps": args.steps, "scheduler": args.scheduler,
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "threads": torch.get_num_threads(),
        "dtype": str(pipe.image_expert.dtype).replace("torch.", ""), "compile": args.compile,
        "channels_last": pipe.image_expert.unet.conv_in.weight.is_contiguous(
            memory_format=torch.channels_last), "budget_gb": args.budget_gb, "rows": rows,
    }  # fmt: skip
    if args.find_largest_batch:
        report["largest_batch_that_fits"] = largest_batch(pipe, prompts, args)
    print("| batch | samples/s | x batch 1 | s/sample | UNet evals | s in UNets | s outside "
          "| peak GB |\n|---|---|---|---|---|---|---|---|")  # fmt: skip
    for r in rows:
        print(f"| {r['batch_size']} | {r['samples_per_second']} | {r['speedup_over_first']} | "
              f"{r['seconds_per_sample']} | {r['unet_evaluations_per_sample']} | "
              f"{r['seconds_in_unets_per_sample']} | {r['seconds_outside_unets_per_sample']} | "
              f"{r['peak_memory_gb']} |")  # fmt: skip
    print(json.dumps(report, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
