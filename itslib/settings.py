"""The joint method's settings: each default, range and help text declared once.

:class:`Settings` is the single source of truth for one generation. The pipeline fills
in the world's defaults where a field is ``None`` (the canvas, the vocoder, the crop),
checks everything in :meth:`Settings.check`, and the ``generate`` command's flags and
their help are made from these fields (:func:`itslib.cli.add_settings_flags`).

The defaults are the paper's (Chen, Geng and Owens 2024, Sec. 3.3 and 4; its public code,
github.com/IFICL/images-that-sound): DDIM with 100 steps, guidance 10 for both experts,
equal weights, and an audio-only warm start for the first 10% of the steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from itslib.checks import number, whole

# Each works on every path (pure noise, a start picture or sound, batches, 1 step); the
# stochastic DPM-Solver++ SDE is not offered: it needs torchsde, and its Brownian noise
# would make a batched sample differ from the one drawn alone.
SCHEDULERS = {  # short name -> (the diffusers class, what make_scheduler adds to its config)
    "ddim": ("DDIMScheduler", {}),  # the paper's, eta 0
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "euler": ("EulerDiscreteScheduler", {}),
    "pndm": ("PNDMScheduler", {}),  # PLMS, SD 1.5's own default
}
ETA_SCHEDULERS = ("ddim",)  # those whose step takes DDIM's eta
VOCODERS = ("hifigan", "griffin-lim")


def setting(default: Any, help: str, choices: tuple[str, ...] | None = None,
            flag: bool | str = True):  # fmt: skip
    """A settings field with its help text. ``flag``: a command-line option named after the
    field (True), under another name where the field's name would mislead there (a str,
    e.g. ``"audio-sds-weight"``), or none (False). The CLI builds its flags from these."""
    return field(default=default, metadata={"help": help, "choices": choices, "flag": flag})


@dataclass
class Settings:
    """Every knob of one joint generation. ``None``: the world decides (see each help)."""

    image_prompt: str = setting("", "what it should look like (mini world: a picture class)",
                                flag=False)  # fmt: skip
    audio_prompt: str = setting("", "what it should sound like (mini world: a sound class)",
                                flag=False)  # fmt: skip
    negative_image_prompt: str = setting("", "the image expert's unconditional text")
    negative_audio_prompt: str = setting("", "the audio expert's unconditional text")
    steps: int = setting(100, "denoising steps, >= 1")
    image_guidance: float = setting(10.0, "the image expert's classifier-free guidance, >= 0")
    audio_guidance: float = setting(10.0, "the audio expert's classifier-free guidance, >= 0")
    audio_weight: float = setting(0.5, "the audio expert's weight in [0, 1]; the image "
                                  "expert gets 1 - it")  # fmt: skip
    image_start: float = setting(0.1, "share of the steps in [0, 1) before the image expert "
                                 "joins (the warm start)")  # fmt: skip
    audio_start: float = setting(0.0, "share of the steps in [0, 1) before the audio expert joins")
    height: int | None = setting(None, "pixels = mel bins, fixed by the world's audio model "
                                 "(None: its canvas height)")  # fmt: skip
    width: int | None = setting(None, "pixels = frames (the sound's length), a positive "
                                "multiple of 8 (None: the world's canvas width)")  # fmt: skip
    seed: int = setting(0, "sample k starts from the noise of seed + k", flag=False)
    scheduler: str = setting("ddim", "the diffusers scheduler", choices=tuple(SCHEDULERS))
    eta: float = setting(0.0, "DDIM's stochasticity, >= 0 (0: deterministic); DDIM only")
    vocoder: str | None = setting(None, "how the spectrogram becomes sound (default: hifigan "
                                  "when the audio model has one, else griffin-lim)",
                                  choices=VOCODERS)  # fmt: skip
    crop_right: bool | None = setting(None, "drop the dark right-edge band the VAE leaves "
                                      "(32/1024 of the width; default: on in the real world)",
                                      flag=False)  # fmt: skip
    strength: float = setting(1.0, "with a starting picture or sound (--init-picture, "
                              "--init-sound): the share of the steps, in (0, 1], that "
                              "denoise it after it is noised to the first of them, as "
                              "image-to-image diffusion does; at 1 a faint trace of it "
                              "stays (DDIM 20 steps starts at t = 951 of 1000)")
    init: str | None = setting(None, "what the sample started from", flag=False)

    @classmethod
    def names(cls, flags_only: bool = False) -> list[str]:
        """The field names (only those that are ``generate`` flags with ``flags_only``)."""
        return [f.name for f in fields(cls) if f.metadata.get("flag", True) or not flags_only]

    def check(self) -> Settings:
        """Raise ``ValueError`` naming the parameter and its allowed values; ``None``
        fields (left to the world) are not checked. Numbers become plain ``int`` and
        ``float`` (numpy's pass). Returns ``self``."""
        for name in ("image_prompt", "audio_prompt", "negative_image_prompt",
                     "negative_audio_prompt"):  # fmt: skip
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}={getattr(self, name)!r} must be a string.")
        self.steps = whole(self.steps, "steps")
        self.seed = whole(self.seed, "seed", low=None)
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None:
                value = whole(value, name, low=None)
                if value <= 0 or value % 8:
                    raise ValueError(f"{name}={value} must be a positive multiple of 8 (the "
                                     f"VAE downsamples by 8); try {max(8, round(value / 8) * 8)}.")
                setattr(self, name, value)
        for name in ("image_guidance", "audio_guidance", "eta"):
            setattr(self, name, number(getattr(self, name), name, low=0))
        self.audio_weight = number(self.audio_weight, "audio_weight", 0, 1)
        for name in ("image_start", "audio_start"):
            setattr(self, name, number(getattr(self, name), name, 0, 1, high_open=True))
        if min(round(self.image_start * self.steps), round(self.audio_start * self.steps)) > 0:
            raise ValueError(
                "no expert is active at step 0: set image_start=0 or audio_start=0 "
                f"(got image_start={self.image_start}, audio_start={self.audio_start})."
            )
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler={self.scheduler!r} is not one of {', '.join(SCHEDULERS)}.")
        if self.eta != 0 and self.scheduler not in ETA_SCHEDULERS:
            raise ValueError(f"eta={self.eta} applies to DDIM only; scheduler="
                             f"{self.scheduler!r} has none: leave eta at 0 or use ddim.")
        if self.vocoder is not None and self.vocoder not in VOCODERS:
            raise ValueError(f"vocoder={self.vocoder!r} is not one of {', '.join(VOCODERS)}.")
        self.strength = number(self.strength, "strength", 0, 1, low_open=True)
        if self.strength != 1.0 and self.init is None:
            raise ValueError(f"strength={self.strength} needs a starting picture or sound "
                             "(init_picture / init_sound, --init-picture / --init-sound); "
                             "without one, leave strength out.")  # fmt: skip
        return self

    def check_canvas(self, canvas: tuple[int, int]) -> Settings:
        """``height`` must be the audio model's mel bins (``canvas[0]``): a spectrogram's
        rows are its mel bands, and the vocoder reads exactly that many. The width (frames,
        the length of the sound) is free. Returns ``self``."""
        if self.height is not None and self.height != canvas[0]:
            raise ValueError(f"height={self.height} must be {canvas[0]}, this world's mel bins "
                             f"(a spectrogram's rows); leave it out, or change the width "
                             f"(frames; default {canvas[1]}) for a longer or shorter sound.")
        return self


DEFAULTS = Settings()
# The settings a caller passes as keywords (the prompts are positional; init is set by a
# start picture or sound): ImagesThatSound.__call__'s and the joint methods'.
SETTING_KEYWORDS = frozenset(Settings.names()) - {"image_prompt", "audio_prompt", "init"}
