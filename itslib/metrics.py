"""Judges: how well a spectrogram looks like its image prompt and sounds like its audio prompt.

- :class:`CLIPJudge`: the paper's CLIP score. Square windows (side H, stride H/8) slide
  over the spectrogram picture; each is compared with the image prompt; the score is
  the mean over windows of max(cosine, 0) x 100 (25 windows on a 256 x 1024 picture).
- :class:`CLAPJudge`: the paper's CLAP score. The waveform is resampled to 48 kHz and
  peak-normalised; the score is max(cosine(audio, text), 0) x 100.
- :class:`MiniJudge`: the miniature world's judges behind the same interface; the score
  is the probability of the prompted class x 100, and p >= 0.5 counts as accepted.
- :func:`score_results`, :func:`mean_ci`, :func:`rerank`: scoring, intervals, picking.
- Frechet distances between folders of samples (FID, FAD): :mod:`itslib.fidelity`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from itslib._hub import REAL_MODELS, ModelUnavailableError, is_local, unavailable_message
from itslib._hub import model_id as real_model_id
from itslib.audio import peak_normalize
from itslib.checks import whole

CLIP_ID = REAL_MODELS["clip"].hub_id
CLAP_ID = REAL_MODELS["clap"].hub_id
CLAP_RATE = 48000
ACCEPT = 50.0  # a miniature judge accepts a sample when p >= 0.5, i.e. score >= 50
_J = TypeVar("_J", bound="_HubJudge")


class PictureJudge(Protocol):
    """Anything that scores pictures against image prompts, higher is better, in [0, 100]."""

    def score_pictures(self, pictures: Any, prompts: str | Sequence[str]) -> np.ndarray: ...


class SoundJudge(Protocol):
    """Anything that scores waveforms against audio prompts, higher is better, in [0, 100]."""

    def score_sounds(
        self, waveforms: Any, sample_rate: int, prompts: str | Sequence[str]
    ) -> np.ndarray: ...


def _device(device: str | torch.device | None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def _prompt_list(prompts: str | Sequence[str], n: int, name: str = "prompts") -> list[str]:
    """One prompt per sample: a single string is repeated; a list must have length n."""
    if isinstance(prompts, str):
        return [prompts] * n
    prompts = list(prompts)
    if len(prompts) != n:
        raise ValueError(
            f"{name} has {len(prompts)} entries but there are {n} samples; pass one prompt "
            "per sample (or a single string for all of them)."
        )
    if not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"{name} must be strings, got {[type(p).__name__ for p in prompts]}.")
    return prompts


def _as_array(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    array = np.asarray(x, dtype=np.float32)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return array


def _batch(items: Any, single_ndim: int, name: str) -> list[np.ndarray]:
    """A list of arrays from a list, or from one array with a leading batch axis."""
    if isinstance(items, (np.ndarray, torch.Tensor)):
        array = _as_array(items, name)
        batch = [array] if array.ndim == single_ndim else list(array)
    else:
        batch = [_as_array(item, f"{name}[{i}]") for i, item in enumerate(items)]
    if not batch:
        raise ValueError(f"{name} is empty; pass at least one sample.")
    return batch


def _features(output: Any) -> torch.Tensor:
    """Embeddings from get_*_features (a tensor in transformers 4, an output object in 5)."""
    features = output.pooler_output if hasattr(output, "pooler_output") else output
    return torch.nn.functional.normalize(features.float(), dim=-1)


def clamped_score(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """max(cosine(a_i, b_i), 0) x 100 for rows of a and b (N, D): values in [0, 100]."""
    cosine = torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)
    return cosine.clamp(min=0) * 100


class _HubJudge:
    """A transformers model + processor pair that embeds prompts; CLIP and CLAP judges."""

    role, default_batch, model_class, processor_class = "", 16, "", ""

    def __init__(
        self,
        model: Any,
        processor: Any,
        device: str | torch.device | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.device = _device(device)
        self.model, self.processor = model.to(self.device).eval().requires_grad_(False), processor
        self.batch_size = batch_size or self.default_batch

    @classmethod
    def from_pretrained(
        cls: type[_J],
        id_or_folder: str | None = None,
        device: str | torch.device | None = None,
        batch_size: int | None = None,
    ) -> _J:
        """Load the model and processor from a hub id or a local folder (``None``: this
        judge's ``ITSLIB_*_MODEL`` variable if set, else its hub id);
        :class:`ModelUnavailableError` naming the model and the fix when offline."""
        import transformers

        name = str(id_or_folder or real_model_id(cls.role))
        local = is_local(name)
        path = str(Path(name).expanduser()) if local else name
        if local and not Path(path).is_dir():
            raise ModelUnavailableError(unavailable_message(name, f"no folder {path}"))
        kwargs = {"local_files_only": True} if local else {}
        try:
            model = getattr(transformers, cls.model_class).from_pretrained(path, **kwargs)
            processor = getattr(transformers, cls.processor_class).from_pretrained(path, **kwargs)
        except (OSError, ValueError) as err:
            reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
            raise ModelUnavailableError(unavailable_message(name, reason)) from err
        return cls(model, processor, device, batch_size)

    @torch.no_grad()
    def embed_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """Unit text embeddings (P, D) of the prompts."""
        tokens = self.processor.tokenizer(
            list(prompts), padding=True, truncation=True, return_tensors="pt"
        )
        return _features(self.model.get_text_features(**tokens.to(self.device)))

    def _prompt_embeddings(self, prompts: list[str]) -> torch.Tensor:
        """(len(prompts), D): each distinct prompt is embedded once."""
        unique = sorted(set(prompts))
        return self.embed_text(unique)[[unique.index(p) for p in prompts]]


def clip_windows(height: int, width: int) -> list[tuple[int, int]]:
    """Column ranges (x0, x1) of the square windows the CLIP score looks at.

    Side ``height``, stride ``height // 8``, from x = 0 while the window fits:
    a 256 x 1024 picture gives x0 = 0, 32, ..., 768 (25 windows).
    """
    if height < 8 or width < height:
        raise ValueError(
            f"a picture of {height} x {width} has no {height} x {height} window; the CLIP score "
            "needs width >= height >= 8 (e.g. a 256 x 1024 spectrogram)."
        )
    stride = height // 8
    return [(x, x + height) for x in range(0, width - height + 1, stride)]


class CLIPJudge(_HubJudge):
    """The CLIP score of spectrogram pictures against image prompts (the paper's metric).

    ``CLIPJudge.from_pretrained(id_or_folder=CLIP_ID, device=None, batch_size=64)``; on a
    GPU when there is one; ``batch_size`` windows go through CLIP at a time.
    """

    role, default_batch = "clip", 64
    model_class, processor_class = "CLIPModel", "CLIPProcessor"

    @staticmethod
    def windows(picture: Any) -> list[tuple[int, int]]:
        """The (x0, x1) column ranges of the windows of ``picture`` (H, W) or (H, W, 3)."""
        shape = np.shape(picture)
        return clip_windows(shape[0], shape[1])

    @torch.no_grad()
    def embed_images(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """Unit image embeddings (N, D) of uint8 RGB images (S, S, 3), ``batch_size`` at a time."""
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = list(images[start : start + self.batch_size])
            pixels = self.processor.image_processor(images=chunk, return_tensors="pt")
            pixels = pixels["pixel_values"].to(self.device, self.model.dtype)
            out.append(_features(self.model.get_image_features(pixel_values=pixels)))
        return torch.cat(out)

    def score(self, pictures: Any, prompts: str | Sequence[str]) -> np.ndarray:
        """CLIP scores (B,) in [0, 100] of pictures against image prompts.

        Args:
            pictures: gray (B, H, W) or RGB (B, H, W, 3) in [0, 1] (numpy or torch), or a
                list of (H, W) / (H, W, 3) pictures of any widths >= H.
            prompts: one image prompt per picture, or one string for all.
        """
        pictures = _batch(pictures, 2, "pictures")
        prompts = _prompt_list(prompts, len(pictures))
        windows, owner = [], []
        for i, picture in enumerate(pictures):
            if picture.ndim == 2:
                picture = np.repeat(picture[..., None], 3, axis=-1)
            if picture.ndim != 3 or picture.shape[-1] != 3:
                raise ValueError(f"pictures[{i}] must be (H, W) or (H, W, 3), got {picture.shape}.")
            rgb = np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)  # as CLIP reads files
            for x0, x1 in self.windows(picture):
                windows.append(np.ascontiguousarray(rgb[:, x0:x1]))
                owner.append(i)
        text = self._prompt_embeddings([prompts[i] for i in owner])
        per_window = clamped_score(self.embed_images(windows), text).cpu().numpy()
        owner = np.asarray(owner)
        return np.array([per_window[owner == i].mean() for i in range(len(pictures))])

    score_pictures = score


def resample_to_48k(waveform: Any, sample_rate: int) -> np.ndarray:
    """A mono waveform (N,) at ``sample_rate`` resampled to CLAP's 48 kHz (librosa):
    16000 samples at 16 kHz become 48000."""
    import librosa

    wav = _as_array(waveform, "waveform")
    if wav.ndim != 1 or wav.size == 0:
        raise ValueError(f"waveform must be a non-empty mono array (N,), got shape {wav.shape}.")
    if sample_rate <= 0:
        raise ValueError(f"sample_rate={sample_rate} must be a positive number of Hz.")
    if sample_rate == CLAP_RATE:
        return wav
    return librosa.resample(wav, orig_sr=sample_rate, target_sr=CLAP_RATE).astype(np.float32)


class CLAPJudge(_HubJudge):
    """The CLAP score of waveforms against audio prompts (the paper's metric).

    ``CLAPJudge.from_pretrained(id_or_folder=CLAP_ID, device=None, batch_size=16)``.
    """

    role, default_batch = "clap", 16
    model_class, processor_class = "ClapModel", "ClapProcessor"

    def prepare(self, waveform: Any, sample_rate: int) -> np.ndarray:
        """What CLAP hears: 48 kHz, peak 1.0 (as the paper's code), and, when longer than the
        model's window (10 s), its centre (the hub's ``rand_trunc`` would pick a random crop)."""
        wav = peak_normalize(resample_to_48k(waveform, sample_rate), 1.0)
        extractor = self.processor.feature_extractor
        limit = int(extractor.nb_max_samples)
        if extractor.truncation == "rand_trunc" and wav.size > limit:
            start = (wav.size - limit) // 2
            wav = wav[start : start + limit]
        return wav

    @torch.no_grad()
    def embed_audio(self, waveforms: Any, sample_rate: int) -> torch.Tensor:
        """Unit audio embeddings (B, D) of waveforms (B, N) or a list of (N,) at ``sample_rate``."""
        wavs = [self.prepare(w, sample_rate) for w in _batch(waveforms, 1, "waveforms")]
        out = []
        for start in range(0, len(wavs), self.batch_size):
            inputs = self.processor.feature_extractor(
                wavs[start : start + self.batch_size], sampling_rate=CLAP_RATE, return_tensors="pt"
            )
            features = inputs["input_features"].to(self.device, self.model.dtype)
            is_longer = inputs.get("is_longer")
            is_longer = is_longer.to(self.device) if is_longer is not None else None
            out.append(_features(self.model.get_audio_features(features, is_longer=is_longer)))
        return torch.cat(out)

    def score(self, waveforms: Any, sample_rate: int, prompts: str | Sequence[str]) -> np.ndarray:
        """CLAP scores (B,) in [0, 100] of waveforms (B, N) or a list of (N,) against prompts."""
        audio = self.embed_audio(waveforms, sample_rate)
        text = self._prompt_embeddings(_prompt_list(prompts, len(audio)))
        return clamped_score(audio, text).cpu().numpy()

    score_sounds = score


def accepted(scores: Any, threshold: float = ACCEPT) -> np.ndarray:
    """Boolean (B,): which miniature-judge scores (p x 100) reach ``threshold`` (p >= 0.5)."""
    return np.asarray(scores, dtype=float) >= threshold


def score_results(
    results: Sequence[Any], picture_judge: PictureJudge, sound_judge: SoundJudge
) -> list[dict[str, float]]:
    """Score :class:`itslib.results.Result` objects: ``[{"picture_score", "sound_score"}]``.

    The picture judge sees each ``result.spectrogram`` with ``params["image_prompt"]``; the
    sound judge hears ``result.waveform`` at ``result.sample_rate`` with
    ``params["audio_prompt"]``. Works with CLIP/CLAP judges and with :class:`MiniJudge`.
    """
    results = list(results)
    if not results:
        raise ValueError("results is empty; pass at least one Result to score.")
    prompts: dict[str, list[str]] = {"image_prompt": [], "audio_prompt": []}
    for i, result in enumerate(results):
        if not all(hasattr(result, name) for name in ("params", "spectrogram", "waveform")):
            raise ValueError(f"results[{i}] is a {type(result).__name__}, not a Result (what "
                             "a pipeline or a method returns; for saved sample folders use "
                             "itslib.sweep.score_folder).")  # fmt: skip
        for key, found in prompts.items():
            value = result.params.get(key)
            if not isinstance(value, str):
                raise ValueError(f"results[{i}].params has no {key!r} string; cannot score it.")
            found.append(value)
    pictures = [r.spectrogram for r in results]
    picture_scores = picture_judge.score_pictures(pictures, prompts["image_prompt"])
    sound_scores = np.zeros(len(results))
    for rate in sorted({int(r.sample_rate) for r in results}):
        idx = [i for i, r in enumerate(results) if int(r.sample_rate) == rate]
        sound_scores[idx] = sound_judge.score_sounds(
            [results[i].waveform for i in idx], rate, [prompts["audio_prompt"][i] for i in idx]
        )
    return [
        {"picture_score": float(p), "sound_score": float(s)}
        for p, s in zip(picture_scores, sound_scores, strict=True)
    ]


@dataclass(frozen=True)
class Judges:
    """A world's two judges and how to read them: CLIP + CLAP (no acceptance threshold,
    scores in [0, 100]) or the miniature judges (p x 100, accepted at 50)."""

    picture: PictureJudge
    sound: SoundJudge
    threshold: float | None = None  # a score at or above it is accepted; None: no threshold
    scale: float = 1.0  # tables show score / scale (the miniature judges: p x 100 -> p)
    unit: str = "score"

    def score(self, results: Sequence[Any]) -> list[dict[str, float]]:
        """:func:`score_results` plus ``both_accept`` (1.0 / 0.0; NaN without a threshold)."""
        rows = score_results(results, self.picture, self.sound)
        for row in rows:
            both = (row["picture_score"] >= self.threshold and row["sound_score"] >= self.threshold
                    if self.threshold is not None else math.nan)  # fmt: skip
            row["both_accept"] = float(both)
        return rows


def mean_ci(values: Any) -> tuple[float, float]:
    """(mean, half-width) of a 95% interval: 1.96 x sample std (ddof=1) / sqrt(n).

    With one value the half-width is ``nan``: one sample says nothing about spread.
    """
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise ValueError("values is empty; mean_ci needs at least one value.")
    if not np.all(np.isfinite(array)):
        raise ValueError("values contains NaN or infinite entries.")
    if array.size == 1:
        return float(array[0]), math.nan
    return float(array.mean()), float(1.96 * array.std(ddof=1) / math.sqrt(array.size))


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each sample, 0 = best (highest score); ties keep the index order."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=int)
    ranks[order] = np.arange(len(scores))
    return ranks


def rerank(
    picture_scores: Any, sound_scores: Any, top_fraction: float = 0.25, by: str = "both"
) -> np.ndarray:
    """Indices of the samples to keep, best first.

    k = ceil(top_fraction x n) (at least 1). ``by="picture"`` or ``"sound"``: the k best by
    that score. ``by="both"``: samples in the top k by both scores (as the paper's code
    picks), ordered by the sum of their two ranks. If no sample is in both top sets, the
    single sample with the best rank sum is returned, with a warning.
    """
    pictures = np.asarray(picture_scores, dtype=float).ravel()
    sounds = np.asarray(sound_scores, dtype=float).ravel()
    if pictures.size != sounds.size or pictures.size == 0:
        raise ValueError(
            f"picture_scores ({pictures.size}) and sound_scores ({sounds.size}) must "
            "be non-empty and of the same length."
        )
    if not (np.all(np.isfinite(pictures)) and np.all(np.isfinite(sounds))):
        raise ValueError("scores contain NaN or infinite values.")
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction={top_fraction} must be in (0, 1].")
    if by not in ("both", "picture", "sound"):
        raise ValueError(f"by={by!r} must be 'both', 'picture' or 'sound'.")
    k = max(1, math.ceil(top_fraction * pictures.size))
    rank_p, rank_s = _ranks(pictures), _ranks(sounds)
    if by != "both":
        return np.argsort(rank_p if by == "picture" else rank_s, kind="stable")[:k]
    keep = np.flatnonzero((rank_p < k) & (rank_s < k))
    if keep.size == 0:
        warnings.warn(
            f"no sample is in the top {k} by both scores; returning the one with the "
            "best sum of ranks.",
            stacklevel=2,
        )
        keep = np.arange(pictures.size)
        return keep[np.argsort(rank_p + rank_s, kind="stable")][:1]
    return keep[np.argsort((rank_p + rank_s)[keep], kind="stable")]


def keep_best(results: Sequence[Any], judges: Judges, keep: int) -> tuple[list[Any], str]:
    """The paper's re-ranking: score ``results`` with ``judges`` and keep the ``keep`` best
    by both scores (the lowest sum of their picture-score and sound-score ranks, ties by
    order), best first. Each result's ``params`` gets ``picture_score``, ``sound_score``
    and ``rank`` (0 = best of all); returns the kept results and a Markdown ranking of all.
    """
    results = list(results)
    keep = whole(keep, "keep", 1, len(results), note="at most the number of samples drawn")
    rows = judges.score(results)
    pictures = np.array([row["picture_score"] for row in rows])
    sounds = np.array([row["sound_score"] for row in rows])
    order = np.argsort(_ranks(pictures) + _ranks(sounds), kind="stable")
    lines = ["| rank | seed | picture score | sound score | kept |", "|---|---|---|---|---|"]
    for rank, i in enumerate(order):
        results[i].params |= {"picture_score": round(float(pictures[i]), 3),
                              "sound_score": round(float(sounds[i]), 3), "rank": rank}
        lines.append(f"| {rank} | {results[i].params.get('seed', i)} | {pictures[i]:.1f} | "
                     f"{sounds[i]:.1f} | {'yes' if rank < keep else ''} |")  # fmt: skip
    table = f"Scores: {judges.unit}; ranked by the sum of both ranks.\n\n" + "\n".join(lines)
    return [results[i] for i in order[:keep]], table + "\n"
