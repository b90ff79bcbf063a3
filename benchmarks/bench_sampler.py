"""How fast is the joint sampler, and how much of the time is the sampler's own?

Reports, per sample: seconds, UNet sample evaluations, seconds inside UNet calls,
and the sampler's overhead (everything else in the loop: CFG arithmetic, mixing,
scheduler steps), for

- ``mini``: the shipped miniature experts (128 x 512 canvas, 4 x 32 x 128 latent) on
  the CPU with ``--threads`` torch threads, plus the Griffin-Lim vocoder;
- ``tiny``: the tiny random SD-layout models the tests use, on the CPU;
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
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from itslib.checks import default_dtype  # noqa: E402
from itslib.experts import Expert, TextPromptEncoder  # noqa: E402
from itslib.pipeline import make_scheduler  # noqa: E402
from itslib.sampler import image_audio_terms, sample  # noqa: E402
from itslib.settings import Settings  # noqa: E402

SD15_SCHEDULER = {
    "_class_name": "PNDMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
    "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "set_alpha_to_one": False,
    "skip_prk_steps": True, "steps_offset": 1,
}  # fmt: skip


def sd15_expert(name: str, device: str, dtype: torch.dtype) -> Expert:
    """A random-weight expert with SD 1.5's shapes (no download)."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from itslib.rehearsal.diffusion import write_tokenizer

    folder = Path(tempfile.mkdtemp())
    write_tokenizer(folder)
    unet = UNet2DConditionModel(cross_attention_dim=768, sample_size=64)
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
    )
    text = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072,
                                        num_attention_heads=12, num_hidden_layers=12))  # fmt: skip
    for module in (unet, vae, text):
        module.to(device, dtype).eval().requires_grad_(False)
    encoder = TextPromptEncoder(CLIPTokenizer.from_pretrained(folder), text)
    return Expert(name, unet, vae, encoder, dict(SD15_SCHEDULER), model_id=f"random-sd15-{name}")


def tiny_experts() -> tuple[Expert, Expert]:
    from itslib.experts import load_audio_expert, load_image_expert
    from itslib.rehearsal import write_auffusion, write_stable_diffusion

    root = Path(tempfile.mkdtemp())
    image = load_image_expert(write_stable_diffusion(root / "sd", seed=0), device="cpu")
    sound = load_audio_expert(write_auffusion(root / "auf", seed=1), "cpu")
    return image, sound


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
    vocode = None
    if args.world == "mini":
        from itslib import audio
        from itslib.mini.experts import mini_pipeline

        pipe = mini_pipeline(threads=args.threads)
        image, sound = pipe.image_expert, pipe.audio_expert
        shape = pipe.latent_shape(*pipe.canvas)

        def vocode(pictures):
            logmel = audio.picture_to_logmel(pictures[0].mean(dim=0).numpy(), sound.mel)
            return pipe.vocode(logmel, "griffin-lim")

    elif args.world == "tiny":
        image, sound = tiny_experts()
        shape = (1, 4, 32, 8)
    else:
        image, sound = (
            sd15_expert("image", args.device, dtype),
            sd15_expert("audio", args.device, dtype),
        )
        shape = (1, 4, 32, 128)
    timer = UnetTimer(image.unet, sound.unet)
    prompts = ("city skyline", "bell ringing") if args.world == "mini" else (
        "a painting of castle towers, grayscale", "bell ringing")  # fmt: skip
    terms = image_audio_terms(image, sound, Settings(*prompts))

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
        if vocode is not None:
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
