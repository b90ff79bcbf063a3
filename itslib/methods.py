"""The methods the book compares, as small objects looked up by name.

Each method declares which settings it takes, once, and has one way to run::

    method = make_method("imprint", strength=0.7)
    result = method.run(world, image_prompt, audio_prompt, seed=0)
    result.params["unet_evaluations"]         # each method counts its own

- ``joint``: the paper's product of experts (settings: :class:`itslib.settings.Settings`);
- ``image-only`` / ``audio-only``: the same sampler with one expert's weight at 1;
- ``imprint``: carve the image expert's picture into the audio expert's spectrogram;
- ``sds``: score distillation of a Fourier-feature canvas.

Sweeps, the evaluation tables, the CLI and the chapters all dispatch through
:data:`METHODS`, the way Visual Anagrams looks its views up by name. A setting left out
takes the method's own default: the paper's for the joint sampler and imprint
(:class:`~itslib.settings.Settings`, :func:`~itslib.baselines.imprint_many`), the
world's for SDS (:attr:`itslib.worlds.World.sds`).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar

from itslib.baselines import imprint_many
from itslib.checks import number, whole
from itslib.results import Result
from itslib.sds import SDSSettings, sds_baseline
from itslib.settings import SETTING_KEYWORDS, Settings

if TYPE_CHECKING:  # only for annotations: worlds imports the library, not the reverse
    from itslib.worlds import World


@dataclass
class Method:
    """A compared method: ``settings`` (name -> value) over its defaults, and :meth:`run`."""

    name: ClassVar[str] = ""
    takes: ClassVar[frozenset[str]] = frozenset()  # the setting names it accepts
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.settings) - self.takes)
        if unknown:
            raise ValueError(f"{self.name} takes no setting {', '.join(unknown)}; its settings "
                             f"are: {', '.join(sorted(self.takes))}.")  # fmt: skip
        self.check()

    def check(self) -> None:
        """Raise ``ValueError`` for a value the method cannot take (before any work)."""

    def run(self, world: World, image_prompt: str, audio_prompt: str, seed: int = 0,
            progress: bool = False) -> Result:  # fmt: skip
        raise NotImplementedError

    def run_many(self, world: World, image_prompt: str, audio_prompt: str, seeds: list[int],
                 progress: bool = False) -> list[Result]:  # fmt: skip
        """One result per seed (a method that can batch them overrides this)."""
        return [self.run(world, image_prompt, audio_prompt, seed, progress) for seed in seeds]


class Joint(Method):
    """The joint sampler: ``settings`` are :class:`~itslib.settings.Settings` fields."""

    name = "joint"
    takes = SETTING_KEYWORDS - {"seed"}
    fixed: ClassVar[dict[str, Any]] = {}

    def check(self) -> None:
        Settings(**(self.settings | self.fixed)).check()

    def run(self, world, image_prompt, audio_prompt, seed=0, progress=False) -> Result:
        return self.run_many(world, image_prompt, audio_prompt, [seed], progress)[0]

    def run_many(self, world, image_prompt, audio_prompt, seeds, progress=False) -> list[Result]:
        """Each run of consecutive seeds is denoised together (sample k from seed + k)."""
        results: list[Result] = []
        for run in consecutive_runs(seeds):
            results += world.pipeline(image_prompt, audio_prompt, num_samples=len(run),
                                      seed=run[0], batch_size=len(run), progress=progress,
                                      **(self.settings | self.fixed))  # fmt: skip
        for result in results:
            result.params["method"] = self.name
        return results


class ImageOnly(Joint):
    """The image expert alone: the joint sampler with audio weight 0 and no warm start."""

    name = "image-only"
    fixed = {"audio_weight": 0.0, "image_start": 0.0}
    takes = Joint.takes - set(fixed)


class AudioOnly(Joint):
    """The audio expert alone: the joint sampler with audio weight 1."""

    name = "audio-only"
    fixed = {"audio_weight": 1.0}
    takes = Joint.takes - set(fixed)


IMPRINT_SETTINGS = frozenset(inspect.signature(imprint_many).parameters) - {
    "pipeline", "image_prompt", "audio_prompt", "picture", "sound", "seeds"}  # fmt: skip


class Imprint(Method):
    """Imprint (the paper's baseline): settings are :func:`imprint_many`'s keywords
    (``strength``, ``image_steps``, ``audio_steps``, guidance, canvas, vocoder), plus
    ``steps`` for both step counts at once."""

    name = "imprint"
    takes = IMPRINT_SETTINGS | {"steps"}

    def check(self) -> None:
        for name in ("steps", "image_steps", "audio_steps", "height", "width"):
            if self.settings.get(name) is not None:
                self.settings[name] = whole(self.settings[name], name)
        if "strength" in self.settings:
            self.settings["strength"] = number(self.settings["strength"], "strength", 0, 1)
        for name in ("image_guidance", "audio_guidance"):
            if self.settings.get(name) is not None:
                self.settings[name] = number(self.settings[name], name, low=0)

    def run(self, world, image_prompt, audio_prompt, seed=0, progress=False) -> Result:
        return self.run_many(world, image_prompt, audio_prompt, [seed], progress)[0]

    def run_many(self, world, image_prompt, audio_prompt, seeds, progress=False) -> list[Result]:
        """All seeds at once: each expert denoises every seed's start in one batch."""
        settings = dict(self.settings)
        if "steps" in settings:
            steps = settings.pop("steps")
            settings = {"image_steps": steps, "audio_steps": steps} | settings
        results = imprint_many(world.pipeline, image_prompt, audio_prompt, seeds=seeds,
                               **settings)  # fmt: skip
        for result in results:
            result.params["unet_evaluations"] = 2 * (result.params["image_steps"]
                                                     + result.params["audio_steps"])  # fmt: skip
        return results


SDS_SETTINGS = frozenset(f.name for f in fields(SDSSettings)) - {"seed", "extra"}


class SDS(Method):
    """Score distillation (the paper's other baseline): settings are
    :class:`~itslib.sds.SDSSettings` fields over the world's (:attr:`World.sds`),
    plus ``vocoder``. Given ``steps`` alone, the audio-only warm start keeps its share."""

    name = "sds"
    takes = SDS_SETTINGS | {"vocoder"}

    def check(self) -> None:
        if "steps" in self.settings:
            self.settings["steps"] = whole(self.settings["steps"], "steps")
        self.resolve_over(SDSSettings()).check()

    def resolve(self, world: World, seed: int = 0) -> SDSSettings:
        """The settings this run uses: the world's, with this method's over them."""
        return self.resolve_over(world.sds, seed)

    def resolve_over(self, base: SDSSettings, seed: int = 0) -> SDSSettings:
        given = {k: v for k, v in self.settings.items() if k != "vocoder"}
        if "steps" in given:  # the warm start (and snapshots) in proportion, unless given
            base = base.with_steps(given["steps"])
        return replace(base, seed=seed, **given)

    def run(self, world, image_prompt, audio_prompt, seed=0, progress=False) -> Result:
        settings = self.resolve(world, seed)
        result = sds_baseline(world.pipeline, image_prompt, audio_prompt, settings,
                              vocoder=self.settings.get("vocoder"), progress=progress)  # fmt: skip
        steps, warm = result.params["steps"], result.params["audio_only_steps"]
        image_calls = steps - warm if settings.image_weight > 0 else 0
        result.params["unet_evaluations"] = 2 * (steps + image_calls)  # CFG: batch 2 per call
        return result


def consecutive_runs(seeds: Sequence[int], size: int | None = None) -> list[list[int]]:
    """``[3, 4, 5, 9]`` -> ``[[3, 4, 5], [9]]``: seeds that can be drawn as one batch
    (sample k from seed + k), at most ``size`` to a run."""
    runs: list[list[int]] = []
    for seed in seeds:
        if runs and seed == runs[-1][-1] + 1 and (size is None or len(runs[-1]) < size):
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return runs


METHODS: dict[str, type[Method]] = {m.name: m for m in (Joint, ImageOnly, AudioOnly, Imprint, SDS)}


def make_method(name: str, **settings: Any) -> Method:
    """The method called ``name`` with ``settings`` (checked against what it takes)."""
    if name not in METHODS:
        raise ValueError(f"method={name!r} must be one of {', '.join(METHODS)}.")
    return METHODS[name](settings)
