"""The product-of-experts denoiser of *Images that Sound* (paper Sec. 3.2, Eq. 3-6).

One latent, several experts. At every step each *active* expert predicts the noise
in ``x_t`` with classifier-free guidance, the estimates are averaged with weights
that sum to one, and one scheduler step (DDIM by default) moves ``x_t`` to
``x_{t-1}``::

    eps = sum_k  w_k(i) * eps_k(x_t, t, prompt_k)          (Eq. 5)
    x_{t-1} = scheduler.step(eps, t, x_t)                   (Eq. 1)

Expert k is active from step ``round(start_k * N)`` of ``N`` on (the warm start,
Eq. 6); the weights of the active experts are renormalised to sum to one, so a lone
active expert gets weight 1. An inactive expert is not evaluated at all.

Variation comes in as small objects: a :class:`Term` says which expert, which prompt,
how strongly guided, with what weight and from when. :func:`image_audio_terms` builds
the paper's two-term setting from ``audio_weight``, ``image_start`` and
``audio_start``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch
from tqdm.auto import tqdm

from itslib.experts import Condition, Expert
from itslib.settings import Settings


@dataclass
class Term:
    """One expert's part in the product.

    ``guidance`` >= 0: its classifier-free guidance scale. ``weight`` >= 0: its share
    of the mixed noise while active, renormalised over the active terms. ``start`` in
    [0, 1): the share of the N steps before this expert joins (it is active from step
    ``round(start * N)`` on). The paper's values live in :class:`itslib.settings.Settings`
    (:func:`image_audio_terms` reads them); a Term states its own.
    """

    expert: Expert
    prompt: str
    guidance: float
    weight: float
    negative_prompt: str = ""
    start: float = 0.0
    condition: Condition | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.expert.name

    def first_step(self, num_steps: int) -> int:
        return round(self.start * num_steps)


@dataclass
class Step:
    """What happened at one step: the record the book's 'inside the sampler' chapter
    draws. Tensors are float32 on the CPU, shape (B, 4, h, w)."""

    index: int
    t: int
    x_t: torch.Tensor
    noise: dict[str, torch.Tensor]  # each active expert's guided estimate
    weights: dict[str, float]
    mixed: torch.Tensor
    x0: torch.Tensor  # predicted clean latent from the mixed estimate

    def one(self, i: int) -> Step:
        """The record of sample ``i`` of a batch (tensors (1, 4, h, w))."""
        pick = slice(i, i + 1)
        return replace(self, x_t=self.x_t[pick], mixed=self.mixed[pick], x0=self.x0[pick],
                       noise={name: value[pick] for name, value in self.noise.items()})


@dataclass
class SampleOutput:
    latents: torch.Tensor  # the clean latent x_0, (B, 4, h, w), float32 on the CPU
    unet_calls: dict[str, int]  # batched UNet calls per expert
    trajectory: list[Step] = field(default_factory=list)

    @property
    def unet_evaluations(self) -> int:
        """Sample evaluations per latent: each call evaluates uncond and cond."""
        return 2 * sum(self.unet_calls.values())


def step_weights(terms: Sequence[Term], index: int, num_steps: int) -> dict[int, float]:
    """Weights of the active terms at step ``index`` of ``num_steps`` (Eq. 6).

    Returns ``{term position: weight}`` for the terms that must be evaluated: active
    ones with a positive weight, renormalised to sum to one. When every active term
    has weight 0 they share equally (so a lone active expert always gets 1).
    """
    active = [k for k, term in enumerate(terms) if index >= term.first_step(num_steps)]
    if not active:
        raise ValueError(
            f"no expert is active at step {index}: at least one start must be 0 "
            "(e.g. audio_start=0.0)."
        )
    total = sum(terms[k].weight for k in active)
    if total <= 0:
        return {k: 1.0 / len(active) for k in active}
    return {k: terms[k].weight / total for k in active if terms[k].weight > 0}


def check_terms(terms: Sequence[Term], num_steps: int) -> None:
    """Clear errors for settings that cannot work (named after the parameters)."""
    if not terms:
        raise ValueError("terms is empty: give at least one expert.")
    if num_steps < 1:
        raise ValueError(f"steps={num_steps} must be >= 1.")
    for term in terms:
        if not 0.0 <= term.start < 1.0:
            raise ValueError(
                f"{term.name}_start={term.start} must be in [0, 1) (the share of steps "
                "before that expert joins)."
            )
        if not (term.weight >= 0.0 and math.isfinite(term.weight)):
            raise ValueError(f"the {term.name} weight {term.weight} must be >= 0.")
        if not (term.guidance >= 0.0 and math.isfinite(term.guidance)):
            raise ValueError(f"{term.name}_guidance={term.guidance} must be >= 0.")
    if min(term.first_step(num_steps) for term in terms) > 0:
        raise ValueError(
            "no expert is active at step 0: set image_start or audio_start to 0 "
            f"(got starts {[term.start for term in terms]})."
        )


def image_audio_terms(image_expert: Expert, audio_expert: Expert,
                      settings: Settings) -> list[Term]:  # fmt: skip
    """The paper's two terms from one :class:`~itslib.settings.Settings` (its prompts,
    guidance scales, ``audio_weight`` and starts): weights (1 - audio_weight,
    audio_weight); the image expert joins after ``image_start`` of the steps, the audio
    expert after ``audio_start``. The paper's values are Settings' defaults (a 10%
    audio-only warm start, guidance 10 / 10); :func:`check_terms` checks the terms."""
    return [
        Term(image_expert, settings.image_prompt, settings.image_guidance,
             1.0 - settings.audio_weight, settings.negative_image_prompt,
             settings.image_start),
        Term(audio_expert, settings.audio_prompt, settings.audio_guidance,
             settings.audio_weight, settings.negative_audio_prompt, settings.audio_start),
    ]  # fmt: skip


def predicted_x0(scheduler, x_t: torch.Tensor, noise: torch.Tensor, t) -> torch.Tensor:
    """x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), for epsilon-prediction models."""
    alpha_bar = scheduler.alphas_cumprod[int(t)].to(x_t.device, torch.float32)
    return (x_t.float() - (1 - alpha_bar).sqrt() * noise.float()) / alpha_bar.sqrt()


def sample(
    terms: Sequence[Term],
    scheduler,
    latents: torch.Tensor,
    num_steps: int,
    eta: float = 0.0,
    first_step: int = 0,
    noised: bool = False,
    generator: torch.Generator | None = None,
    capture: bool = False,
    callback: Callable[[Step], None] | None = None,
    progress: bool = True,
) -> SampleOutput:
    """Denoise ``latents`` with the product of the experts in ``terms``.

    Args:
        terms: the experts with their prompts, guidance, weights and starts.
        scheduler: a diffusers scheduler (DDIM, DPM-Solver++, ...) whose config
            matches the experts' training schedule.
        latents: the start (B, 4, h, w): pure N(0, I) noise, scaled here by the
            scheduler's ``init_noise_sigma`` (1 for DDIM, about 14.6 for Euler), as
            diffusers does; or, with ``noised``, a clean latent already noised to the
            level of ``timesteps[first_step]`` by ``scheduler.add_noise`` (image-to-image),
            used as it is.
        num_steps: N, the number of scheduler steps.
        eta: DDIM's stochasticity (0: deterministic); passed only to schedulers
            whose ``step`` accepts it.
        first_step: skip the first steps (image-to-image starts); warm-start
            thresholds still count from step 0 of N.
        noised: ``latents`` is a noised clean latent, not pure noise (see above).
        capture / callback: record (or hand to ``callback``) a :class:`Step` per step.
        progress: show a tqdm bar.

    Returns:
        :class:`SampleOutput` with the clean latent, UNet call counts and, with
        ``capture``, the trajectory.
    """
    check_terms(terms, num_steps)
    if not torch.isfinite(latents).all():
        raise ValueError("latents contain NaN or infinite values; draw them with torch.randn.")
    # The latent and the scheduler's arithmetic stay in fp32 whatever the experts'
    # precision (fp16 or bf16 rounding would add up over the steps); each expert casts
    # its own input.
    device = terms[0].expert.device
    step_kwargs = {}
    accepted = inspect.signature(scheduler.step).parameters
    if "eta" in accepted:
        step_kwargs["eta"] = eta
    if "generator" in accepted:
        step_kwargs["generator"] = generator

    # 1. Encode each expert's prompt pair once (unless the caller already did, for all
    #    of its samples).
    for term in terms:
        if term.condition is None:
            term.condition = term.expert.condition(term.prompt, term.negative_prompt)

    # 2. Prepare the timesteps and the starting latent.
    scheduler.set_timesteps(num_steps, device=device)
    if first_step and hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(first_step)  # as diffusers' image-to-image pipelines do
    timesteps = scheduler.timesteps
    x = latents.to(device, torch.float32)
    if not noised:
        x = x * scheduler.init_noise_sigma
    calls = {term.name: 0 for term in terms}
    trajectory: list[Step] = []

    # 3. The denoising loop.
    with torch.inference_mode():
        for i in tqdm(range(first_step, len(timesteps)), disable=not progress, desc="denoising"):
            t = timesteps[i]
            weights = step_weights(terms, i, num_steps)
            x_in = scheduler.scale_model_input(x, t)
            noise = {}
            for k in weights:
                term = terms[k]
                noise[term.name] = term.expert.predict_noise(x_in, t, term.condition, term.guidance)
                calls[term.name] += 1
            mixed = sum(weights[k] * noise[terms[k].name].float() for k in weights)
            if capture or callback is not None:
                record = Step(
                    index=i,
                    t=int(t),
                    x_t=x.float().cpu(),
                    noise={name: value.float().cpu() for name, value in noise.items()},
                    weights={terms[k].name: weights[k] for k in weights},
                    mixed=mixed.float().cpu(),
                    x0=predicted_x0(scheduler, x, mixed, t).cpu(),
                )
                if capture:
                    trajectory.append(record)
                if callback is not None:
                    callback(record)
            x = scheduler.step(mixed, t, x, **step_kwargs).prev_sample

    # 4. Done: the clean latent.
    return SampleOutput(latents=x.float().cpu(), unet_calls=calls, trajectory=trajectory)
