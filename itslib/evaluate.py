"""The paper's Table 1, in miniature: does the joint sampler find the intersection?

For every (picture class, sound class) pair and several seeds, each method makes a
sample and the miniature judges score it: the picture judge looks at the
spectrogram picture, the sound judge *listens* (Griffin-Lim waveform -> log-mel).
A sample is accepted by a judge when it gives the prompted class p >= 0.5.

    python -m itslib.evaluate --seeds 2 --steps 50 --out itslib/mini/results

writes ``table1.json`` (per-sample rows and the summary) and ``table1.md``, which
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

METHODS = ("image-only", "audio-only", "imprint", "sds", "joint")


def run_method(pipe: ImagesThatSound, method: str, image: str, sound: str, seed: int,
               steps: int, guidance: float, sds_steps: int, **joint):  # fmt: skip
    """One sample of ``method`` for the pair; returns (spectrogram (H, W), waveform)."""
    common = dict(steps=steps, seed=seed, progress=False, vocoder="griffin-lim",
                  image_guidance=guidance, audio_guidance=guidance)  # fmt: skip
    if method == "joint":
        (result,) = pipe(image, sound, **common, **joint)
    elif method == "image-only":
        (result,) = pipe(image, sound, **common, audio_weight=0.0, image_start=0.0)
    elif method == "audio-only":
        (result,) = pipe(image, sound, **common, audio_weight=1.0)
    elif method == "imprint":
        result = imprint_baseline(pipe, image, sound, image_steps=steps, audio_steps=steps,
                                  image_guidance=guidance, audio_guidance=guidance, seed=seed,
                                  vocoder="griffin-lim")  # fmt: skip
    elif method == "sds":
        settings = SDSSettings(steps=sds_steps, audio_only_steps=sds_steps // 8, lr=1e-2,
                               image_guidance=guidance, audio_guidance=guidance,
                               seed=seed)  # fmt: skip
        result = sds_baseline(pipe, image, sound, settings, vocoder="griffin-lim",
                              progress=False)  # fmt: skip
    else:
        raise ValueError(f"method={method!r} must be one of {', '.join(METHODS)}.")
    return result.spectrogram, result.waveform, result.params["seconds"]


def summarise(rows: list[dict]) -> list[dict]:
    """Per method: mean picture/sound scores and the share both judges accept, with 95% CIs."""
    summary = []
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        line = {"method": method, "n": len(mine)}
        for key in ("picture", "sound", "both", "seconds"):
            mean, half = mean_ci([r[key] for r in mine])
            line[key] = round(mean, 4)
            line[f"{key}_ci"] = round(half, 4)
        summary.append(line)
    return summary


def markdown(summary: list[dict]) -> str:
    lines = ["| method | picture judge p | sound judge p (listening) | both accept | s / sample |",
             "|---|---|---|---|---|"]  # fmt: skip
    for s in summary:
        lines.append(
            f"| {s['method']} | {s['picture']:.2f} ± {s['picture_ci']:.2f} "
            f"| {s['sound']:.2f} ± {s['sound_ci']:.2f} | {s['both']:.2f} ± {s['both_ci']:.2f} "
            f"| {s['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def evaluate(pipe: ImagesThatSound, judge: MiniJudge, out: Path, seeds: int, steps: int,
             guidance: float, methods: list[str], sds_steps: int,
             pairs: int | None = None) -> list[dict]:  # fmt: skip
    """Run (or resume) the grid and write ``table1.json`` / ``table1.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "table1.json"
    rows = json.loads(path.read_text())["rows"] if path.exists() else []
    done = {(r["method"], r["image_class"], r["sound_class"], r["seed"]) for r in rows}
    pictures = pipe.image_expert.prompt_encoder.class_names
    sounds = pipe.audio_expert.prompt_encoder.class_names
    all_pairs = list(itertools.product(pictures, sounds))[:pairs]
    grid = [(m, i, s, k) for (i, s), k, m in itertools.product(all_pairs, range(seeds), methods)
            if (m, i, s, k) not in done]  # fmt: skip
    settings = {"seeds": seeds, "steps": steps, "guidance": guidance, "sds_steps": sds_steps,
                "scheduler": "ddim", "image_start": 0.1, "audio_weight": 0.5,
                "vocoder": "griffin-lim", "world": pipe.world}  # fmt: skip
    for n, (method, image, sound, seed) in enumerate(tqdm(grid, desc="table 1")):
        spectrogram, waveform, seconds = run_method(pipe, method, image, sound, seed, steps,
                                                    guidance, sds_steps)  # fmt: skip
        p = float(judge.score_pictures(spectrogram[None], [image])[0]) / 100
        q = float(judge.score_sounds(waveform[None], pipe.audio_expert.mel.sample_rate,
                                     [sound])[0]) / 100  # fmt: skip
        rows.append({"method": method, "image_class": image, "sound_class": sound, "seed": seed,
                     "picture": p, "sound": q, "both": float(p >= 0.5 and q >= 0.5),
                     "seconds": seconds})  # fmt: skip
        if n % 16 == 15 or n == len(grid) - 1:
            write(path, out, rows, settings)
    write(path, out, rows, settings)
    return rows


def write(path: Path, out: Path, rows: list[dict], settings: dict) -> None:
    summary = summarise(rows)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps({"settings": settings, "summary": summary, "rows": rows},
                                  indent=1) + "\n")  # fmt: skip
    with atomic_path(out / "table1.md") as tmp:
        tmp.write_text(markdown(summary))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per class pair")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps per sample")
    parser.add_argument("--guidance", type=float, default=7.5, help="both guidance scales")
    parser.add_argument("--sds-steps", type=int, default=200, help="SDS optimisation steps")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--pairs", type=int, default=None, help="only the first N class pairs")
    parser.add_argument("--weights", default=None, help="miniature weights folder")
    parser.add_argument("--out", default="itslib/mini/results", help="where table1.* go")
    args = parser.parse_args(argv)
    from itslib.worlds import mini_pipeline

    start = time.perf_counter()
    pipe = mini_pipeline(args.weights)
    judge = MiniJudge.shipped(args.weights)
    rows = evaluate(pipe, judge, Path(args.out), args.seeds, args.steps, args.guidance,
                    args.methods, args.sds_steps, args.pairs)  # fmt: skip
    print(markdown(summarise(rows)))
    print(f"{len(rows)} samples, {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
