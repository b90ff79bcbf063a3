"""Command line: ``python -m itslib <command> ...`` (or the ``itslib`` script).

Commands: ``demo`` (no models), ``generate`` (the joint sampler), ``imprint`` and
``sds`` (the baselines), ``colorize``, ``sweep`` (grids of samples, scored). Every
command that writes samples puts sample k in ``OUT/sample_{k:03d}/`` and never
overwrites one silently.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from itslib._hub import REAL_MODELS
from itslib._io import ensure_writable_folder

FORMATTER = argparse.ArgumentDefaultsHelpFormatter


# --- shared pieces ----------------------------------------------------------------------


def real_model_help(role: str, what: str) -> str:
    """Help for a real model's flag: its variable and its hub id."""
    model = REAL_MODELS[role]
    return f"{what} (default: ${model.env} if set, else {model.hub_id})"


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models", default="auto", choices=["auto", "real", "mini"],
                   help="real: SD 1.5 + Auffusion; mini: the shipped miniature models; auto: "
                   "$ITSLIB_WORLD if set, else real with a CUDA GPU (or when a model is "
                   "named), else mini")  # fmt: skip
    p.add_argument("--image-model", default=None,
                   help=real_model_help("image", "SD 1.x hub id or local folder"))  # fmt: skip
    p.add_argument("--audio-model", default=None,
                   help=real_model_help("audio", "Auffusion hub id or local folder"))  # fmt: skip
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
    p.add_argument(
        "--height",
        type=int,
        default=None,
        help="pixels, a multiple of 8 (default: 256 real, 64 mini)",
    )
    p.add_argument(
        "--width",
        type=int,
        default=None,
        help="pixels, 100 per second, a multiple of 8 (default: 1024 real, 256 mini)",
    )
    p.add_argument("--vocoder", default=None, choices=["hifigan", "griffin-lim"],
                   help="how the spectrogram becomes sound (default: hifigan if the audio "
                   "model has one, else griffin-lim)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="sample k uses seed + k")
    p.add_argument("--num-samples", type=int, default=1, help="how many samples")
    p.add_argument("--out", default=None, help="output folder (default: out/<command>)")
    p.add_argument("--overwrite", action="store_true", help="replace existing sample folders")
    p.add_argument("--video", action="store_true", help="also write video.mp4 with a playhead")


def torch_dtype(name: str):
    """The ``--dtype`` choice as a torch dtype (``None`` for auto: fp16 on CUDA, fp32 on CPU)."""
    import torch

    return {"auto": None, "fp16": torch.float16, "fp32": torch.float32}[name]


def load_world(args: argparse.Namespace):
    """The world the model flags choose, with its pipeline loaded."""
    from itslib.worlds import load_world as load

    models = args.models
    if models == "auto" and (args.image_model or args.audio_model):
        models = "real"
    return load(models, image_model=args.image_model, audio_model=args.audio_model,
                device=args.device, dtype=torch_dtype(args.dtype), offload=args.offload)


def load_pipeline(args: argparse.Namespace):
    return load_world(args).pipeline


def sample_folders(args: argparse.Namespace) -> list[Path]:
    """The sample folders to write; fails before any work if one exists."""
    if args.num_samples < 1:
        raise ValueError(f"--num-samples={args.num_samples} must be >= 1.")
    out = ensure_writable_folder(args.out or f"out/{args.command}", name="--out")
    folders = [out / f"sample_{k:03d}" for k in range(args.num_samples)]
    taken = [str(f) for f in folders if f.exists()]
    if taken and not args.overwrite:
        raise ValueError(
            f"{', '.join(taken)} already exist(s); choose another --out or pass --overwrite."
        )
    return folders


def save(result, folder: Path, args: argparse.Namespace, **options) -> None:
    result.save(folder, video=args.video, overwrite=args.overwrite, **options)
    print(f"{folder}: {result.params['seconds']:.1f} s, seed {result.params['seed']}")


# --- commands ---------------------------------------------------------------------------


def run_demo(args: argparse.Namespace) -> None:
    from itslib.demo import run_demo as demo

    for name, path in demo(args.out, sound=args.sound, picture=args.picture).items():
        print(f"{name:>20}: {path}")


GENERATE_SETTINGS = (
    "negative_image_prompt", "negative_audio_prompt", "steps", "image_guidance",
    "audio_guidance", "audio_weight", "image_start", "audio_start", "height", "width",
    "scheduler", "vocoder", "strength",
)  # fmt: skip


def run_generate(args: argparse.Namespace) -> None:
    from itslib import audio
    from itslib.pipeline import Settings

    # Check everything that can be checked before loading gigabytes of weights.
    if (args.image_prompt is None) != (args.audio_prompt is None):
        raise ValueError("give both --image-prompt and --audio-prompt, or neither (for the "
                         "world's first example pair).")  # fmt: skip
    settings = {name: getattr(args, name) for name in GENERATE_SETTINGS}
    settings["crop_right"] = False if args.no_crop else None
    # (sizes and vocoder left to the world are stood in for by valid values here)
    stand_ins = {"height": args.height or 8, "width": args.width or 8,
                 "vocoder": args.vocoder or "griffin-lim"}  # fmt: skip
    Settings(args.image_prompt or "", args.audio_prompt or "", **(settings | stand_ins)).check()
    folders = sample_folders(args)
    world = load_world(args)
    pipeline = world.pipeline
    if args.image_prompt is None:
        args.image_prompt, args.audio_prompt = world.examples[0]
        print(f"No prompts given: the {world.name} world's first example, "
              f"--image-prompt {args.image_prompt!r} --audio-prompt {args.audio_prompt!r}.")
    height, width = args.height or pipeline.canvas[0], args.width or pipeline.canvas[1]
    init = {}
    if args.init_picture:
        init["init_picture"] = audio.load_picture(args.init_picture, height, width)
    if args.init_sound:
        mel = pipeline.audio_expert.mel
        init["init_sound"] = audio.load_audio(args.init_sound, mel.sample_rate,
                                              seconds=mel.seconds(width))  # fmt: skip
    for k, folder in enumerate(folders):
        (result,) = pipeline(args.image_prompt, args.audio_prompt, seed=args.seed + k,
                             **init, **settings)  # fmt: skip
        save(result, folder, args, save_latents=args.save_latents)
    print(f"Done: {len(folders)} image(s) that sound in {folders[0].parent}/ (each sample "
          "folder: image.png, spectrogram.png, audio.wav, params.json).")  # fmt: skip


def run_imprint(args: argparse.Namespace) -> None:
    from itslib import audio
    from itslib.baselines import check_unit, imprint_baseline

    check_unit(args.strength, "--strength")
    for given, name in ((args.picture, "--picture"), (args.sound, "--sound")):
        if given and not Path(given).is_file():
            raise FileNotFoundError(f"{name} {given!r} does not exist.")
    folders = sample_folders(args)
    pipeline = load_pipeline(args)
    height, width = args.height or pipeline.canvas[0], args.width or pipeline.canvas[1]
    mel = pipeline.audio_expert.mel
    picture = audio.load_picture(args.picture, height, width, fill=1.0) if args.picture else None
    sound = (
        audio.load_audio(args.sound, mel.sample_rate, mel.seconds(width)) if args.sound else None
    )
    for k, folder in enumerate(folders):
        result = imprint_baseline(
            pipeline, args.image_prompt if picture is None else None,
            args.audio_prompt if sound is None else None, picture, sound, args.strength,
            seed=args.seed + k, height=height, width=width, vocoder=args.vocoder,
        )  # fmt: skip
        save(result, folder, args)


def run_sds(args: argparse.Namespace) -> None:
    from itslib.baselines import SDSSettings, sds_baseline

    settings = SDSSettings(steps=args.steps, audio_only_steps=args.audio_only_steps, lr=args.lr,
                           image_weight=args.image_weight, audio_weight=args.audio_weight,
                           image_guidance=args.image_guidance, audio_guidance=args.audio_guidance,
                           height=args.height, width=args.width,
                           snapshot_every=args.snapshot_every)  # fmt: skip
    settings.check()
    folders = sample_folders(args)
    pipeline = load_pipeline(args)
    image_expert = None
    if args.image_sds == "if":  # the paper's: pixel-space IF stage I on 8 random crops
        from itslib.experts import load_if_expert

        image_expert = load_if_expert(args.if_model, pipeline.audio_expert.device,
                                      pipeline.audio_expert.dtype)  # fmt: skip
        settings.image_crops = 8
        settings.crop_resize = image_expert.unet.config.sample_size
    for k, folder in enumerate(folders):
        settings.seed = args.seed + k
        result = sds_baseline(pipeline, args.image_prompt, args.audio_prompt, settings,
                              image_expert=image_expert, vocoder=args.vocoder)  # fmt: skip
        save(result, folder, args)


def run_colorize(args: argparse.Namespace) -> None:

    from itslib.colorize import colorize_sample_folder, load_colorizer

    folders = [Path(f) for f in args.folders]
    for folder in folders:
        if not (folder / "spectrogram.png").is_file():
            raise FileNotFoundError(f"{folder} is not a sample folder (no spectrogram.png).")
    dtype = torch_dtype(args.dtype)
    colorizer = load_colorizer(args.stage1_model, args.stage2_model, device=args.device,
                               dtype=dtype, offload=False if args.no_offload else None)  # fmt: skip
    for folder in folders:
        path = colorize_sample_folder(folder, image_prompt=args.prompt, video=args.video,
                                      colorizer=colorizer, steps=args.steps,
                                      guidance=args.guidance, start_step=args.start_step,
                                      seed=args.seed)  # fmt: skip
        print(path)


# --- the parser -------------------------------------------------------------------------


def run_sweep(args: argparse.Namespace) -> None:
    import time

    import torch

    from itslib import sweep

    index, count, barrier = sweep.distributed_state()
    if count > 1 and torch.cuda.is_available():
        args.device = args.device or f"cuda:{torch.cuda.current_device()}"
    out = ensure_writable_folder(args.out or "out/sweep", name="--out")
    seeds = list(range(args.seed, args.seed + args.seeds))
    world = load_world(args)
    pairs = sweep.load_prompt_pairs(args.prompts, world.examples)[: args.pairs]
    variants = sweep.make_variants(args.methods, sweep.parse_settings(args.set or []))
    jobs = sweep.make_jobs(variants, pairs, seeds)
    judges = None if args.judges == "none" else world.load_judges(args.device)
    defaults = {k: v for k, v in {"vocoder": args.vocoder, "height": args.height,
                                  "width": args.width}.items() if v is not None}  # fmt: skip
    tic = time.perf_counter()
    made = sweep.run_sweep(world.pipeline, jobs, out, defaults, judges, not args.no_samples,
                           index, count)  # fmt: skip
    print(f"[process {index + 1}/{count}] {len(made)} new samples in "
          f"{time.perf_counter() - tic:.0f} s")  # fmt: skip
    barrier()
    if index == 0:
        scale = judges.scale if judges is not None else 1.0
        rows, summary = sweep.write_table(out, jobs, scale)
        print(sweep.markdown(summary, scale))
        print(f"{len(rows)} of {len(jobs)} samples in {out / 'results.csv'}")


def run_rehearse(args: argparse.Namespace) -> None:
    from itslib.rehearsal import export_lines, write_rehearsal

    env = write_rehearsal(args.folder)
    if not args.quiet:
        print(f"# Random-weight copies of every real model, in the hub's layouts, under "
              f"{args.folder}.\n# Paste these lines into your shell (or eval \"$(python -m "
              f"itslib rehearse {args.folder} --quiet)\") to run the real world on them:")
    print(export_lines(env))


def add_prompts(p: argparse.ArgumentParser, required: bool = True) -> None:
    example = "" if required else "; with neither prompt, the world's first example pair"
    p.add_argument("--image-prompt", required=required,
                   help=f"what it should look like (mini world: a picture class name{example})")
    p.add_argument("--audio-prompt", required=required,
                   help=f"what it should sound like (mini world: a sound class name{example})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="itslib", formatter_class=FORMATTER,
        description="Images that sound: spectrograms that look like a picture and sound "
        "like a sound (Chen, Geng, Owens 2024).",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "demo",
        formatter_class=FORMATTER,
        help="draw a sound as an Auffusion spectrogram and play it back",
    )
    p.add_argument("--out", default="out/demo", help="folder to write the files into")
    p.add_argument("--sound", default=None, help="an audio file to use instead of the example")
    p.add_argument("--picture", default=None, help="also play this image file as a sound")
    p.set_defaults(run=run_demo)

    p = commands.add_parser(
        "generate", formatter_class=FORMATTER,
        help="make images that sound from an image prompt and an audio prompt",
        description="Denoise one latent with an image and an audio diffusion model at once. "
        "Sample k goes to OUT/sample_{k:03d}/ with image.png, spectrogram.png, audio.wav, "
        "params.json.",
    )  # fmt: skip
    add_prompts(p, required=False)
    p.add_argument("--negative-image-prompt", default="", help="image expert's unconditional text")
    p.add_argument("--negative-audio-prompt", default="", help="audio expert's unconditional text")
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
    p.add_argument("--scheduler", default="ddim", choices=["ddim", "dpm++", "dpm++sde", "euler",
                   "pndm"], help="diffusers scheduler")  # fmt: skip
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
        help="keep the right-edge 32/1024 of the width (real world crops it)",
    )
    p.add_argument("--save-latents", action="store_true", help="also write latents.npy")
    add_model_options(p)
    p.set_defaults(run=run_generate)

    p = commands.add_parser(
        "imprint", formatter_class=FORMATTER,
        help="baseline: carve a picture into a spectrogram (generated or your own files)",
        description="spectrogram * (1 - strength * (1 - gray picture)), then the vocoder.",
    )  # fmt: skip
    add_prompts(p, required=False)
    p.add_argument("--picture", default=None, help="your own picture file (instead of a prompt)")
    p.add_argument("--sound", default=None, help="your own audio file (instead of a prompt)")
    p.add_argument("--strength", type=float, default=0.5, help="how deep to carve, in [0, 1]")
    add_model_options(p)
    p.set_defaults(run=run_imprint)

    p = commands.add_parser(
        "sds", formatter_class=FORMATTER,
        help="baseline: optimise a canvas with image and audio score distillation",
    )  # fmt: skip
    add_prompts(p)
    p.add_argument("--steps", type=int, default=40_000, help="optimisation steps")
    p.add_argument("--audio-only-steps", type=int, default=5_000, help="audio-only warm start")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate")
    p.add_argument("--image-weight", type=float, default=0.4, help="image SDS weight")
    p.add_argument("--audio-weight", type=float, default=1.0, help="audio SDS weight")
    p.add_argument("--image-guidance", type=float, default=80.0, help="image CFG scale")
    p.add_argument("--audio-guidance", type=float, default=10.0, help="audio CFG scale")
    p.add_argument("--snapshot-every", type=int, default=0, help="keep the canvas every N steps")
    p.add_argument("--image-sds", default="sd", choices=["sd", "if"],
                   help="sd: the image expert through its VAE (fits a free Colab GPU); if: "
                   "the paper's pixel-space DeepFloyd IF stage I on 8 crops (gated, bigger)")
    p.add_argument("--if-model", default=None,
                   help=real_model_help("if_stage1", "IF stage I id or folder"))  # fmt: skip
    add_model_options(p)
    p.set_defaults(run=run_sds)

    p = commands.add_parser(
        "colorize", formatter_class=FORMATTER,
        help="colour a sample's spectrogram with DeepFloyd IF, keeping its grayscale (GPU)",
        description="Factorized-diffusion colorization: writes color.png next to each sample; "
        "its channel mean equals the spectrogram, so it plays as the same sound. DeepFloyd IF "
        "is gated: accept its licence on the hub and log in first.",
    )  # fmt: skip
    p.add_argument("folders", nargs="+", help="sample folders (with spectrogram.png)")
    p.add_argument(
        "--prompt", default=None, help="image prompt (default: the one in the folder's params.json)"
    )
    p.add_argument("--steps", type=int, default=30, help="stage I denoising steps")
    p.add_argument("--guidance", type=float, default=10.0, help="CFG scale")
    p.add_argument("--start-step", type=int, default=7, help="start at this step, in [0, steps)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--stage1-model", default=None,
                   help=real_model_help("if_stage1", "IF stage I id or folder"))  # fmt: skip
    p.add_argument("--stage2-model", default=None,
                   help=real_model_help("if_stage2", "IF stage II id or folder"))  # fmt: skip
    p.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "fp16", "fp32"],
        help="auto: fp16 on CUDA, fp32 on CPU",
    )
    p.add_argument("--no-offload", action="store_true", help="keep IF on the GPU (big GPUs)")
    p.add_argument(
        "--video",
        action="store_true",
        help="also write video_color.mp4: the colour picture with a playhead",
    )
    p.set_defaults(run=run_colorize)

    from itslib.sweep import METHODS, prompt_set_names

    p = commands.add_parser(
        "sweep", formatter_class=FORMATTER,
        help="prompt pairs x seeds x methods x settings, scored, into one table (resumable)",
        description="Writes OUT/samples/<variant>/sample_p<pair>_s<seed>/, OUT/rows/ and the "
        "merged OUT/results.csv and OUT/results.md; finished samples are skipped on a rerun. "
        "Split it over GPUs or processes with `accelerate launch --num_processes N -m itslib "
        "sweep ...`.",
    )  # fmt: skip
    p.add_argument(
        "--prompts",
        default="examples",
        help=f"a prompt set ({', '.join(prompt_set_names())}) or a JSON file",
    )
    p.add_argument("--pairs", type=int, default=None, help="only the first N prompt pairs")
    p.add_argument("--methods", nargs="+", default=["joint"], choices=METHODS,
                   help="methods to compare")  # fmt: skip
    p.add_argument("--seeds", type=int, default=1, help="seeds per pair: --seed .. --seed+N-1")
    p.add_argument("--set", action="append", metavar="NAME=V1,V2",
                   help="a setting and its values, e.g. steps=25,50 or image_start=0,0.1; "
                   "repeat for a grid (names as in generate, with _)")  # fmt: skip
    p.add_argument("--judges", default="world", choices=["world", "none"],
                   help="world: the world's own (CLIP + CLAP, or the miniature judges)")
    p.add_argument("--no-samples", action="store_true", help="keep only the score rows")
    add_model_options(p)
    p.set_defaults(run=run_sweep)

    p = commands.add_parser(
        "rehearse", formatter_class=FORMATTER,
        help="write random-weight copies of every real model and print the exports that use them",
        description="Writes SD 1.5, Auffusion (with its vocoder), CLIP, CLAP and DeepFloyd IF "
        "stage I/II, tiny and with random weights, each in its hub repository's layout, under "
        "FOLDER; prints the ITSLIB_* export lines that point the real world at them (and cap "
        "SDS's loop). Used by CI to run every chapter's Colab path on a CPU.",
    )  # fmt: skip
    p.add_argument("folder", help="where to write the models (reused if already complete)")
    p.add_argument("--quiet", action="store_true", help="print only the export lines")
    p.set_defaults(run=run_rehearse)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    if args.command == "imprint":
        if not (args.image_prompt or args.picture) or not (args.audio_prompt or args.sound):
            print("itslib imprint: error: give --image-prompt or --picture, and --audio-prompt "
                  "or --sound.", file=sys.stderr)  # fmt: skip
            return 2
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"itslib {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
