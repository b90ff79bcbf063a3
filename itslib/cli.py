"""Command line: ``python -m itslib <command> ...`` (or the ``itslib`` script)."""

from __future__ import annotations

import argparse
import sys


def _demo(args: argparse.Namespace) -> None:
    from itslib.demo import run_demo

    written = run_demo(args.out, sound=args.sound, picture=args.picture)
    for name, path in written.items():
        print(f"{name:>20}: {path}")


def _generate(args: argparse.Namespace) -> None:
    import torch

    from itslib import audio
    from itslib._io import ensure_writable_folder
    from itslib.pipeline import ImagesThatSound, Settings

    # Check everything that can be checked before loading gigabytes of weights.
    settings = {
        name: getattr(args, name)
        for name in (
            "negative_image_prompt", "negative_audio_prompt", "steps", "image_guidance",
            "audio_guidance", "audio_weight", "image_start", "audio_start", "height", "width",
            "seed", "scheduler", "vocoder", "strength",
        )
    }  # fmt: skip
    settings["crop_right"] = not args.no_crop
    Settings(args.image_prompt, args.audio_prompt, **settings).check()
    if args.num_samples < 1:
        raise ValueError(f"--num-samples={args.num_samples} must be >= 1.")
    out = ensure_writable_folder(args.out)
    folders = [out / f"sample_{k:03d}" for k in range(args.num_samples)]
    taken = [str(f) for f in folders if f.exists()]
    if taken and not args.overwrite:
        raise ValueError(
            f"{', '.join(taken)} already exist(s); choose another --out or pass --overwrite."
        )
    dtype = {"auto": None, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    init = {}
    if args.init_picture:
        init["init_picture"] = audio.load_picture(args.init_picture, args.height, args.width)
    if args.init_sound:
        wav = audio.load_audio(args.init_sound, seconds=args.width * 160 / 16000)
        init["init_sound"] = wav

    pipeline = ImagesThatSound.from_pretrained(
        args.image_model, args.audio_model, device=args.device, dtype=dtype, offload=args.offload
    )
    for k, folder in enumerate(folders):
        settings["seed"] = args.seed + k
        (result,) = pipeline(args.image_prompt, args.audio_prompt, **init, **settings)
        result.save(folder, save_latents=args.save_latents, video=args.video,
                    overwrite=args.overwrite)  # fmt: skip
        print(f"{folder}: {result.params['seconds']:.1f} s, seed {result.params['seed']}")


def _add_generate(commands) -> None:
    from itslib.experts import AUDIO_MODEL, IMAGE_MODEL

    p = commands.add_parser(
        "generate",
        help="make images that sound from an image prompt and an audio prompt",
        description="Denoise one latent with an image and an audio diffusion model at once "
        "(Chen, Geng, Owens 2024). Sample k goes to OUT/sample_{k:03d}/ with image.png, "
        "spectrogram.png, audio.wav and params.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--image-prompt", required=True, help="what the spectrogram should look like")
    p.add_argument("--audio-prompt", required=True, help="what it should sound like")
    p.add_argument("--negative-image-prompt", default="", help="image expert's unconditional text")
    p.add_argument("--negative-audio-prompt", default="", help="audio expert's unconditional text")
    p.add_argument("--image-model", default=IMAGE_MODEL, help="SD 1.x hub id or local folder")
    p.add_argument("--audio-model", default=AUDIO_MODEL, help="Auffusion hub id or local folder")
    p.add_argument("--steps", type=int, default=100, help="denoising steps")
    p.add_argument("--image-guidance", type=float, default=10.0, help="image CFG scale (>= 0)")
    p.add_argument("--audio-guidance", type=float, default=10.0, help="audio CFG scale (>= 0)")
    p.add_argument(
        "--audio-weight",
        type=float,
        default=0.5,
        help="audio expert's weight in [0, 1]; the image expert gets 1 - it",
    )
    p.add_argument(
        "--image-start",
        type=float,
        default=0.1,
        help="share of steps in [0, 1) before the image expert joins",
    )
    p.add_argument(
        "--audio-start",
        type=float,
        default=0.0,
        help="share of steps in [0, 1) before the audio expert joins",
    )
    p.add_argument("--seed", type=int, default=0, help="sample k uses seed + k")
    p.add_argument("--num-samples", type=int, default=1, help="how many samples")
    p.add_argument("--height", type=int, default=256, help="pixels, a multiple of 8")
    p.add_argument("--width", type=int, default=1024, help="pixels (100 per second), multiple of 8")
    p.add_argument("--scheduler", default="ddim", choices=["ddim", "dpm++", "dpm++sde", "euler",
                   "pndm"], help="diffusers scheduler")  # fmt: skip
    p.add_argument(
        "--vocoder",
        default="hifigan",
        choices=["hifigan", "griffin-lim"],
        help="how the spectrogram becomes sound",
    )
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "fp16", "fp32"],
        help="auto: fp16 on CUDA, fp32 on CPU",
    )
    p.add_argument(
        "--offload",
        action="store_true",
        help="keep text encoders and VAEs in CPU memory between uses (small GPUs)",
    )
    p.add_argument("--init-picture", default=None, help="start from this picture file")
    p.add_argument("--init-sound", default=None, help="start from this recording")
    p.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="with --init-*: how much noise in (0, 1]; 1 ignores the init",
    )
    p.add_argument(
        "--no-crop",
        action="store_true",
        help="keep the right-edge 32/1024 of the width (cropped by default)",
    )
    p.add_argument("--save-latents", action="store_true", help="also write latents.npy")
    p.add_argument("--video", action="store_true", help="also write video.mp4 with a playhead")
    p.add_argument("--out", default="out/generate", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing sample folders")
    p.set_defaults(run=_generate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="itslib",
        description="Images that sound: spectrograms that look like a picture and sound "
        "like a sound.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="draw a sound as an Auffusion spectrogram and play it back (no models needed)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--out", default="out/demo", help="folder to write the files into")
    demo.add_argument("--sound", default=None, help="an audio file to use instead of the example")
    demo.add_argument("--picture", default=None, help="also play this image file as a sound")
    demo.set_defaults(run=_demo)
    _add_generate(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"itslib {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
