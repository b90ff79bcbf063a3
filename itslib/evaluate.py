"""The paper's tables, in miniature: does the joint sampler find the intersection?

For (picture class, sound class) pairs and seeds, each *variant* (a method with its
settings) makes a sample and the miniature judges score it: the picture judge looks
at the spectrogram picture, the sound judge *listens* (Griffin-Lim waveform ->
log-mel). A sample is accepted by a judge when it gives the prompted class p >= 0.5.

- ``table1``: image-only, audio-only, imprint, SDS, joint (the paper's Table 1);
- ``table3``: warm-start variants and guidance scales (the paper's Table 3);
- ``steps``: DDIM at 100/50/25 steps and DPM-Solver++ at 25/15 steps.

    python -m itslib evaluate --table all            # all three, about 15 min on 2 cores
    python -m itslib evaluate --table table1 --pairs 64 --seeds 3
    accelerate launch --num_processes 2 -m itslib evaluate ...   # two processes

writes ``<table>.json`` (settings, summary, per-sample rows) and ``<table>.md`` into
``--out`` (the book reads them from ``itslib/mini/results``). The samples are a
:mod:`itslib.sweep` in ``--work``, so an interrupted run resumes; several processes
(``accelerate launch``) share the grid the same way a sweep's do.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from itslib._io import atomic_path
from itslib.settings import DEFAULTS
from itslib.sweep import Job, Variant, collect_rows, make_jobs, markdown, run_sweep, summarise
from itslib.worlds import World

# variant label -> (method, settings); the sweep's methods and Settings keywords.
TABLES: dict[str, dict[str, tuple[str, dict]]] = {
    "table1": {
        "image-only": ("image-only", {}),
        "audio-only": ("audio-only", {}),
        "imprint": ("imprint", {}),
        "sds": ("sds", {}),
        # the paper's joint sampler uses guidance 10 for both experts (the baselines 7.5)
        "joint": ("joint", {"image_guidance": 10.0, "audio_guidance": 10.0}),
        # Table 3 in miniature finds higher guidance better still: the same at 15
        "joint, guidance 15": ("joint", {"image_guidance": 15.0, "audio_guidance": 15.0}),
        "imprint, guidance 15": ("imprint", {"image_guidance": 15.0, "audio_guidance": 15.0}),
    },
    "table3": {
        "no warm start": ("joint", {"image_start": 0.0}),
        "audio first 10%": ("joint", {"image_start": 0.1}),
        "audio first 20%": ("joint", {"image_start": 0.2}),
        "image first 10%": ("joint", {"image_start": 0.0, "audio_start": 0.1}),
        "guidance 3": ("joint", {"image_guidance": 3.0, "audio_guidance": 3.0}),
        "guidance 5": ("joint", {"image_guidance": 5.0, "audio_guidance": 5.0}),
        "guidance 10": ("joint", {"image_guidance": 10.0, "audio_guidance": 10.0}),
        "guidance 15": ("joint", {"image_guidance": 15.0, "audio_guidance": 15.0}),
    },
    "steps": {
        "DDIM 100": ("joint", {"steps": 100}),
        "DDIM 50": ("joint", {"steps": 50}),
        "DDIM 25": ("joint", {"steps": 25}),
        "DPM-Solver++ 25": ("joint", {"steps": 25, "scheduler": "dpm++"}),
        "DPM-Solver++ 15": ("joint", {"steps": 15, "scheduler": "dpm++"}),
    },
}
# ``--table all``: sized to take about 15 minutes on a 2-core CPU with 2 processes.
QUICK_PLAN = {"pairs": 16, "seeds": 1, "sds_pairs": 4}
# one table (``--table table1``, ...): all 64 class pairs, SDS on the first 8
FULL_PLAN = {"pairs": None, "seeds": 1, "sds_pairs": 8}


def class_pairs(pictures: Sequence[str], sounds: Sequence[str]) -> list[tuple[str, str]]:
    """Every picture class with every sound class, ordered by diagonals, so that any
    prefix of ``len(pictures)`` x k pairs holds every class k times."""
    n = len(pictures)
    return [(pictures[i], sounds[(i + d) % len(sounds)]) for d in range(len(sounds))
            for i in range(n)]  # fmt: skip


def check_variants(table: str, variants: list[str] | None) -> None:
    """A ``ValueError`` naming the table's rows if ``variants`` names one it lacks."""
    if table not in TABLES:
        raise ValueError(f"table={table!r} must be one of {', '.join(TABLES)}.")
    unknown = sorted(set(variants or []) - set(TABLES[table]))
    if unknown:
        raise ValueError(f"variants {unknown} are not in {table}: {', '.join(TABLES[table])}.")


def table_jobs(table: str, pairs: list[tuple[str, str]], seeds: int, steps: int,
               guidance: float, sds_steps: int, sds_pairs: int | None,
               variants: list[str] | None = None) -> list[Job]:  # fmt: skip
    """The grid of one table; SDS (slow) runs on only the first ``sds_pairs`` pairs."""
    check_variants(table, variants)
    chosen = [v for v in TABLES[table] if not variants or v in variants]  # the table's order
    jobs = []
    for label in chosen:
        method, overrides = TABLES[table][label]
        base = {"steps": sds_steps if method == "sds" else steps,
                "image_guidance": guidance, "audio_guidance": guidance}  # fmt: skip
        variant = Variant(method, base | overrides, label=label)
        mine = pairs[:sds_pairs] if method == "sds" and sds_pairs else pairs
        jobs += make_jobs([variant], mine, list(range(seeds)))
    return sorted(jobs, key=lambda j: (j.pair, j.seed, chosen.index(j.variant.name)))


def meetings(rows: list[dict], variant: str) -> dict[str, dict[str, tuple[str, float]]]:
    """For each picture class and each sound class, the partner with which ``variant``'s
    samples are most often accepted by both judges (ties: the higher mean score), and
    that share over seeds (rows without judges are left out):
    ``{"picture": {class: (sound, share)}, "sound": {class: (picture, share)}}``."""
    scored: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for row in rows:
        if row["variant"] == variant and not math.isnan(row["both_accept"]):
            scored.setdefault((row["image_prompt"], row["audio_prompt"]), []).append(
                (row["both_accept"], row["picture_score"] + row["sound_score"])
            )
    # mean share, ties broken by the mean of both judges' scores
    mean = {pair: tuple(sum(c) / len(v) for c in zip(*v, strict=True))
            for pair, v in scored.items()}  # fmt: skip
    best: dict[str, dict[str, tuple[str, float]]] = {"picture": {}, "sound": {}}
    for (picture, sound), (share, _) in sorted(mean.items(), key=lambda kv: kv[1], reverse=True):
        best["picture"].setdefault(picture, (sound, share))
        best["sound"].setdefault(sound, (picture, share))
    return best


def meetings_markdown(rows: list[dict], variant: str) -> str:
    """The :func:`meetings` of ``variant`` as two markdown tables."""
    best = meetings(rows, variant)
    lines = [f"\nEach class's best partner under {variant} (share both judges accept):\n"]
    for side, other in (("picture", "sound"), ("sound", "picture")):
        lines += [f"| {side} class | best {other} partner | both accept |", "|---|---|---|"]
        lines += [f"| {name} | {partner} | {share:.2f} |"
                  for name, (partner, share) in best[side].items()]  # fmt: skip
        lines.append("")
    return "\n".join(lines)


def write(out: Path, table: str, jobs: list[Job], work: Path, settings: dict,
          scale: float) -> list[dict]:  # fmt: skip
    """Merge the table's rows into ``out/<table>.json`` and ``out/<table>.md``, each score
    divided by the judges' ``scale`` (the miniature judges' p x 100 -> p in [0, 1])."""
    rows = [
        r | {"picture_score": r["picture_score"] / scale, "sound_score": r["sound_score"] / scale}
        for r in collect_rows(work, jobs)
    ]
    summary = summarise(rows, list(dict.fromkeys(j.variant.name for j in jobs)))
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"{table}.json") as tmp:
        tmp.write_text(json.dumps({"settings": settings, "summary": summary, "rows": rows},
                                  indent=1) + "\n")  # fmt: skip
    joint = [j.variant.name for j in jobs if j.variant.method == "joint"]
    extra = meetings_markdown(rows, joint[0]) if table == "table1" and joint else ""
    with atomic_path(out / f"{table}.md") as tmp:
        tmp.write_text(markdown(summary) + extra)
    return rows


def evaluate(world: World, table: str, out: Path, work: Path, seeds: int = 1,
             steps: int = 25, guidance: float = 7.5, sds_steps: int = 100,
             pairs: int | None = None, sds_pairs: int | None = None,
             variants: list[str] | None = None, process_index: int = 0, num_processes: int = 1,
             barrier: Callable[[], None] = lambda: None) -> list[dict]:  # fmt: skip
    """Run (or resume) this process's share of one table in the miniature ``world``; the
    first process then merges it. Returns the rows (scores as p in [0, 1])."""
    grid = class_pairs(world.image_prompts, world.audio_prompts)[:pairs]
    jobs = table_jobs(table, grid, seeds, steps, guidance, sds_steps, sds_pairs, variants)
    tic = time.perf_counter()
    judges = world.load_judges()
    run_sweep(world, jobs, work / table, {"vocoder": "griffin-lim"}, judges,
              save_samples=False, process_index=process_index, num_processes=num_processes,
              progress=process_index == 0)  # fmt: skip
    barrier()
    settings = {"table": table, "pairs": len(grid), "seeds": seeds, "steps": steps,
                "guidance": guidance, "sds_steps": sds_steps,
                "sds_pairs": min(sds_pairs or len(grid), len(grid)), "processes": num_processes,
                "world": world.name, "wall_seconds": round(time.perf_counter() - tic, 1),
                "defaults": f"{DEFAULTS.scheduler.upper()}, image_start {DEFAULTS.image_start}, "
                            f"audio_weight {DEFAULTS.audio_weight}, Griffin-Lim"}  # fmt: skip
    if process_index != 0:
        return []
    return write(out, table, jobs, work / table, settings, judges.scale)


def cheapest_within(summary: list[dict], reference: str = "DDIM 100") -> dict:
    """The variant with the fewest UNet evaluations whose picture score, sound score and
    share both accept all lie within the 95% intervals of ``reference``, and its speed-up
    over it in evaluations and in seconds."""
    rows = {line["variant"]: line for line in summary}
    if reference not in rows:
        raise ValueError(f"reference={reference!r} is not in the summary: {', '.join(rows)}.")
    ref = rows[reference]
    keys = ("picture_score", "sound_score", "both_accept")

    def within(line: dict) -> bool:
        return all(abs(line[k] - ref[k]) <= ref[f"{k}_ci"] for k in keys)

    best = min((line for line in summary if within(line)), key=lambda x: x["unet_evaluations"])
    return {"variant": best["variant"], "reference": reference,
            "evaluation_speedup": ref["unet_evaluations"] / best["unet_evaluations"],
            "seconds_speedup": ref["seconds"] / best["seconds"]}  # fmt: skip


def joint_grid(world: World, path: Path, steps: int = 25, guidance: float = 7.5,
               seed: int = 0) -> Path:  # fmt: skip
    """One joint sample per (picture class, sound class) pair of the miniature ``world``,
    tiled into a PNG: rows are picture classes, columns sound classes, each tile the
    spectrogram picture."""
    import matplotlib.pyplot as plt  # heavy: only for the grid

    pipe, pictures, sounds = world.pipeline, world.image_prompts, world.audio_prompts
    fig, axes = plt.subplots(len(pictures), len(sounds),
                             figsize=(2.2 * len(sounds), 0.75 * len(pictures)))  # fmt: skip
    for (i, picture), (j, sound) in itertools.product(enumerate(pictures), enumerate(sounds)):
        (result,) = pipe(
            picture,
            sound,
            seed=seed,
            steps=steps,
            image_guidance=guidance,
            audio_guidance=guidance,
            vocoder="griffin-lim",
            progress=False,
        )
        ax = axes[i, j]
        ax.imshow(result.spectrogram, cmap="gray", vmin=0, vmax=1, aspect="auto",
                  origin="upper", interpolation="nearest")  # fmt: skip
        ax.set_xticks([]), ax.set_yticks([])
        if j == 0:
            ax.set_ylabel(picture, rotation=0, ha="right", va="center", fontsize=8)
        if i == 0:
            ax.set_title(sound, fontsize=8)
    fig.suptitle(f"miniature joint samples (DDIM {steps}, guidance {guidance}, seed {seed}): "
                 "rows picture prompt, columns sound prompt", fontsize=9)  # fmt: skip
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
