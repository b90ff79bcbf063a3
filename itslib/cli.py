"""Command line: ``python -m itslib <command> ...`` (or the ``itslib`` script).

Commands: ``demo`` (no models), ``generate`` (the joint sampler), ``imprint`` and
``sds`` (the baselines), ``colorize``, ``sweep`` (grids of samples, scored),
``evaluate`` (the paper's tables in miniature) and ``rehearse`` (random-weight copies of
the real models). This is the only module that sees ``argparse``: every command checks
its input here, before any model loads, and hands the library plain values. The
``generate`` flags and their help come from :class:`itslib.settings.Settings`.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from itslib import checks, evaluate, files, sweep
from itslib._hub import REAL_MODELS
from itslib._io import atomic_path, ensure_writable_folder
from itslib.baselines import IMPRINT_STRENGTH, imprint_files, imprint_many
from itslib.checks import default_device
from itslib.colorize import colorize, colorize_sample_folder, load_colorizer
from itslib.demo import run_demo
from itslib.experts import load_if_expert
from itslib.methods import METHODS, make_method
from itslib.metrics import keep_best
from itslib.mini import train as mini_train
from itslib.mini.datasets import single_thread
from itslib.mini.store import weights_id
from itslib.rehearsal import export_lines, write_rehearsal
from itslib.sds import SDSSettings, sds_baseline
from itslib.settings import Settings
from itslib.worlds import WORLDS, World, load_world, pick_world

DTYPES = {"auto": None, "fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


class HelpFormatter(argparse.HelpFormatter):
    """Prints a flag's default once, at the end of its help, and only when it has one."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
            text += f" (default: {action.default})"
        return text


# --- flags shared by several commands, each declared once ----------------------------


def default_of(function: Callable, name: str) -> Any:
    """The default of ``function``'s parameter ``name``: a flag reads it, never restates it."""
    return inspect.signature(function).parameters[name].default


def real_model_help(role: str, what: str) -> str:
    """Help for a real model's flag: its variable and its hub id."""
    model = REAL_MODELS[role]
    return f"{what} (default: ${model.env} if set, else {model.hub_id})"


def add_world_flags(p: argparse.ArgumentParser, models: bool = True) -> None:
    """Which world, on which device, in which precision."""
    if models:
        p.add_argument("--models", default="auto", choices=["auto", "real", "mini"],
                       help="real: SD 1.5 + Auffusion; mini: the shipped miniature models; "
                       "auto: $ITSLIB_WORLD if set, else real with a CUDA GPU (or when a "
                       "model is named), else mini")  # fmt: skip
        p.add_argument("--image-model", help=real_model_help("image", "SD 1.x id or folder"))
        p.add_argument("--audio-model", help=real_model_help("audio", "Auffusion id or folder"))
        p.add_argument("--offload", action="store_true",
                       help="keep text encoders and VAEs in CPU memory between uses")  # fmt: skip
    p.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda if present)")
    p.add_argument("--dtype", default="auto", choices=list(DTYPES),
                   help="auto: fp16 on CUDA, fp32 on the CPU; bf16: bfloat16 (the miniature "
                   "world: its UNets only), faster batches on CPUs with bf16 units (AMX, "
                   "AVX512-BF16), slower on others")  # fmt: skip


def add_output_flags(p: argparse.ArgumentParser, samples: bool = True) -> None:
    """Where the samples go; how many, from which seed."""
    p.add_argument("--out", help="output folder (default: out/<command>)")
    p.add_argument("--overwrite", action="store_true", help="replace existing sample folders")
    if samples:
        p.add_argument("--seed", type=int, default=0, help="sample k uses seed + k")
        p.add_argument("--num-samples", type=int, default=1, help="how many samples")
        p.add_argument("--video", action="store_true", help="also write video.mp4 with a playhead")


def add_prompts(p: argparse.ArgumentParser, required: bool = True, note: str = "") -> None:
    for name in ("image_prompt", "audio_prompt"):
        field = Settings.__dataclass_fields__[name]
        p.add_argument(f"--{name.replace('_', '-')}", required=required,
                       help=field.metadata["help"] + note)  # fmt: skip


def add_field_flags(p: argparse.ArgumentParser, cls: type, names: list[str] | None = None,
                    default: Callable[[str], str] | None = None) -> None:
    """One flag per field of the settings dataclass ``cls`` whose metadata makes it a flag
    (or per name in ``names``): its name, type, choices and help all come from the field
    (:func:`itslib.settings.setting`). Left out, a flag is ``None``: the field's default,
    whose help ``default(name)`` writes where it is not the field's own (the world's)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        flag = field.metadata.get("flag", False)
        if (names is None and not flag) or (names and field.name not in names):
            continue
        kind = next(t for t in (*typing.get_args(hints[field.name]), hints[field.name])
                    if t in (int, float, str))  # int | None -> int  # fmt: skip
        text = field.metadata["help"].split(" (None:")[0]
        given = default(field.name) if default is not None else None
        if given is not None:
            text += f" (default: {given})"
        elif field.default is not None:
            text += f" (default: {field.default!r})"
        spelled = flag if isinstance(flag, str) else field.name.replace("_", "-")
        shown = None if field.metadata["choices"] else spelled.upper().replace("-", "_")
        p.add_argument(f"--{spelled}", dest=field.name, type=kind, default=None,
                       choices=field.metadata["choices"], help=text, metavar=shown)


def canvas_default(name: str) -> str | None:
    """For height and width, the worlds' canvases as declared ("the world's canvas: 256
    real, 128 mini"); None for the other settings (their own default)."""
    if name not in ("height", "width"):
        return None
    axis = ("height", "width").index(name)
    return "the world's canvas: " + ", ".join(f"{w.canvas[axis]} {n}" for n, w in WORLDS.items())


def add_settings_flags(p: argparse.ArgumentParser, names: list[str] | None = None) -> None:
    """The :class:`Settings` flags (``generate``'s, or those in ``names``)."""
    add_field_flags(p, Settings, names, default=canvas_default)


def given_settings(args: argparse.Namespace, names: list[str] | None = None) -> dict[str, Any]:
    """The :class:`Settings` flags the reader gave (others stay the defaults)."""
    names = names or Settings.names(flags_only=True)
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


# --- checks before any model loads -----------------------------------------------------


def check_device(args: argparse.Namespace) -> None:
    """``--device`` and ``--dtype`` that this machine can honour, or a clear error."""
    device = checks.device(args.device, name="--device")
    on_cpu = (device or torch.device(default_device())).type == "cpu"
    if args.dtype == "fp16" and on_cpu:
        raise ValueError("--dtype fp16 runs only on a CUDA GPU here (half precision on the "
                         "CPU is slow and unsupported by parts of diffusers); use --dtype fp32, "
                         "bf16 or auto.")  # fmt: skip


def models_flag(args: argparse.Namespace) -> str:
    """``--models``, where naming a real model means the real world."""
    if args.models == "auto" and (args.image_model or args.audio_model):
        return "real"
    return args.models


def world_to_check(args: argparse.Namespace) -> World:
    """The world the flags choose, not loaded: what its settings must satisfy is known
    before any model loads (:meth:`World.check`)."""
    return WORLDS[pick_world(models_flag(args), quiet=True)]


def world_from(args: argparse.Namespace) -> World:
    """The world the flags choose, with its pipeline loaded."""
    return load_world(models_flag(args), image_model=args.image_model,
                      audio_model=args.audio_model, device=args.device,
                      dtype=DTYPES[args.dtype], offload=args.offload)  # fmt: skip


def out_folder(args: argparse.Namespace) -> str:
    """``--out`` as given (an empty one is an error later), or ``out/<command>``."""
    return f"out/{args.command}" if args.out is None else args.out


def sample_folders(args: argparse.Namespace, count: int | None = None) -> list[Path]:
    """The ``count`` (default ``--num-samples``) sample folders to write; fails before
    any work if one exists."""
    if args.num_samples < 1:
        raise ValueError(f"--num-samples={args.num_samples} must be >= 1.")
    out = ensure_writable_folder(out_folder(args), name="--out")
    folders = [out / f"sample_{k:03d}" for k in range(count or args.num_samples)]
    taken = [str(f) for f in folders if f.exists()]
    if taken and not args.overwrite:
        raise ValueError(
            f"{', '.join(taken)} already exist(s); choose another --out or pass --overwrite."
        )
    return folders


def save(result, folder: Path, args: argparse.Namespace, **options) -> None:
    result.save(folder, video=args.video, overwrite=args.overwrite, **options)
    print(f"{folder}: {result.params['seconds']:.1f} s, seed {result.params['seed']}")


def done(folders: list[Path]) -> None:
    print(f"Done: {len(folders)} sample(s) in {folders[0].parent}/ (each folder: image.png, "
          "spectrogram.png, audio.wav, params.json).")  # fmt: skip


# --- commands ----------------------------------------------------------------------------


def run_demo_command(args: argparse.Namespace) -> None:
    for name, path in run_demo(args.out, sound=args.sound, picture=args.picture,
                               overwrite=args.overwrite).items():  # fmt: skip
        print(f"{name:>20}: {path}")


def run_generate(args: argparse.Namespace) -> None:
    if (args.image_prompt is None) != (args.audio_prompt is None):
        raise ValueError("give both --image-prompt and --audio-prompt, or neither (for the "
                         "world's first example pair).")  # fmt: skip
    if args.init_picture and args.init_sound:
        raise ValueError("give --init-picture or --init-sound, not both.")
    given = given_settings(args) | ({"crop_right": False} if args.no_crop else {})
    init = "picture" if args.init_picture else "sound" if args.init_sound else None
    for path, flag in ((args.init_picture, "--init-picture"), (args.init_sound, "--init-sound")):
        if path and not Path(path).is_file():
            raise FileNotFoundError(f"{flag} {path!r} does not exist.")
    # The one Settings of this run, from the flags to the loop, checked before any model loads.
    settings = world_to_check(args).check(Settings(args.image_prompt or "",
                                                   args.audio_prompt or "", seed=args.seed,
                                                   init=init, **given))  # fmt: skip
    if args.keep is not None and not 1 <= args.keep <= args.num_samples:
        raise ValueError(f"--keep={args.keep} must be in 1..--num-samples ({args.num_samples}).")
    if args.batch_size is not None and args.batch_size < 1:
        raise ValueError(f"--batch-size={args.batch_size} must be >= 1.")
    check_device(args)
    folders = sample_folders(args, args.keep)
    world = world_from(args)
    pipeline = world.pipeline
    if args.image_prompt is None:
        settings.image_prompt, settings.audio_prompt = world.examples[0]
        print(f"No prompts given: the {world.name} world's first example, --image-prompt "
              f"{settings.image_prompt!r} --audio-prompt {settings.audio_prompt!r}.")  # fmt: skip
    height, width = settings.height or pipeline.canvas[0], settings.width or pipeline.canvas[1]
    start = {}
    if args.init_picture:
        start["init_picture"] = files.load_picture(args.init_picture, height, width)
    if args.init_sound:
        mel = pipeline.audio_expert.mel
        start["init_sound"] = files.load_audio(args.init_sound, mel.sample_rate,
                                               seconds=mel.seconds(width))  # fmt: skip
    results = pipeline(settings.image_prompt, settings.audio_prompt, args.num_samples,
                       settings=settings, batch_size=args.batch_size, **start)  # fmt: skip
    if args.keep is not None:  # the paper's re-ranking: the best by both judges
        results, ranking = keep_best(results, world.load_judges(args.device), args.keep)
        with atomic_path(folders[0].parent / "ranking.md") as tmp:
            tmp.write_text(ranking)
        print(ranking)
    for result, folder in zip(results, folders, strict=True):
        save(result, folder, args, save_latents=args.save_latents)
    done(folders)


def run_imprint(args: argparse.Namespace) -> None:
    if not (args.image_prompt or args.picture) or not (args.audio_prompt or args.sound):
        raise ValueError("give --image-prompt or --picture, and --audio-prompt or --sound.")
    for prompt, own, names in ((args.image_prompt, args.picture, "--image-prompt and --picture"),
                               (args.audio_prompt, args.sound, "--audio-prompt and --sound")):
        if prompt and own:
            raise ValueError(f"give one of {names}, not both (the other would be ignored).")
    for given, flag in ((args.picture, "--picture"), (args.sound, "--sound")):
        if given and not Path(given).is_file():
            raise FileNotFoundError(f"{flag} {given!r} does not exist.")
    if args.picture and args.sound and args.num_samples != 1:
        raise ValueError(f"--num-samples={args.num_samples} with --picture and --sound: the "
                         "reader's own files give one result (nothing in it is drawn at "
                         "random); drop --num-samples.")  # fmt: skip
    method = make_method("imprint", **{k: v for k, v in {
        "strength": args.strength, "vocoder": args.vocoder, "height": args.height,
        "width": args.width}.items() if v is not None})  # fmt: skip
    folders = sample_folders(args)
    if not (args.picture and args.sound):
        world = world_to_check(args)
        world.check_prompts(args.image_prompt, args.audio_prompt)
        Settings(height=args.height).check_canvas(world.canvas)
    if args.picture and args.sound:  # the reader's own files: no diffusion model at all
        result = imprint_files(args.picture, args.sound, seed=args.seed,
                               vocoder_model=args.audio_model, **method.settings)
        save(result, folders[0], args)
        return done(folders)
    check_device(args)
    world = world_from(args)
    mel, (height, width) = world.pipeline.audio_expert.mel, world.pipeline.canvas
    height, width = args.height or height, args.width or width
    own = {}
    if args.picture:
        own["picture"] = files.load_picture(args.picture, height, width, fill=1.0)
    if args.sound:
        own["sound"] = files.load_audio(args.sound, mel.sample_rate, mel.seconds(width))
    seeds = [args.seed + k for k in range(len(folders))]  # denoised together, one batch
    if own:
        results = imprint_many(world.pipeline, args.image_prompt, args.audio_prompt,
                               seeds=seeds, **own, **method.settings)  # fmt: skip
    else:
        results = method.run_many(world, args.image_prompt, args.audio_prompt, seeds)
    for result, folder in zip(results, folders, strict=True):
        save(result, folder, args)
    done(folders)


SDS_FLAGS = tuple(f.name for f in dataclasses.fields(SDSSettings) if f.metadata.get("flag"))


def run_sds(args: argparse.Namespace) -> None:
    settings = {k: getattr(args, k) for k in (*SDS_FLAGS, "height", "width", "vocoder")
                if getattr(args, k) is not None}  # fmt: skip
    method = make_method("sds", **settings)
    check_device(args)
    folders = sample_folders(args)
    unloaded = world_to_check(args)
    unloaded.check_prompts(args.image_prompt, args.audio_prompt)
    Settings(height=args.height).check_canvas(unloaded.canvas)
    world = world_from(args)
    image_expert = None
    if args.image_sds == "if":  # the paper's: pixel-space IF stage I on 8 random crops
        image_expert = load_if_expert(args.if_model, world.pipeline.audio_expert.device,
                                      world.pipeline.audio_expert.dtype)  # fmt: skip
    for k, folder in enumerate(folders):
        resolved = method.resolve(world, seed=args.seed + k)
        if image_expert is not None:
            resolved = dataclasses.replace(resolved, image_crops=8,
                                           crop_resize=image_expert.unet.config.sample_size)
        result = sds_baseline(world.pipeline, args.image_prompt, args.audio_prompt, resolved,
                              image_expert=image_expert, vocoder=args.vocoder)  # fmt: skip
        save(result, folder, args)
    done(folders)


def run_colorize(args: argparse.Namespace) -> None:
    folders = [Path(f) for f in args.folders]
    for folder in folders:
        if not (folder / "spectrogram.png").is_file():
            raise FileNotFoundError(f"{folder} is not a sample folder (no spectrogram.png).")
    check_device(args)
    colorizer = load_colorizer(args.stage1_model, args.stage2_model, device=args.device,
                               dtype=DTYPES[args.dtype],
                               offload=False if args.no_offload else None)  # fmt: skip
    for folder in folders:
        path = colorize_sample_folder(folder, image_prompt=args.prompt, video=args.video,
                                      colorizer=colorizer, steps=args.steps,
                                      guidance=args.guidance, start_step=args.start_step,
                                      seed=args.seed)  # fmt: skip
        print(path)


def run_sweep(args: argparse.Namespace) -> None:
    if args.seeds < 1:
        raise ValueError(f"--seeds={args.seeds} must be >= 1.")
    if args.pairs is not None and args.pairs < 1:
        raise ValueError(f"--pairs={args.pairs} must be >= 1 (or left out for all).")
    variants = sweep.make_variants(args.methods, sweep.parse_settings(args.set or []))
    check_device(args)
    index, count, barrier = sweep.distributed_state()
    if count > 1 and torch.cuda.is_available():
        args.device = args.device or f"cuda:{torch.cuda.current_device()}"
    out = ensure_writable_folder(out_folder(args), name="--out")
    unloaded = world_to_check(args)
    pairs = sweep.load_prompt_pairs(args.prompts, unloaded.examples)
    if args.pairs is not None and args.pairs > len(pairs):
        raise ValueError(f"--pairs={args.pairs} but {args.prompts} has {len(pairs)} pairs.")
    for image_prompt, audio_prompt in pairs[: args.pairs]:
        unloaded.check_prompts(image_prompt, audio_prompt)
    Settings(height=args.height).check_canvas(unloaded.canvas)
    world = world_from(args)
    jobs = sweep.make_jobs(variants, pairs[: args.pairs],
                           list(range(args.seed, args.seed + args.seeds)))  # fmt: skip
    judges = None if args.judges == "none" else world.load_judges(args.device)
    defaults = {k: v for k, v in {"vocoder": args.vocoder, "height": args.height,
                                  "width": args.width}.items() if v is not None}  # fmt: skip
    tic = time.perf_counter()
    made = sweep.run_sweep(world, jobs, out, defaults, judges, not args.no_samples,
                           index, count)  # fmt: skip
    print(f"[process {index + 1}/{count}] {len(made)} new samples in "
          f"{time.perf_counter() - tic:.0f} s")  # fmt: skip
    barrier()
    if index == 0:
        scale = judges.scale if judges is not None else 1.0
        rows, summary = sweep.write_table(out, jobs, scale)
        print(sweep.markdown(summary, scale))
        print(f"{len(rows)} of {len(jobs)} samples in {out / 'results.csv'}")


def run_evaluate(args: argparse.Namespace) -> None:
    mini = WORLDS["mini"]  # the tables are the miniature world's
    total = len(evaluate.class_pairs(mini.image_prompts, mini.audio_prompts))
    for flag, value, low, high in (("--seeds", args.seeds, 1, None),
                                   ("--pairs", args.pairs, 1, total),
                                   ("--sds-pairs", args.sds_pairs, 1, total),
                                   ("--steps", args.steps, 1, None),
                                   ("--sds-steps", args.sds_steps, 1, None)):  # fmt: skip
        if value is not None and (value < low or (high is not None and value > high)):
            bounds = f"in {low}..{high}" if high else f">= {low}"
            raise ValueError(f"{flag}={value} must be {bounds} (the miniature world has "
                             f"{total} class pairs).")  # fmt: skip
    if args.weights is not None and not Path(args.weights).is_dir():
        raise FileNotFoundError(f"--weights {args.weights!r} is not a folder of miniature "
                                "weights (python -m itslib train-mini --out DIR writes one).")
    tables = list(evaluate.TABLES) if args.table == "all" else [args.table]
    for table in tables:  # every row's settings, checked by its method before any work
        evaluate.table_jobs(table, [("", "")], 1, args.steps, args.guidance, args.sds_steps,
                            None, args.variants)  # fmt: skip
    if args.grid:
        Settings(steps=args.steps, image_guidance=args.guidance,
                 audio_guidance=args.guidance).check()  # fmt: skip
        grid = Path(args.grid)
        if grid.is_dir() or grid.suffix.lower() != ".png":
            raise ValueError(f"--grid={args.grid!r} must name a .png file to write.")
        ensure_writable_folder(grid.parent, name="--grid's folder")
    else:
        ensure_writable_folder(args.out, name="--out")
        ensure_writable_folder(args.work, name="--work")
    index, count, barrier = sweep.distributed_state()
    if count > 1:
        single_thread()  # torch and BLAS: two busy processes on two cores oversubscribe
    world = load_world("mini", mini_folder=args.weights)
    if args.grid:
        print(evaluate.joint_grid(world, Path(args.grid), args.steps, args.guidance))
        return
    plan = evaluate.QUICK_PLAN if args.table == "all" else evaluate.FULL_PLAN
    work = Path(args.work) / f"weights-{weights_id(args.weights)}"  # retrained: not reused
    start = time.perf_counter()
    for table in tables:
        rows = evaluate.evaluate(
            world, table, Path(args.out), work, seeds=args.seeds or plan["seeds"],
            steps=args.steps, guidance=args.guidance, sds_steps=args.sds_steps,
            pairs=args.pairs or plan["pairs"], sds_pairs=args.sds_pairs or plan["sds_pairs"],
            variants=args.variants, process_index=index, num_processes=count, barrier=barrier,
        )  # fmt: skip
        if index == 0:
            print(f"## {table} ({len(rows)} samples)\n")
            print((Path(args.out) / f"{table}.md").read_text())
    if index == 0 and "steps" in tables:
        summary = json.loads((Path(args.out) / "steps.json").read_text())["summary"]
        if "DDIM 100" in {line["variant"] for line in summary}:
            best = evaluate.cheapest_within(summary)
            print(f"cheapest within the intervals of DDIM 100: {best['variant']}, "
                  f"{best['evaluation_speedup']:.1f}x fewer UNet evaluations, "
                  f"{best['seconds_speedup']:.1f}x faster\n")  # fmt: skip
    print(f"{time.perf_counter() - start:.0f} s in all")


def run_train_mini(args: argparse.Namespace) -> None:
    command = "python -m itslib " + " ".join(args.argv)
    info = mini_train.train(args.out, args.seed, args.quick, args.stage, args.steps_scale,
                            args.weights, not args.no_export, args.threads, command)  # fmt: skip
    print(json.dumps(info, indent=2))


def run_export_web(args: argparse.Namespace) -> None:
    from itslib.web import export_web  # onnx export: only this command needs it

    manifest = export_web(args.out, weights=args.weights, overwrite=args.overwrite)
    print(f"{args.out}: {len(manifest['files'])} files, {manifest['total_bytes'] / 2**20:.1f} MB, "
          f"weights {manifest['weights_id']}")  # fmt: skip


def run_rehearse(args: argparse.Namespace) -> None:
    env = write_rehearsal(args.folder)
    if not args.quiet:
        print(f"# Random-weight copies of every real model, in the hub's layouts, under "
              f"{args.folder}.\n# Paste these lines into your shell (or eval \"$(python -m "
              f"itslib rehearse {args.folder} --quiet)\") to run the real world on them:")
    print(export_lines(env))


# --- the parser, one function per command ----------------------------------------------


def command(commands, name: str, run, help: str, description: str | None = None):
    p = commands.add_parser(name, help=help, description=description or help,
                            formatter_class=HelpFormatter)  # fmt: skip
    p.set_defaults(run=run)
    return p


def demo_parser(commands) -> None:
    p = command(commands, "demo", run_demo_command,
                "draw a sound as an Auffusion spectrogram and play it back (no models)")
    p.add_argument("--out", default="out/demo", help="folder to write the files into")
    p.add_argument("--sound", help="an audio file to use instead of the example")
    p.add_argument("--picture", help="also play this image file as a sound")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")


def generate_parser(commands) -> None:
    p = command(commands, "generate", run_generate,
                "make images that sound from an image prompt and an audio prompt",
                "Denoise one latent with an image and an audio diffusion model at once. Sample "
                "k goes to OUT/sample_{k:03d}/ with image.png, spectrogram.png, audio.wav, "
                "params.json. The defaults are the paper's.")  # fmt: skip
    add_prompts(p, required=False, note="; with neither prompt, the world's first example")
    add_settings_flags(p)
    p.add_argument("--init-picture", help="start from this picture file (with --strength)")
    p.add_argument("--init-sound", help="start from this recording (with --strength)")
    p.add_argument("--no-crop", action="store_true",
                   help="keep the right-edge 32/1024 of the width (the real world crops it)")
    p.add_argument("--save-latents", action="store_true", help="also write latents.npy")
    p.add_argument("--batch-size", type=int,
                   help="samples denoised together (default: up to 8)")  # fmt: skip
    p.add_argument("--keep", type=int, metavar="K",
                   help="score the --num-samples samples with the world's judges and keep the "
                   "K best by both scores (writes ranking.md)")  # fmt: skip
    add_output_flags(p)
    add_world_flags(p)


def imprint_parser(commands) -> None:
    p = command(commands, "imprint", run_imprint,
                "baseline: carve a picture into a spectrogram (generated or your own files)",
                "spectrogram * (1 - strength * (1 - gray picture)), then the vocoder. With "
                "--picture and --sound no model loads: the real 256 x 1024 canvas.")
    add_prompts(p, required=False)
    p.add_argument("--picture", help="your own picture file (instead of --image-prompt)")
    p.add_argument("--sound", help="your own recording (instead of --audio-prompt)")
    p.add_argument("--strength", type=float, help="how deep to carve, in [0, 1] (default: "
                   f"{IMPRINT_STRENGTH}, the paper's)")  # fmt: skip
    add_settings_flags(p, ["height", "width", "vocoder"])
    add_output_flags(p)
    add_world_flags(p)


def sds_parser(commands) -> None:
    p = command(commands, "sds", run_sds,
                "baseline: optimise a canvas with image and audio score distillation",
                "Defaults are the world's: the paper's 40,000 steps in the real world, 300 in "
                "the miniature one.")  # fmt: skip
    add_prompts(p)
    add_field_flags(p, SDSSettings, default=lambda name: "the world's: " + ", ".join(
        f"{getattr(w.sds, name):,g} {n}" for n, w in WORLDS.items()))
    add_settings_flags(p, ["height", "width", "vocoder"])
    p.add_argument("--image-sds", default="sd", choices=["sd", "if"],
                   help="sd: the image expert through its VAE (fits a free Colab GPU); if: "
                   "the paper's pixel-space DeepFloyd IF stage I on 8 crops (gated, bigger)")
    p.add_argument("--if-model", help=real_model_help("if_stage1", "IF stage I id or folder"))
    add_output_flags(p)
    add_world_flags(p)


def colorize_parser(commands) -> None:
    p = command(commands, "colorize", run_colorize,
                "colour a sample's spectrogram with DeepFloyd IF, keeping its grayscale (GPU)",
                "Factorized-diffusion colorization: writes color.png next to each sample; its "
                "channel mean equals the spectrogram, so it plays as the same sound. DeepFloyd "
                "IF is gated: accept its licence on the hub and log in first.")  # fmt: skip
    p.add_argument("folders", nargs="+", help="sample folders (with spectrogram.png)")
    p.add_argument("--prompt", help="image prompt (default: the one in the folder's params.json)")
    p.add_argument("--steps", type=int, default=default_of(colorize, "steps"),
                   help="stage I denoising steps")  # fmt: skip
    p.add_argument("--guidance", type=float, default=default_of(colorize, "guidance"),
                   help="CFG scale")  # fmt: skip
    p.add_argument("--start-step", type=int, default=default_of(colorize, "start_step"),
                   help="start at this step, in [0, steps)")  # fmt: skip
    p.add_argument("--seed", type=int, default=default_of(colorize, "seed"), help="noise seed")
    p.add_argument("--stage1-model", help=real_model_help("if_stage1", "IF stage I id or folder"))
    p.add_argument("--stage2-model", help=real_model_help("if_stage2", "IF stage II id or folder"))
    p.add_argument("--no-offload", action="store_true", help="keep IF on the GPU (big GPUs)")
    p.add_argument("--video", action="store_true", help="also write video_color.mp4")
    add_world_flags(p, models=False)


def sweep_parser(commands) -> None:
    p = command(commands, "sweep", run_sweep,
                "prompt pairs x seeds x methods x settings, scored, into one table (resumable)",
                "Writes OUT/samples/<variant>/sample_p<pair>_s<seed>/, OUT/rows/ and the merged "
                "OUT/results.csv and OUT/results.md; finished samples are skipped on a rerun. "
                "Split it over GPUs or processes with `accelerate launch --num_processes N -m "
                "itslib sweep ...`.")  # fmt: skip
    p.add_argument("--prompts", default="examples",
                   help=f"a prompt set ({', '.join(sweep.prompt_set_names())}) or a JSON file")
    p.add_argument("--pairs", type=int, help="only the first N prompt pairs (default: all)")
    p.add_argument("--methods", nargs="+", default=["joint"], choices=list(METHODS),
                   help="methods to compare")  # fmt: skip
    p.add_argument("--seeds", type=int, default=1, help="seeds per pair: --seed .. --seed+N-1")
    p.add_argument("--set", action="append", metavar="NAME=V1,V2",
                   help="a setting and its values, e.g. steps=25,50 or image_start=0,0.1; "
                   "repeat for a grid (names as in generate, with _)")  # fmt: skip
    p.add_argument("--judges", default="world", choices=["world", "none"],
                   help="world: its own (CLIP + CLAP, or the miniature judges)")
    p.add_argument("--no-samples", action="store_true", help="keep only the score rows")
    add_settings_flags(p, ["height", "width", "vocoder"])
    add_output_flags(p, samples=False)
    p.add_argument("--seed", type=int, default=0, help="the first seed")
    add_world_flags(p)


def evaluate_parser(commands) -> None:
    p = command(commands, "evaluate", run_evaluate,
                "the paper's tables in miniature: every class pair, scored by the judges",
                evaluate.__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--table", choices=[*evaluate.TABLES, "all"], default="all",
                   help="all: the three tables with the 15-minute plan")
    p.add_argument("--variants", nargs="+", help="only these rows of the table(s)")
    p.add_argument("--seeds", type=int, help="seeds per class pair (default: 1)")
    p.add_argument("--pairs", type=int,
                   help="a balanced prefix of the 64 class pairs (default: 16 for all, else 64)")
    p.add_argument("--sds-pairs", type=int, help="SDS on only the first N pairs (default: 4 or 8)")
    p.add_argument("--steps", type=int, default=default_of(evaluate.evaluate, "steps"),
                   help="DDIM steps per sample")  # fmt: skip
    p.add_argument("--guidance", type=float, default=default_of(evaluate.evaluate, "guidance"),
                   help="both guidance scales of the rows that set none (the joint rows keep "
                   "the paper's 10, the guidance rows their own; see itslib/evaluate.py)")
    p.add_argument("--sds-steps", type=int, default=default_of(evaluate.evaluate, "sds_steps"),
                   help="SDS optimisation steps")  # fmt: skip
    p.add_argument("--weights", help="a folder of miniature weights (default: the shipped ones)")
    p.add_argument("--out", default="itslib/mini/results", help="where the tables go")
    p.add_argument("--work", default="out/evaluate",
                   help="samples' score rows (to resume), one folder per set of weights")
    p.add_argument("--grid", metavar="PNG", help="instead: one joint sample per class pair")


def rehearse_parser(commands) -> None:
    p = command(commands, "rehearse", run_rehearse,
                "write random-weight copies of every real model, print the exports that use them",
                "Writes SD 1.5, Auffusion (with its vocoder), CLIP, CLAP and DeepFloyd IF stage "
                "I/II, tiny and with random weights, each in its hub repository's layout, under "
                "FOLDER; prints the ITSLIB_* export lines that point the real world at them "
                "(and cap SDS's loop). CI runs every chapter's Colab path on them.")
    p.add_argument("folder", help="where to write the models (reused if already complete)")
    p.add_argument("--quiet", action="store_true", help="print only the export lines")


def export_web_parser(commands) -> None:
    p = command(commands, "export-web", run_export_web,
                "write the miniature world's browser bundle (ONNX graphs, constants, manifest)",
                "Writes OUT/: the experts and the decoder as ONNX graphs, the scheduler's "
                "constants, class names, spectrogram settings, defaults and ranges from "
                "itslib.settings, and manifest.json with each file's hash and the weights' id. "
                "Deterministic; the book build runs it.")  # fmt: skip
    p.add_argument("out", help="the bundle's folder (replaced whole with --overwrite)")
    p.add_argument("--weights", help="a folder of miniature weights (default: "
                   "$ITSLIB_MINI_WEIGHTS if set, else the shipped ones)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")


def train_mini_parser(commands) -> None:
    p = command(commands, "train-mini", run_train_mini,
                "train the miniature world from scratch (resumable, seeded)",
                mini_train.__doc__.split("\n\n")[0])  # fmt: skip
    p.add_argument("--out", required=True, help="run folder: checkpoints, data, log")
    p.add_argument("--seed", type=int, default=0, help="draws every dataset and step")
    p.add_argument("--quick", action="store_true", help="a few steps of every stage")
    p.add_argument("--stage", choices=mini_train.STAGES, action="append", help="only these")
    p.add_argument("--steps-scale", type=float, default=1.0,
                   help="multiply every stage's step count (train longer on a faster machine)")
    p.add_argument("--weights", help="export folder (default: OUT/weights; name "
                   "itslib/mini/weights to replace the shipped weights)")
    p.add_argument("--no-export", action="store_true", help="skip the export")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1: the Griffin-Lim worker uses the second core)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="itslib", formatter_class=HelpFormatter,
        description="Images that sound: spectrograms that look like a picture and sound "
        "like a sound (Chen, Geng, Owens 2024).",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (demo_parser, generate_parser, imprint_parser, sds_parser, colorize_parser,
                sweep_parser, evaluate_parser, rehearse_parser, export_web_parser,
                train_mini_parser):  # fmt: skip
        add(commands)
    return parser


RESUMABLE = ("sweep", "evaluate", "train-mini")  # they skip what an earlier run finished


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (2 with a one-line message on bad input)."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"itslib {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = " (run the same command again to resume)" if args.command in RESUMABLE else ""
        print(f"itslib {args.command}: interrupted; what was finished is kept{again}, and "
              "nothing is left half-written.", file=sys.stderr)  # fmt: skip
        return 130  # 128 + SIGINT, as a shell reports Ctrl-C
    return 0


if __name__ == "__main__":
    sys.exit(main())
