"""Sweeps: prompt pairs x seeds x methods x settings -> sample folders + one table.

    python -m itslib sweep --prompts paper-human-study --methods joint imprint \\
        --seeds 4 --set image_start=0.0,0.1 --out sweeps/first

Every *job* (one method with one setting, one prompt pair, one seed) writes its
sample folder ``OUT/samples/<variant>/sample_p<pair>_s<seed>/`` (as ``Result.save``
does) and one score row ``OUT/rows/<variant>/p<pair>_s<seed>.json``. A job whose row
exists is skipped, so an interrupted sweep resumes where it stopped. At the end the
rows are merged into ``OUT/results.csv`` (one line per sample) and ``OUT/results.md``
(per variant: mean scores with 95% intervals, seconds and UNet evaluations per sample).

Several processes split the grid: under ``accelerate launch --num_processes N`` (or
``torchrun``) process ``i`` takes jobs ``i, i + N, ...``; the first one merges the
table once all have finished. The table does not depend on how many processes made it
(except the measured seconds).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from itslib._io import atomic_path, ensure_writable_folder
from itslib.fidelity import sample_folders
from itslib.methods import METHODS, consecutive_runs, make_method
from itslib.metrics import Judges, mean_ci
from itslib.pipeline import DEFAULT_BATCH
from itslib.results import Result
from itslib.worlds import WORLDS, World

PROMPT_SETS = {
    "paper-quantitative": "paper_quantitative.json",  # the paper's Table 5: 10 x 10 pairs
    "paper-human-study": "paper_human_study.json",  # the paper's Table 6: 7 pairs
}


# --- prompt pairs -------------------------------------------------------------------------


def pairs_from_lists(image_prompts: Sequence[str], audio_prompts: Sequence[str],
                     pairing: str = "grid") -> list[tuple[str, str]]:  # fmt: skip
    """``grid``: every image prompt with every audio prompt; ``zip``: the i-th with the i-th."""
    if not image_prompts or not audio_prompts:
        raise ValueError("image_prompts and audio_prompts must each hold at least one prompt.")
    if pairing == "grid":
        return list(itertools.product(image_prompts, audio_prompts))
    if pairing == "zip":
        if len(image_prompts) != len(audio_prompts):
            raise ValueError(
                f"pairing='zip' needs as many image prompts ({len(image_prompts)}) as audio "
                f"prompts ({len(audio_prompts)}); fix the lists or use pairing='grid'."
            )
        return list(zip(image_prompts, audio_prompts, strict=True))
    raise ValueError(f"pairing={pairing!r} must be 'grid' or 'zip'.")


def load_prompt_pairs(
    name: str, examples: Sequence[tuple[str, str]] = ()
) -> list[tuple[str, str]]:
    """Prompt pairs from a shipped set, the miniature world's classes, or a JSON file.

    ``name``: ``paper-quantitative`` (Table 5 of the paper: 10 image x 10 audio
    prompts), ``paper-human-study`` (Table 6: 7 pairs), ``mini-classes`` (every
    picture class x every sound class of the miniature world), ``examples`` (this
    world's example pairs, passed as ``examples``), or a path to a JSON file
    ``{"image_prompts": [...], "audio_prompts": [...], "pairing": "grid" | "zip"}``
    or ``{"pairs": [[image, audio], ...]}``.
    """
    if name == "mini-classes":
        mini = WORLDS["mini"]
        return pairs_from_lists(mini.image_prompts, mini.audio_prompts)
    if name == "examples":
        if not examples:
            raise ValueError("prompts='examples' needs the world's examples (World.examples).")
        return list(examples)
    if name in PROMPT_SETS:
        text = resources.files("itslib.prompts").joinpath(PROMPT_SETS[name]).read_text()
    else:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"prompts={name!r} is neither a prompt set ({', '.join(prompt_set_names())}) "
                "nor a JSON file; pass one of those names or an existing file."
            )
        text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"prompts={name!r} is not valid JSON ({err}).") from err
    if not isinstance(data, dict):
        raise ValueError(f"prompts={name!r} holds a JSON {type(data).__name__}; it must be an "
                         'object: {"image_prompts": [...], "audio_prompts": [...]} or '
                         '{"pairs": [[image, audio], ...]}.')  # fmt: skip
    if "pairs" in data:
        pairs = [tuple(p) for p in data["pairs"]]
        if not pairs or any(len(p) != 2 or not all(isinstance(s, str) for s in p) for p in pairs):
            raise ValueError(f"{name}: 'pairs' must be a non-empty list of [image, audio] strings.")
        return pairs  # type: ignore[return-value]
    return pairs_from_lists(data.get("image_prompts", []), data.get("audio_prompts", []),
                            data.get("pairing", "grid"))  # fmt: skip


def prompt_set_names() -> list[str]:
    return [*PROMPT_SETS, "mini-classes", "examples"]


# --- the grid -----------------------------------------------------------------------------


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-") or "default"


@dataclass(frozen=True)
class Variant:
    """One row of the results table: a method with its settings."""

    method: str
    settings: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)
    label: str = ""

    def __post_init__(self) -> None:
        make_method(self.method, **self.settings)  # a value its method rejects: an error now

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.items()))
        return f"{self.method} ({inner})" if inner else self.method

    @property
    def folder(self) -> str:
        """``<slug of the name>-<8 hex digits of the settings>``: a label reused with
        other settings gets another folder, so a resumed sweep never mixes them."""
        import hashlib

        text = json.dumps([self.method, self.settings], sort_keys=True, default=str)
        return f"{slug(self.name)}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Job:
    variant: Variant
    pair: int
    image_prompt: str
    audio_prompt: str
    seed: int

    @property
    def key(self) -> str:
        return f"p{self.pair:03d}_s{self.seed}"


def parse_settings(items: Sequence[str]) -> list[dict[str, Any]]:
    """``["steps=25,50", "image_start=0.1"]`` -> the grid of setting dicts (cross product)."""
    axes: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise ValueError(f"--set {item!r} must look like name=value[,value...].")
        axes[name.strip().replace("-", "_")] = [_parse_value(v) for v in values.split(",")]
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def _parse_value(text: str) -> Any:
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def make_variants(methods: Sequence[str], settings_grid: Sequence[dict[str, Any]]) -> list[Variant]:
    """Every method with every setting it takes (a baseline ignores joint-only settings,
    so it appears once per distinct setting it does take). A setting no chosen method
    takes is an error, as is a value its method rejects."""
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ValueError(f"methods {unknown or '[]'} must be among {', '.join(METHODS)}.")
    names = {name for settings in settings_grid for name in settings}
    taken = set().union(*(METHODS[m].takes for m in methods))
    if names - taken:
        raise ValueError(f"--set {', '.join(sorted(names - taken))}: no chosen method takes "
                         f"it; the settings are: {', '.join(sorted(taken))}.")  # fmt: skip
    variants: list[Variant] = []
    for method in methods:
        for settings in settings_grid or [{}]:
            mine = {k: v for k, v in settings.items() if k in METHODS[method].takes}
            variant = Variant(method, mine)  # checked now, before any work
            if variant not in variants:
                variants.append(variant)
    return variants


def make_jobs(variants: Sequence[Variant], pairs: Sequence[tuple[str, str]],
              seeds: Sequence[int]) -> list[Job]:  # fmt: skip
    """The whole grid in a fixed order: pair, then seed, then variant."""
    if not pairs:
        raise ValueError("pairs is empty; give at least one (image prompt, audio prompt) pair.")
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed.")
    return [Job(v, i, img, aud, s) for (i, (img, aud)), s, v
            in itertools.product(enumerate(pairs), seeds, variants)]  # fmt: skip


# --- running one job ----------------------------------------------------------------------


def run_jobs(world: World, jobs: Sequence[Job], defaults: dict[str, Any] | None = None
             ) -> list[Result]:  # fmt: skip
    """Make the samples of ``jobs`` (one variant and prompt pair; consecutive seeds are
    drawn together) with their method (:data:`itslib.methods.METHODS`); ``defaults`` (e.g.
    the vocoder or the canvas) apply where the method takes them. Each result's ``params``
    hold ``seconds`` and ``unet_evaluations``."""
    first = jobs[0]
    method = METHODS[first.variant.method]
    shared = {k: v for k, v in (defaults or {}).items() if k in method.takes}
    runner = make_method(method.name, **(shared | first.variant.settings))
    return runner.run_many(world, first.image_prompt, first.audio_prompt,
                           [job.seed for job in jobs])  # fmt: skip


# --- judges -------------------------------------------------------------------------------


def score(result, judges: Judges | None) -> dict[str, float]:
    """Picture and sound scores of one result, and whether both judges accept it (all NaN
    without judges)."""
    if judges is None:
        return {"picture_score": math.nan, "sound_score": math.nan, "both_accept": math.nan}
    return judges.score([result])[0]


def score_folder(folder: str | Path, judges: Judges) -> list[dict]:
    """Score every ``sample_*`` folder in ``folder`` (as ``generate`` or a sweep writes
    them): the picture judge reads ``spectrogram.png`` with the image prompt of
    ``params.json``, the sound judge hears ``audio.wav`` with its audio prompt."""
    import soundfile as sf
    from PIL import Image

    rows = []
    for sample in sample_folders(folder, "audio.wav"):
        for need in ("spectrogram.png", "params.json"):
            if not (sample / need).is_file():
                raise FileNotFoundError(
                    f"{str(sample / need)!r} is missing; regenerate that sample or remove "
                    "its folder."
                )
        params = json.loads((sample / "params.json").read_text())
        picture = np.asarray(Image.open(sample / "spectrogram.png").convert("L"), np.float32)
        waveform, rate = sf.read(str(sample / "audio.wav"), dtype="float32", always_2d=True)
        loaded = SimpleNamespace(
            spectrogram=picture / 255,
            waveform=waveform.mean(axis=1),
            sample_rate=int(rate),
            params=params,
        )  # what score() reads
        rows.append({"folder": sample.name, "image_prompt": params.get("image_prompt"),
                     "audio_prompt": params.get("audio_prompt"),
                     **score(loaded, judges)})  # fmt: skip
    return rows


# --- the sweep ----------------------------------------------------------------------------


COLUMNS = ("variant", "method", "settings", "pair", "image_prompt", "audio_prompt", "seed",
           "picture_score", "sound_score", "both_accept", "unet_evaluations", "seconds",
           "folder")  # fmt: skip


def row_path(out: Path, job: Job) -> Path:
    return out / "rows" / job.variant.folder / f"{job.key}.json"


def sample_path(out: Path, job: Job) -> Path:
    return out / "samples" / job.variant.folder / f"sample_{job.key}"


def batches(jobs: Sequence[Job], size: int) -> list[list[Job]]:
    """``jobs`` grouped for drawing together: the same variant and prompt pair with
    consecutive seeds, at most ``size`` to a group, in the order the groups first appear."""
    groups: dict[tuple[str, int], list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.variant.folder, job.pair), []).append(job)
    out: list[list[Job]] = []
    for group in groups.values():
        by_seed = {job.seed: job for job in group}
        out += [[by_seed[s] for s in run] for run in consecutive_runs(sorted(by_seed), size)]
    return out


def run_sweep(world: World, jobs: Sequence[Job], out: str | Path,
              defaults: dict[str, Any] | None = None,
              judges: Judges | None = None, save_samples: bool = True,
              process_index: int = 0, num_processes: int = 1,
              progress: bool = True, batch_size: int = DEFAULT_BATCH) -> list[dict]:  # fmt: skip
    """Run this process's share of ``jobs`` (skipping finished ones); returns its new rows.

    The seeds of one variant and prompt pair are drawn together, ``batch_size`` at a time
    (:meth:`Method.run_many`); processes share the work by such groups. Each finished job
    leaves ``OUT/rows/<variant>/<key>.json`` (and, with ``save_samples``, its sample
    folder), written atomically, so the sweep resumes.
    """
    from tqdm.auto import tqdm

    out = ensure_writable_folder(out, name="out", create=True)
    groups = batches(jobs, size=max(1, len(jobs)))  # whole seed runs, then split by process
    mine = [j for g, group in enumerate(groups) if g % num_processes == process_index
            for j in group]  # fmt: skip
    todo = [j for j in mine if not row_path(out, j).exists()]
    new_rows = []
    bar = tqdm(total=len(todo), desc=f"sweep [{process_index + 1}/{num_processes}]",
               disable=not progress)  # fmt: skip
    for group in batches(todo, batch_size):
        for job, result in zip(group, run_jobs(world, group, defaults), strict=True):
            new_rows.append(save_row(out, job, result, judges, save_samples))
            bar.update()
    bar.close()
    return new_rows


def save_row(out: Path, job: Job, result: Result, judges: Judges | None,
             save_samples: bool) -> dict:  # fmt: skip
    """Score one finished job and write its row (and its sample folder) atomically."""
    row = {"variant": job.variant.name, "method": job.variant.method,
           "settings": json.dumps(job.variant.settings, sort_keys=True), "pair": job.pair,
           "image_prompt": job.image_prompt, "audio_prompt": job.audio_prompt,
           "seed": job.seed, **score(result, judges),
           "unet_evaluations": int(result.params.get("unet_evaluations", 0)),
           "seconds": float(result.params["seconds"]), "folder": ""}  # fmt: skip
    if save_samples:
        folder = sample_path(out, job)
        result.save(folder, overwrite=True)
        row["folder"] = str(folder.relative_to(out))
    with atomic_path(row_path(out, job)) as tmp:
        tmp.write_text(json.dumps(row) + "\n")
    return row


def collect_rows(out: str | Path, jobs: Sequence[Job]) -> list[dict]:
    """The finished rows of ``jobs`` in grid order (missing ones are left out)."""
    rows = []
    for job in jobs:
        path = row_path(Path(out), job)
        if path.exists():
            rows.append(json.loads(path.read_text()))
    return rows


def summarise(rows: Sequence[dict], variants: Sequence[str]) -> list[dict]:
    """Per variant: n, means with 95% half-widths of the scores, the share both judges
    accept, UNet evaluations and seconds per sample."""
    summary = []
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        if not mine:
            continue
        line: dict[str, Any] = {"variant": variant, "n": len(mine)}
        for key in ("picture_score", "sound_score", "both_accept", "unet_evaluations", "seconds"):
            values = [float(r[key]) for r in mine]
            if not np.all(np.isfinite(values)):
                line[key], line[f"{key}_ci"] = math.nan, math.nan
                continue
            mean, half = mean_ci(values)
            line[key], line[f"{key}_ci"] = round(mean, 4), round(half, 4)
        summary.append(line)
    return summary


def _cell(mean: float, half: float, digits: int = 2) -> str:
    if not math.isfinite(mean):
        return "-"
    if not math.isfinite(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def markdown(summary: Sequence[dict], scale: float = 1.0) -> str:
    """The summary as a Markdown table; scores divided by ``scale`` (100 turns the
    miniature judges' p x 100 into p)."""
    lines = ["| variant | n | picture score | sound score | both accept | UNet evals "
             "| s / sample |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for s in summary:
        p, q = s["picture_score"] / scale, s["sound_score"] / scale
        lines.append(
            f"| {s['variant']} | {s['n']} | {_cell(p, s['picture_score_ci'] / scale)} "
            f"| {_cell(q, s['sound_score_ci'] / scale)} "
            f"| {_cell(s['both_accept'], s['both_accept_ci'])} "
            f"| {s['unet_evaluations']:.0f} | {s['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def write_table(out: str | Path, jobs: Sequence[Job],
                scale: float = 1.0) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """Merge the rows of ``jobs`` into ``OUT/results.csv`` and ``OUT/results.md`` (scores
    divided by ``scale`` in the Markdown)."""
    out = Path(out)
    rows = collect_rows(out, jobs)
    names = list(dict.fromkeys(j.variant.name for j in jobs))
    summary = summarise(rows, names)
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(markdown(summary, scale))
    return rows, summary


def distributed_state():
    """(process index, number of processes, barrier): from accelerate when launched by
    ``accelerate launch`` / ``torchrun``, else a single process."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, lambda: None
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return state.process_index, state.num_processes, state.wait_for_everyone
