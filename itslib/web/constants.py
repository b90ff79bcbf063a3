"""``world.json``: every number and name the browser needs, read from the library.

Nothing here is typed again for the browser: the scheduler's constants come from the
diffusers schedulers :func:`itslib.pipeline.make_scheduler` builds; class names, canvas
and spectrogram settings from :mod:`itslib.mini.world`; defaults and help texts from
the fields of :class:`itslib.settings.Settings`; Griffin-Lim's iterations, momentum and
seed from the defaults of :func:`itslib.audio.vocode` and :func:`itslib.audio.griffin_lim`.

What the page adds is declared in :data:`CONTROLS` (each slider's bounds and step, the
step counts offered) and :data:`PAGE_START` (where the page's controls start when it
differs from Python's default, with the reason); :func:`controls` checks every bound
against :meth:`Settings.check`, so the page cannot offer a value Python refuses.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import fields
from typing import Any

import itslib
from itslib import audio
from itslib.metrics import ACCEPT
from itslib.mini.models import LATENT_SHAPE
from itslib.mini.world import HEIGHT, MINI_MEL, NULL_CLASS, PICTURE_CLASSES, SOUND_CLASSES, WIDTH
from itslib.pipeline import make_scheduler
from itslib.settings import Settings
from itslib.worlds import MINI_EXAMPLES

FORMAT = 1  # bumped when world.json's layout changes

# The schedulers the browser runs (itslib/web's sampler.js implements exactly these two).
BROWSER_SCHEDULERS = ("ddim", "dpm++")
# Step counts offered on the page (a select; timesteps are exported for each).
STEP_CHOICES = (5, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200)

# The page's sliders: (low, high, step). Python's own ranges (Settings.check) are wider
# where they are open (guidance >= 0 has no top; a start may come within a hair of 1):
# the page offers the part a reader uses, and controls() checks that Python takes it.
CONTROLS: dict[str, tuple[float, float, float]] = {
    "audio_weight": (0.0, 1.0, 0.05),
    "image_start": (0.0, 0.9, 0.05),
    "audio_start": (0.0, 0.9, 0.05),
    "image_guidance": (0.0, 20.0, 0.5),
    "audio_guidance": (0.0, 20.0, 0.5),
}
SEED_RANGE = (0, 2**32 - 1)  # torch's CPU generator keeps the low 32 bits of its seed

# Where the page starts when Python's default would be slow in a browser: 100 DDIM steps
# take about a minute there; DPM-Solver++ with 15 steps scores within the intervals of
# 100-step DDIM in the miniature world (itslib/mini/results/steps.md).
PAGE_START: dict[str, Any] = {"scheduler": "dpm++", "steps": 15}


def _defaults(function) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}  # fmt: skip


def scheduler_constants(config: dict[str, Any]) -> dict[str, Any]:
    """alphas_cumprod (1000,), the final alpha_cumprod, and per scheduler and step count the
    timesteps (and DPM-Solver++'s sigmas), from diffusers' own ``set_timesteps``.

    Raises ``ValueError`` when a scheduler's configuration is one the browser's sampler
    does not implement (e.g. another DPM-Solver++ order, or a non-zero final sigma).
    """
    ddim = make_scheduler("ddim", config)
    dpm = make_scheduler("dpm++", config)
    wanted = {"prediction_type": "epsilon", "clip_sample": False, "thresholding": False}
    for key, value in wanted.items():
        if ddim.config.get(key, value) != value:
            raise ValueError(f"the browser's DDIM needs {key}={value!r}, got {ddim.config[key]!r}")
    dpm_wanted = {"algorithm_type": "dpmsolver++", "solver_order": 2, "solver_type": "midpoint",
                  "final_sigmas_type": "zero", "euler_at_final": False, "thresholding": False,
                  "use_karras_sigmas": False, "lambda_min_clipped": -math.inf,
                  "variance_type": None, "prediction_type": "epsilon"}  # fmt: skip
    for key, value in dpm_wanted.items():
        if dpm.config.get(key) != value:
            raise ValueError(f"the browser's DPM-Solver++ needs {key}={value!r}, "
                             f"got {dpm.config.get(key)!r}")  # fmt: skip
    if not bool((ddim.alphas_cumprod == dpm.alphas_cumprod).all()):
        raise ValueError("DDIM and DPM-Solver++ disagree on alphas_cumprod.")
    out: dict[str, Any] = {
        "num_train_timesteps": int(ddim.config.num_train_timesteps),
        "alphas_cumprod": [float(a) for a in ddim.alphas_cumprod],
        "final_alpha_cumprod": float(ddim.final_alpha_cumprod),
        "lower_order_final": bool(dpm.config.lower_order_final),
        "init_noise_sigma": {},
        "ddim": {"timesteps": {}},
        "dpm++": {"timesteps": {}, "sigmas": {}},
    }
    for name, scheduler in (("ddim", ddim), ("dpm++", dpm)):
        out["init_noise_sigma"][name] = float(scheduler.init_noise_sigma)
        for steps in STEP_CHOICES:
            scheduler.set_timesteps(steps)
            out[name]["timesteps"][str(steps)] = [int(t) for t in scheduler.timesteps]
            if name == "dpm++":
                out[name]["sigmas"][str(steps)] = [float(s) for s in scheduler.sigmas]
    return out


def settings_fields() -> dict[str, dict[str, Any]]:
    """Each :class:`Settings` field's default, help text and choices."""
    return {f.name: {"default": f.default, "help": f.metadata.get("help", ""),
                     "choices": list(f.metadata["choices"]) if f.metadata.get("choices") else None}
            for f in fields(Settings)}  # fmt: skip


def controls() -> dict[str, Any]:
    """The page's controls, each bound checked by :meth:`Settings.check` (raises
    ``ValueError`` if Python refuses a value the page would offer)."""
    out: dict[str, Any] = {}
    for name, (low, high, step) in CONTROLS.items():
        for value in (low, high):
            Settings(**{name: value, "audio_start": 0.0} if name == "image_start"
                     else {name: value, "image_start": 0.0}).check()  # fmt: skip
        out[name] = {"min": low, "max": high, "step": step}
    for steps in STEP_CHOICES:
        Settings(steps=steps).check()
    for seed in SEED_RANGE:
        Settings(seed=seed).check()
    for name in BROWSER_SCHEDULERS:
        Settings(scheduler=name).check()
    out["steps"] = {"choices": list(STEP_CHOICES)}
    out["seed"] = {"min": SEED_RANGE[0], "max": SEED_RANGE[1], "step": 1}
    out["scheduler"] = {"choices": list(BROWSER_SCHEDULERS)}
    return out


def world_constants(weights_id: str, scheduler_config: dict[str, Any]) -> dict[str, Any]:
    """The content of ``world.json`` (plain JSON types; see the module docstring)."""
    vocode, griffin = _defaults(audio.vocode), _defaults(audio.griffin_lim)
    return {
        "format": FORMAT,
        "itslib_version": itslib.__version__,
        "weights_id": weights_id,
        "world": "mini",
        "canvas": {"height": HEIGHT, "width": WIDTH},
        "latent_shape": list(LATENT_SHAPE),
        "classes": {"image": list(PICTURE_CLASSES), "audio": list(SOUND_CLASSES),
                    "null": NULL_CLASS},  # fmt: skip
        "examples": [list(pair) for pair in MINI_EXAMPLES],
        "mel": MINI_MEL.to_dict() | {"pad": MINI_MEL.pad, "bins": MINI_MEL.n_fft // 2 + 1},
        "silence": audio.SILENCE,
        "griffin_lim": {"n_iter": vocode["n_iter"], "seed": vocode["seed"],
                        "momentum": griffin["momentum"]},  # fmt: skip
        "judges": {"accept": ACCEPT, "scale": 100.0},
        "scheduler": scheduler_constants(scheduler_config),
        "settings": settings_fields(),
        "controls": controls(),
        "page_start": dict(PAGE_START),
    }
