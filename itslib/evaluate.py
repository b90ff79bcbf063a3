"""The paper's tables, in miniature: does the joint sampler find the intersection?

For (picture class, sound class) pairs and seeds, each *variant* (a method with its
settings) makes a sample and the miniature judges score it: the picture judge looks
at the spectrogram picture, the sound judge *listens* (Griffin-Lim waveform ->
log-mel). A sample is accepted by a judge when it gives the prompted class p >= 0.5.

- ``table1``: image-only, audio-only, imprint, SDS, joint (the paper's Table 1);
- ``table3``: warm-start variants and guidance scales (the paper's Table 3);
- ``steps``: DDIM at 100/50/25 steps and DPM-Solver++ at 25/15 steps.

    python -m itslib.evaluate --table all            # all three, about 15 min on 2 cores
    python -m itslib.evaluate --table table1 --pairs 64 --seeds 3

writes ``<table>.json`` (settings, summary, per-sample rows) and ``<table>.md`` into
``--out`` (the book reads them from ``itslib/mini/results``). The samples are a
:mod:`itslib.sweep` in ``--work``, so an interrupted run resumes, and ``--workers 2``
runs two single-threaded processes side by side.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

from itslib._io import atomic_path
from itslib.sweep import Job, Variant, make_jobs, markdown, run_sweep, summarise

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
# ``--table all``: sized to take about 15 minutes on a 2-core CPU with 2 workers.
QUICK_PLAN = {"pairs": 16, "seeds": 1, "sds_pairs": 4}


def class_pairs(pictures: tuple[str, ...], sounds: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every picture class with every sound class, ordered by diagonals, so that any
    prefix of ``len(pictures)`` x k pairs holds every class k times."""
    n = len(pictures)
    return [(pictures[i], sounds[(i + d) % len(sounds)]) for d in range(len(sounds))
            for i in range(n)]  # fmt: skip


def table_jobs(table: str, pairs: list[tuple[str, str]], seeds: int, steps: int,
               guidance: float, sds_steps: int, sds_pairs: int | None,
               variants: list[str] | None = None) -> list[Job]:  # fmt: skip
    """The grid of one table; SDS (slow) runs on only the first ``sds_pairs`` pairs."""
    unknown = sorted(set(variants or []) - set(TABLES[table]))
    if unknown:
        raise ValueError(f"variants {unknown} are not in {table}: {', '.join(TABLES[table])}.")
    chosen = [v for v in TABLES[table] if not variants or v in variants]  # the table's order
    base = {"steps": steps, "image_guidance": guidance, "audio_guidance": guidance,
            "sds_steps": sds_steps}  # fmt: skip
    jobs = []
    for label in chosen:
        method, overrides = TABLES[table][label]
        variant = Variant(method, base | overrides, label=label)
        mine = pairs[:sds_pairs] if method == "sds" and sds_pairs else pairs
        jobs += make_jobs([variant], mine, list(range(seeds)))
    return sorted(jobs, key=lambda j: (j.pair, j.seed, chosen.index(j.variant.name)))


def _worker(args: tuple) -> int:
    """One single-threaded process's share of the grid (for ``--workers``)."""
    weights, jobs, work, index, count = args
    from itslib.metrics import ACCEPT, Judges, MiniJudge
    from itslib.mini.datasets import single_thread
    from itslib.mini.experts import mini_pipeline

    single_thread()  # torch and BLAS: two busy threads on two cores oversubscribe badly
    pipe, judge = mini_pipeline(weights, threads=1), MiniJudge.shipped(weights)
    judges = Judges(judge, judge, threshold=ACCEPT, scale=100.0)
    made = run_sweep(pipe, jobs, work, {"vocoder": "griffin-lim"}, judges,
                     save_samples=False, process_index=index, num_processes=count,
                     progress=index == 0)  # fmt: skip
    return len(made)


def run_jobs(jobs: list[Job], work: Path, weights: str | None = None, workers: int = 1) -> None:
    """Run the jobs not yet finished in ``work``, split over ``workers`` processes."""
    if workers <= 1:
        _worker((weights, jobs, work, 0, 1))
        return
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        pool.map(_worker, [(weights, jobs, work, i, workers) for i in range(workers)])


def write(out: Path, table: str, jobs: list[Job], work: Path, settings: dict) -> list[dict]:
    """Merge the table's rows into ``out/<table>.json`` and ``out/<table>.md``."""
    from itslib.sweep import collect_rows

    rows = [
        r | {"picture_score": r["picture_score"] / 100, "sound_score": r["sound_score"] / 100}
        for r in collect_rows(work, jobs)
    ]  # the judges' p x 100 -> p in [0, 1]
    summary = summarise(rows, list(dict.fromkeys(j.variant.name for j in jobs)))
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / f"{table}.json") as tmp:
        tmp.write_text(json.dumps({"settings": settings, "summary": summary, "rows": rows},
                                  indent=1) + "\n")  # fmt: skip
    with atomic_path(out / f"{table}.md") as tmp:
        tmp.write_text(markdown(summary))
    return rows


def evaluate(table: str, out: Path, work: Path, seeds: int = 1, steps: int = 25,
             guidance: float = 7.5, sds_steps: int = 100, pairs: int | None = None,
             sds_pairs: int | None = None, variants: list[str] | None = None,
             weights: str | None = None, workers: int = 1) -> list[dict]:  # fmt: skip
    """Run (or resume) one table; returns its rows (scores as p in [0, 1])."""
    from itslib.mini.world import PICTURE_CLASSES, SOUND_CLASSES

    grid = class_pairs(PICTURE_CLASSES, SOUND_CLASSES)[:pairs]
    jobs = table_jobs(table, grid, seeds, steps, guidance, sds_steps, sds_pairs, variants)
    tic = time.perf_counter()
    run_jobs(jobs, work / table, weights, workers)
    settings = {"table": table, "pairs": len(grid), "seeds": seeds, "steps": steps,
                "guidance": guidance, "sds_steps": sds_steps,
                "sds_pairs": min(sds_pairs or len(grid), len(grid)), "workers": workers,
                "world": "mini", "wall_seconds": round(time.perf_counter() - tic, 1),
                "defaults": "DDIM, image_start 0.1, audio_weight 0.5, Griffin-Lim"}  # fmt: skip
    return write(out, table, jobs, work / table, settings)


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


def joint_grid(path: Path, steps: int = 25, guidance: float = 7.5, seed: int = 0,
               weights: str | None = None) -> Path:  # fmt: skip
    """One joint sample per (picture class, sound class) pair, tiled into a PNG: rows
    are picture classes, columns sound classes, each tile the spectrogram picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from itslib.mini.experts import mini_pipeline
    from itslib.mini.world import PICTURE_CLASSES, SOUND_CLASSES

    pipe = mini_pipeline(weights)
    fig, axes = plt.subplots(
        len(PICTURE_CLASSES),
        len(SOUND_CLASSES),
        figsize=(2.2 * len(SOUND_CLASSES), 0.75 * len(PICTURE_CLASSES)),
    )
    for (i, picture), (j, sound) in itertools.product(enumerate(PICTURE_CLASSES),
                                                      enumerate(SOUND_CLASSES)):  # fmt: skip
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=[*sorted(TABLES), "all"], default="all",
                        help="all: the three tables with the 15-minute plan")  # fmt: skip
    parser.add_argument("--variants", nargs="+", default=None, help="only these rows")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per class pair")
    parser.add_argument(
        "--pairs",
        type=int,
        default=None,
        help="class pairs, a balanced prefix of the 64 (default: all)",
    )
    parser.add_argument("--sds-pairs", type=int, default=None, help="SDS on only N pairs")
    parser.add_argument("--steps", type=int, default=25, help="DDIM steps per sample")
    parser.add_argument("--guidance", type=float, default=7.5, help="both guidance scales")
    parser.add_argument("--sds-steps", type=int, default=100, help="SDS optimisation steps")
    parser.add_argument("--workers", type=int, default=2, help="single-threaded processes")
    parser.add_argument("--weights", default=None, help="miniature weights folder")
    parser.add_argument("--out", default="itslib/mini/results", help="where the tables go")
    parser.add_argument("--work", default="out/evaluate", help="samples' score rows (resume)")
    parser.add_argument(
        "--grid",
        default=None,
        metavar="PNG",
        help="instead: one joint sample per class pair, tiled into PNG",
    )
    args = parser.parse_args(argv)
    if args.grid:
        print(joint_grid(Path(args.grid), args.steps, args.guidance, weights=args.weights))
        return 0
    tables = list(TABLES) if args.table == "all" else [args.table]
    plan = QUICK_PLAN if args.table == "all" else {"pairs": None, "seeds": 1, "sds_pairs": 8}
    start = time.perf_counter()
    for table in tables:
        rows = evaluate(
            table, Path(args.out), Path(args.work), seeds=args.seeds or plan["seeds"],
            steps=args.steps, guidance=args.guidance, sds_steps=args.sds_steps,
            pairs=args.pairs or plan["pairs"], sds_pairs=args.sds_pairs or plan["sds_pairs"],
            variants=args.variants, weights=args.weights, workers=args.workers,
        )  # fmt: skip
        print(f"## {table} ({len(rows)} samples)\n")
        print((Path(args.out) / f"{table}.md").read_text())
        if table == "steps" and "DDIM 100" in {r["variant"] for r in rows}:
            summary = json.loads((Path(args.out) / "steps.json").read_text())["summary"]
            best = cheapest_within(summary)
            print(f"cheapest within the intervals of DDIM 100: {best['variant']}, "
                  f"{best['evaluation_speedup']:.1f}x fewer UNet evaluations, "
                  f"{best['seconds_speedup']:.1f}x faster\n")  # fmt: skip
    print(f"{time.perf_counter() - start:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
