"""The paper's tables, in miniature: does the joint sampler find the intersection?

For every (picture class, sound class) pair and several seeds, each *variant* (a
method with its settings) makes a sample and the miniature judges score it: the
picture judge looks at the spectrogram picture, the sound judge *listens*
(Griffin-Lim waveform -> log-mel). A sample is accepted by a judge when it gives
the prompted class p >= 0.5. Tables:

- ``table1``: image-only, audio-only, imprint, SDS, joint (the paper's Table 1);
- ``table3``: warm-start variants and guidance scales (the paper's Table 3);
- ``steps``: DDIM at 100/50/25 steps and DPM-Solver++ at 25/15 steps.

    python -m itslib.evaluate --table table1 --seeds 2 --out itslib/mini/results

writes ``<table>.json`` (per-sample rows and the summary) and ``<table>.md``, which
the book reads. Resumable: rows already in the JSON are skipped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

from tqdm.auto import tqdm

from itslib._io import atomic_path
from itslib.baselines import SDSSettings, imprint_baseline, sds_baseline
from itslib.metrics import MiniJudge, mean_ci
from itslib.pipeline import ImagesThatSound

# variant label -> (method, settings). "joint" settings are ImagesThatSound keywords.
TABLES: dict[str, dict[str, tuple[str, dict]]] = {
    "table1": {
        "image-only": ("joint", {"audio_weight": 0.0, "image_start": 0.0}),
        "audio-only": ("joint", {"audio_weight": 1.0}),
        "imprint": ("imprint", {}),
        "sds": ("sds", {}),
        "joint": ("joint", {}),
    },
    "table3": {
        "no warm start": ("joint", {"image_start": 0.0}),
        "audio first 10%": ("joint", {"image_start": 0.1}),
        "audio first 20%": ("joint", {"image_start": 0.2}),
        "image first 10%": ("joint", {"image_start": 0.0, "audio_start": 0.1}),
        "guidance 3": ("joint", {"image_guidance": 3.0, "audio_guidance": 3.0}),
        "guidance 5": ("joint", {"image_guidance": 5.0, "audio_guidance": 5.0}),
        "guidance 10": ("joint", {"image_guidance": 10.0, "audio_guidance": 10.0}),
    },
    "steps": {
        "DDIM 100": ("joint", {"steps": 100}),
        "DDIM 50": ("joint", {"steps": 50}),
        "DDIM 25": ("joint", {"steps": 25}),
        "DPM-Solver++ 25": ("joint", {"steps": 25, "scheduler": "dpm++"}),
        "DPM-Solver++ 15": ("joint", {"steps": 15, "scheduler": "dpm++"}),
    },
}


def run_variant(pipe: ImagesThatSound, method: str, overrides: dict, image: str, sound: str,
                seed: int, steps: int, guidance: float, sds_steps: int) -> dict:  # fmt: skip
    """One sample; returns its spectrogram (H, W), waveform, seconds and UNet evaluations."""
    common = dict(steps=steps, image_guidance=guidance, audio_guidance=guidance) | overrides
    if method == "joint":
        (result,) = pipe(image, sound, seed=seed, progress=False, vocoder="griffin-lim", **common)
    elif method == "imprint":
        result = imprint_baseline(pipe, image, sound, image_steps=common["steps"],
                                  audio_steps=common["steps"], seed=seed,
                                  image_guidance=common["image_guidance"],
                                  audio_guidance=common["audio_guidance"],
                                  vocoder="griffin-lim")  # fmt: skip
        result.params["unet_evaluations"] = 4 * common["steps"]
    elif method == "sds":
        settings = SDSSettings(steps=sds_steps, audio_only_steps=sds_steps // 8, lr=1e-2,
                               image_guidance=common["image_guidance"],
                               audio_guidance=common["audio_guidance"], seed=seed)  # fmt: skip
        result = sds_baseline(pipe, image, sound, settings, vocoder="griffin-lim",
                              progress=False)  # fmt: skip
        result.params["unet_evaluations"] = 2 * (2 * sds_steps - settings.audio_only_steps)
    else:
        raise ValueError(f"method={method!r} must be joint, imprint or sds.")
    return {"spectrogram": result.spectrogram, "waveform": result.waveform,
            "seconds": result.params["seconds"],
            "unet_evaluations": result.params["unet_evaluations"]}  # fmt: skip


def summarise(rows: list[dict], variants: list[str]) -> list[dict]:
    """Per variant: mean picture/sound scores, share both judges accept, seconds and UNet
    evaluations per sample, each mean with its 95% interval half-width."""
    summary = []
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        if not mine:
            continue
        line = {"variant": variant, "n": len(mine)}
        for key in ("picture", "sound", "both", "seconds", "unet_evaluations"):
            mean, half = mean_ci([r[key] for r in mine]) if len(mine) > 1 else (mine[0][key], 0)
            line[key], line[f"{key}_ci"] = round(mean, 4), round(half, 4)
        summary.append(line)
    return summary


def markdown(summary: list[dict]) -> str:
    lines = ["| variant | picture judge p | sound judge p (listening) | both accept "
             "| UNet evals | s / sample |", "|---|---|---|---|---|---|"]  # fmt: skip
    for s in summary:
        lines.append(
            f"| {s['variant']} | {s['picture']:.2f} ± {s['picture_ci']:.2f} "
            f"| {s['sound']:.2f} ± {s['sound_ci']:.2f} | {s['both']:.2f} ± {s['both_ci']:.2f} "
            f"| {s['unet_evaluations']:.0f} | {s['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def evaluate(pipe: ImagesThatSound, judge: MiniJudge, out: Path, table: str, seeds: int,
             steps: int, guidance: float, sds_steps: int, variants: list[str] | None = None,
             pairs: int | None = None) -> list[dict]:  # fmt: skip
    """Run (or resume) one table's grid; writes ``<table>.json`` / ``<table>.md`` into ``out``."""
    chosen = variants or list(TABLES[table])
    unknown = sorted(set(chosen) - set(TABLES[table]))
    if unknown:
        raise ValueError(f"variants {unknown} are not in {table}: {', '.join(TABLES[table])}.")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{table}.json"
    rows = json.loads(path.read_text())["rows"] if path.exists() else []
    done = {(r["variant"], r["image_class"], r["sound_class"], r["seed"]) for r in rows}
    pictures = pipe.image_expert.prompt_encoder.class_names
    sounds = pipe.audio_expert.prompt_encoder.class_names
    all_pairs = list(itertools.product(pictures, sounds))[:pairs]
    grid = [(v, i, s, k) for (i, s), k, v in itertools.product(all_pairs, range(seeds), chosen)
            if (v, i, s, k) not in done]  # fmt: skip
    settings = {"table": table, "seeds": seeds, "steps": steps, "guidance": guidance,
                "sds_steps": sds_steps, "pairs": len(all_pairs), "world": pipe.world,
                "defaults": "DDIM, image_start 0.1, audio_weight 0.5, Griffin-Lim"}  # fmt: skip
    every = list(TABLES[table])
    for n, (variant, image, sound, seed) in enumerate(tqdm(grid, desc=table)):
        method, overrides = TABLES[table][variant]
        made = run_variant(pipe, method, overrides, image, sound, seed, steps, guidance,
                           sds_steps)  # fmt: skip
        p = float(judge.score_pictures(made["spectrogram"][None], [image])[0]) / 100
        rate = pipe.audio_expert.mel.sample_rate
        q = float(judge.score_sounds(made["waveform"][None], rate, [sound])[0]) / 100
        rows.append({"variant": variant, "image_class": image, "sound_class": sound,
                     "seed": seed, "picture": p, "sound": q, "both": float(p >= 0.5 and q >= 0.5),
                     "seconds": made["seconds"],
                     "unet_evaluations": made["unet_evaluations"]})  # fmt: skip
        if n % 16 == 15:
            write(out, table, rows, settings, every)
    write(out, table, rows, settings, every)
    return rows


def write(out: Path, table: str, rows: list[dict], settings: dict, variants: list[str]) -> None:
    summary = summarise(rows, variants)
    with atomic_path(out / f"{table}.json") as tmp:
        tmp.write_text(json.dumps({"settings": settings, "summary": summary, "rows": rows},
                                  indent=1) + "\n")  # fmt: skip
    with atomic_path(out / f"{table}.md") as tmp:
        tmp.write_text(markdown(summary))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=sorted(TABLES), default="table1")
    parser.add_argument("--variants", nargs="+", default=None, help="only these rows")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per class pair")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps per sample")
    parser.add_argument("--guidance", type=float, default=7.5, help="both guidance scales")
    parser.add_argument("--sds-steps", type=int, default=200, help="SDS optimisation steps")
    parser.add_argument("--pairs", type=int, default=None, help="only the first N class pairs")
    parser.add_argument("--weights", default=None, help="miniature weights folder")
    parser.add_argument("--out", default="itslib/mini/results", help="where the tables go")
    args = parser.parse_args(argv)
    from itslib.worlds import mini_pipeline

    start = time.perf_counter()
    pipe = mini_pipeline(args.weights)
    judge = MiniJudge.shipped(args.weights)
    rows = evaluate(pipe, judge, Path(args.out), args.table, args.seeds, args.steps,
                    args.guidance, args.sds_steps, args.variants, args.pairs)  # fmt: skip
    print(markdown(summarise(rows, list(TABLES[args.table]))))
    print(f"{len(rows)} samples, {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
