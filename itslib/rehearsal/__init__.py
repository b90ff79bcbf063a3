"""Random-weight copies of every real model the book uses, in the hub repositories' layouts.

Nothing here downloads anything. :func:`write_rehearsal` writes, under one folder, a
copy of each model of :data:`itslib._hub.REAL_MODELS` (Stable Diffusion 1.5, Auffusion
with its vocoder, CLIP, CLAP, DeepFloyd IF stage I and II) with random weights, laid out
file for file as on the hub, and returns the environment variables that point the real
world at them. The real loaders read them exactly as they read the hub's, so

    python -m itslib rehearse /tmp/rehearsal        # prints the export lines
    eval "$(python -m itslib rehearse /tmp/rehearsal --quiet)"
    ITSLIB_WORLD=real pytest --nbmake notebooks     # every chapter's Colab path

runs the reader's Colab path on a CPU. The pictures are noise (random weights); what a
rehearsal checks is that every real-world line runs. The test suite builds its models
with the same functions.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from itslib._hub import REAL_MODELS
from itslib._io import ensure_writable_folder
from itslib.rehearsal.deepfloyd import write_if_stage_1, write_if_stage_2
from itslib.rehearsal.diffusion import write_auffusion, write_stable_diffusion, write_vocoder
from itslib.rehearsal.judges import write_clap, write_clip

# Long loops shrink in a rehearsal through this one variable: the SDS baseline runs at
# most this many optimisation steps (one audio-only, then both losses). Each step of the
# paper's canvas network at 256 x 1024 takes ~13 s on two CPU cores, and a chapter asks
# for 2,000. Sampling steps are never shortened.
LOOP_CAP_ENV = "ITSLIB_MAX_LOOP_STEPS"
REHEARSAL_LOOP_CAP = 3

WRITERS = {
    "image": write_stable_diffusion,
    "audio": write_auffusion,
    "clip": write_clip,
    "clap": write_clap,
    "if_stage1": write_if_stage_1,
    "if_stage2": write_if_stage_2,
}


def write_rehearsal(root: str | Path) -> dict[str, str]:
    """Write a tiny random copy of every real model under ``root``, each in a folder named
    as its hub id (``root/stable-diffusion-v1-5/stable-diffusion-v1-5``, ...); return the
    environment (variable -> value) that points the real world at them."""
    root = ensure_writable_folder(root, name="folder").expanduser().resolve()
    env = {"ITSLIB_WORLD": "real"}
    for seed, (role, write) in enumerate(WRITERS.items()):
        model = REAL_MODELS[role]
        folder = root / model.hub_id
        done = folder.with_name(folder.name + ".complete")  # beside it, not inside
        if not done.is_file():  # a finished copy is kept; a half-written one is redone
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            write(folder, seed=seed)
            done.write_text("random weights, written by itslib.rehearsal\n")
        env[model.env] = str(folder)
    env[LOOP_CAP_ENV] = str(REHEARSAL_LOOP_CAP)
    return env


def export_lines(env: dict[str, str]) -> str:
    """``export NAME='value'`` lines for a POSIX shell."""
    return "\n".join(f"export {name}='{value}'" for name, value in env.items())


__all__ = [
    "LOOP_CAP_ENV",
    "export_lines",
    "write_auffusion",
    "write_clap",
    "write_clip",
    "write_if_stage_1",
    "write_if_stage_2",
    "write_rehearsal",
    "write_stable_diffusion",
    "write_vocoder",
]
