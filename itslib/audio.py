"""Sound as a picture and back: the Auffusion spectrogram, exactly.

The data's path in this module::

    waveform --wav_to_logmel--> log-mel --logmel_to_picture--> picture in [0, 1]
    picture --picture_to_logmel--> log-mel --griffin_lim / HiFiGAN--> waveform

Conventions (Auffusion's, see ``MelConfig``): 16 kHz audio, an STFT with a 1024-sample
Hann window inside a 2048-point FFT, hop 160 (100 frames a second), 256 mel bins
from 0 to 8 kHz, natural log with a 1e-5 floor. A picture is the log-mel mapped
linearly from [ln 1e-5, ln 200] onto [0, 1] and flipped so low frequencies sit at
the bottom. The HiFi-GAN vocoder lives in :mod:`itslib.hifigan`; reading the reader's
pictures and recordings, and writing waveforms, in :mod:`itslib.files`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch


@dataclass(frozen=True)
class MelConfig:
    """Parameters of the log-mel spectrogram. The defaults are Auffusion's.

    ``log_floor`` and ``log_ceiling`` are the mel magnitudes that map to 0 and 1 in
    the picture; ``peak`` is the level input audio is normalised to before analysis.
    """

    sample_rate: int = 16000
    n_fft: int = 2048
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 256
    fmin: float = 0.0
    fmax: float = 8000.0
    log_floor: float = 1e-5
    log_ceiling: float = 200.0
    peak: float = 0.95

    def __post_init__(self) -> None:
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length={self.win_length} must be <= n_fft={self.n_fft}.")
        if (self.n_fft - self.hop_length) % 2:
            raise ValueError(
                f"n_fft - hop_length = {self.n_fft - self.hop_length} must be even "
                "(the signal is reflect-padded by half of it on each side)."
            )
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= fmin < fmax <= sample_rate / 2, got fmin={self.fmin}, "
                f"fmax={self.fmax}, sample_rate={self.sample_rate}."
            )

    @property
    def pad(self) -> int:
        """Samples of reflect padding on each side before the (non-centred) STFT."""
        return (self.n_fft - self.hop_length) // 2

    def frames(self, num_samples: int) -> int:
        """Number of spectrogram frames for a waveform of ``num_samples``."""
        return 1 + (num_samples + 2 * self.pad - self.n_fft) // self.hop_length

    def seconds(self, frames: int) -> float:
        """Duration in seconds of ``frames`` spectrogram columns."""
        return frames * self.hop_length / self.sample_rate

    def to_dict(self) -> dict:
        return asdict(self)


AUFFUSION = MelConfig()
AUFFUSION_CANVAS = (AUFFUSION.n_mels, 1024)  # Auffusion's spectrogram: 256 mel bins x 10.24 s

SILENCE = 1e-4
"""Peak level (-80 dBFS) at or below which a waveform counts as silence: it is not
amplified by :func:`peak_normalize`. A blank spectrogram (all at the log floor) plays
back through Griffin-Lim at about 2e-5."""

_LOADERS = {"wav": "load_audio(path)", "picture": "load_picture(path, height)"}  # in itslib.files


def _check_finite(array: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; clean the input first.")


def _as_numpy(x, name: str) -> np.ndarray:
    if isinstance(x, (str, bytes, os.PathLike)):
        loader = _LOADERS.get(name)
        how = f" with itslib.files.{loader}" if loader else ""
        raise ValueError(f"{name} is a file path ({x!r}), not an array; load the file first{how}.")
    if x is None:
        raise ValueError(f"{name} is None; pass an array of numbers.")
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float32).numpy()
    try:
        array = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be an array of numbers, got {type(x).__name__}.") from err
    _check_finite(array, name)
    return array


def check_picture(picture, name: str = "picture") -> np.ndarray:
    """A picture (H, W) or (H, W, C) in [0, 1] as float32, or a ``ValueError`` that names
    ``name``: NaN or infinite values, or values outside [0, 1] (e.g. 0-255 pixels)."""
    array = _as_numpy(picture, name)
    if array.ndim not in (2, 3) or array.size == 0:
        raise ValueError(f"{name} has shape {array.shape}; expected (H, W) or (H, W, C).")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        hint = " (it looks like 0-255 pixels: divide by 255)" if high > 1.0 and high <= 255 else ""
        raise ValueError(f"{name} has values in [{low:g}, {high:g}]; it must be in [0, 1]{hint}.")
    return array


@lru_cache(maxsize=8)
def mel_basis(config: MelConfig = AUFFUSION) -> np.ndarray:
    """librosa's Slaney mel filterbank, shape (n_mels, n_fft // 2 + 1), float32."""
    import librosa

    return librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    ).astype(np.float32)


def wav_to_logmel(
    wav,
    config: MelConfig = AUFFUSION,
    sample_rate: int | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Log-mel spectrogram of a mono waveform, Auffusion's way.

    Args:
        wav: mono waveform, shape (samples,), floats (numpy or torch).
        config: spectrogram parameters.
        sample_rate: the waveform's rate, checked against ``config.sample_rate``
            (resample first with :func:`load_audio` or ``librosa.resample``).
        normalize: scale the waveform to peak ``config.peak`` first, as
            Auffusion does with its inputs (silence, see :data:`SILENCE`, is left
            as it is). Turn off to keep the level as it is.

    Returns:
        float32 array (n_mels, frames) of ln(max(mel, log_floor)); row 0 is the
        lowest frequency; frames = samples // hop for whole hops.
    """
    if sample_rate is not None and sample_rate != config.sample_rate:
        raise ValueError(
            f"sample_rate={sample_rate} but the spectrogram expects {config.sample_rate} Hz; "
            f"resample first (itslib.files.load_audio does it)."
        )
    wav = _as_numpy(wav, "wav")
    if wav.ndim != 1:
        raise ValueError(f"wav must be mono with shape (samples,), got shape {wav.shape}.")
    if wav.size < config.hop_length:
        raise ValueError(
            f"wav has {wav.size} samples; need at least hop_length={config.hop_length}."
        )
    if normalize:
        wav = peak_normalize(wav, config.peak)

    signal = torch.from_numpy(np.ascontiguousarray(wav))[None, None]
    mode = "reflect" if wav.size > config.pad else "constant"
    signal = torch.nn.functional.pad(signal, (config.pad, config.pad), mode=mode)[0, 0]
    spec = _stft(signal, config)
    magnitude = torch.sqrt(spec.real**2 + spec.imag**2 + 1e-9)
    mel = torch.from_numpy(mel_basis(config)) @ magnitude
    return torch.log(torch.clamp(mel, min=config.log_floor)).numpy()


def logmel_to_picture(logmel, config: MelConfig = AUFFUSION) -> np.ndarray:
    """Map a log-mel (n_mels, frames) to a picture (n_mels, frames) in [0, 1].

    Linear from [ln log_floor, ln log_ceiling] onto [0, 1]; values outside are
    clamped (so louder-than-ceiling bins all become white). The rows are flipped:
    row 0 of the picture is the highest frequency, as a spectrogram is drawn.
    """
    logmel = _as_numpy(logmel, "logmel")
    if logmel.ndim != 2:
        raise ValueError(f"logmel must have shape (n_mels, frames), got {logmel.shape}.")
    low, high = math.log(config.log_floor), math.log(config.log_ceiling)
    picture = np.clip((logmel - low) / (high - low), 0.0, 1.0)
    return np.ascontiguousarray(picture[::-1]).astype(np.float32)


def picture_to_logmel(picture, config: MelConfig = AUFFUSION) -> np.ndarray:
    """Inverse of :func:`logmel_to_picture`.

    Accepts (H, W), (1, H, W) or (3, H, W) in [0, 1] (channels are averaged, as the
    paper's reference does), flips back so row 0 is the lowest frequency, and maps
    [0, 1] onto [ln log_floor, ln log_ceiling]. Values outside [0, 1] are clamped.
    """
    picture = _as_numpy(picture, "picture")
    if picture.ndim == 3 and picture.shape[0] in (1, 3):
        picture = picture.mean(axis=0)
    if picture.ndim != 2:
        raise ValueError(
            f"picture must have shape (H, W), (1, H, W) or (3, H, W), got {picture.shape}."
        )
    low, high = math.log(config.log_floor), math.log(config.log_ceiling)
    picture = np.clip(picture, 0.0, 1.0)[::-1]
    return np.ascontiguousarray(picture * (high - low) + low).astype(np.float32)


def _stft(signal: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """The non-centred STFT (periodic Hann of win_length inside n_fft), complex:
    (..., samples) -> (..., n_fft // 2 + 1, frames)."""
    return torch.stft(signal, n_fft=config.n_fft, hop_length=config.hop_length,
                      win_length=config.win_length, window=torch.hann_window(config.win_length),
                      center=False, return_complex=True)  # fmt: skip


@lru_cache(maxsize=8)
def _inverse_mel(config: MelConfig) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The mel basis A (n_mels, F), its pseudo-inverse (F, n_mels) and 1 / ||A||^2."""
    basis = torch.from_numpy(mel_basis(config)).double()
    step = 1.0 / float(torch.linalg.matrix_norm(basis, ord=2)) ** 2
    return basis.float(), torch.linalg.pinv(basis).float(), step


def mel_to_magnitude(mel: torch.Tensor, config: MelConfig = AUFFUSION, n_iter: int = 30):
    """Linear magnitudes (..., n_fft // 2 + 1, frames) >= 0 whose mel projection is
    closest to ``mel`` (..., n_mels, frames): the least-squares solution clipped at
    zero, then ``n_iter`` projected-gradient steps (the problem librosa's
    ``mel_to_stft`` solves with its NNLS, here batched and a hundred times faster)."""
    basis, inverse, step = _inverse_mel(config)
    magnitude = (inverse @ mel).clamp_min(0)
    for _ in range(n_iter):
        magnitude = (magnitude - step * basis.T @ (basis @ magnitude - mel)).clamp_min(0)
    return magnitude


def _istft(spec: torch.Tensor, config: MelConfig) -> torch.Tensor:
    """Inverse of the non-centred STFT: (B, F, frames) -> (B, n_fft + hop (frames - 1)),
    by windowed overlap-add divided by the summed squared window (librosa's way).
    Only the window's support (win_length samples centred in n_fft) is added."""
    window, frames = torch.hann_window(config.win_length), spec.shape[-1]
    left = (config.n_fft - config.win_length) // 2
    right = config.n_fft - config.win_length - left
    fold = {"output_size": (1, config.win_length + config.hop_length * (frames - 1)),
            "kernel_size": (1, config.win_length), "stride": (1, config.hop_length)}  # fmt: skip
    pieces = torch.fft.irfft(spec, n=config.n_fft, dim=-2)[:, left : left + config.win_length]
    wav = torch.nn.functional.fold(pieces * window[:, None], **fold).flatten(1)
    weight = torch.nn.functional.fold((window**2)[None, :, None].expand(1, -1, frames), **fold)
    wav = wav / torch.where(weight > 1e-8, weight, torch.ones_like(weight)).flatten()
    return torch.nn.functional.pad(wav, (left, right))


def griffin_lim(
    logmel, config: MelConfig = AUFFUSION, n_iter: int = 32, seed: int = 0, momentum: float = 0.99
) -> np.ndarray:
    """Waveform(s) from log-mel(s) by fast Griffin-Lim phase reconstruction, batched.

    ``logmel``: (n_mels, frames), or (B, n_mels, frames) for a batch. The mel
    magnitudes are mapped back to a linear spectrogram (:func:`mel_to_magnitude`),
    then Griffin-Lim with momentum (Perraudin et al., 2013; librosa's algorithm)
    iterates ``n_iter`` times with the same non-centred STFT as
    :func:`wav_to_logmel`, in torch. The random starting phase comes from ``seed``
    and is the same for every item, so a batch gives each item's own answer.
    Returns float32 (frames * hop,) or (B, frames * hop) at the level the
    spectrogram implies (not normalised, so :func:`cycle_consistency` can compare
    levels; use :func:`peak_normalize` before listening).
    """
    logmel = _as_numpy(logmel, "logmel")
    if logmel.ndim not in (2, 3) or logmel.shape[-2] != config.n_mels:
        raise ValueError(
            f"logmel must have shape ({config.n_mels}, frames) or (B, {config.n_mels}, frames), "
            f"got {logmel.shape}."
        )
    if n_iter < 1:
        raise ValueError(f"n_iter={n_iter} must be >= 1.")
    mel = torch.from_numpy(np.exp(logmel.astype(np.float32)))
    batch = mel if mel.ndim == 3 else mel[None]
    magnitude = mel_to_magnitude(batch, config)
    frames = logmel.shape[-1]
    phase = torch.rand(magnitude.shape[1:], generator=torch.Generator().manual_seed(seed))
    angles = torch.polar(torch.ones_like(phase), 2 * math.pi * phase).expand_as(magnitude)
    rebuilt = torch.zeros_like(angles)
    for _ in range(n_iter):
        previous = rebuilt
        rebuilt = _stft(_istft(magnitude * angles, config), config)
        angles = torch.sgn(rebuilt - (momentum / (1 + momentum)) * previous)  # z / |z|
    padded = _istft(magnitude * angles, config)
    wav = padded[:, config.pad : config.pad + frames * config.hop_length]
    wav = torch.nn.functional.pad(wav, (0, frames * config.hop_length - wav.shape[-1]))
    wav = wav.numpy().astype(np.float32)
    return wav if logmel.ndim == 3 else wav[0]


def vocode(logmel, config: MelConfig = AUFFUSION, vocoder: torch.nn.Module | None = None,
           seed: int = 0, n_iter: int = 32) -> np.ndarray:  # fmt: skip
    """Log-mel (n_mels, frames) -> waveform (frames * hop,); a batch (B, n_mels, frames)
    -> (B, frames * hop), played together. With ``vocoder`` (e.g.
    :class:`itslib.hifigan.HiFiGAN`) as it is, else by :func:`griffin_lim`, each
    waveform peak-normalised."""
    logmel = _as_numpy(logmel, "logmel")
    batch = logmel if logmel.ndim == 3 else logmel[None]
    if vocoder is None:
        wavs = griffin_lim(batch, config, n_iter=n_iter, seed=seed)
        wavs = np.stack([peak_normalize(w, config.peak) for w in wavs])
    else:
        param = next(vocoder.parameters())
        with torch.inference_mode():
            wavs = vocoder(torch.from_numpy(batch).to(param.device, param.dtype))
        wavs = wavs.float().cpu().numpy()
    return wavs if logmel.ndim == 3 else wavs[0]


def peak_normalize(wav, peak: float = AUFFUSION.peak, silence: float = SILENCE) -> np.ndarray:
    """Scale a waveform so its largest absolute value is ``peak``.

    Silence stays silent: a waveform whose peak is at most ``silence`` (default
    :data:`SILENCE`, -80 dBFS) is returned as it is rather than amplified into noise.
    """
    if not (math.isfinite(peak) and peak > 0):
        raise ValueError(f"peak={peak} must be a finite number > 0.")
    wav = _as_numpy(wav, "wav")
    top = float(np.abs(wav).max()) if wav.size else 0.0
    return (wav * (peak / top) if top > max(silence, 0.0) else wav).astype(np.float32)


def picture_to_sound(picture, config: MelConfig = AUFFUSION, n_iter: int = 32) -> np.ndarray:
    """Play a picture as a sound: picture -> log-mel -> Griffin-Lim waveform, peak
    normalised (a black picture, a blank spectrogram, stays silent)."""
    logmel = picture_to_logmel(picture, config)
    return peak_normalize(griffin_lim(logmel, config, n_iter=n_iter), config.peak)


def cycle_consistency(logmel, vocoder, config: MelConfig = AUFFUSION) -> float:
    """The paper's Fig. 6 check: does the vocoder really play this spectrogram?

    Vocodes ``logmel`` (n_mels, frames) with ``vocoder`` (a :class:`HiFiGAN`, or any
    callable from log-mel to waveform such as :func:`griffin_lim`), re-analyses the
    waveform at its own level, and returns the mean absolute difference between the
    two log-mels in nats, over the pictured range [ln log_floor, ln log_ceiling].
    Small (well under 1) means the sound carries the picture.
    """
    logmel = _as_numpy(logmel, "logmel")
    if isinstance(vocoder, torch.nn.Module):
        param = next(vocoder.parameters())
        with torch.inference_mode():
            mel = torch.from_numpy(logmel)[None].to(param.device, param.dtype)
            wav = vocoder(mel)[0].float().cpu().numpy()
    else:
        wav = np.asarray(vocoder(logmel), dtype=np.float32)
    again = wav_to_logmel(wav, config, normalize=False)
    frames = min(again.shape[1], logmel.shape[1])
    low, high = math.log(config.log_floor), math.log(config.log_ceiling)
    a = np.clip(logmel[:, :frames], low, high)
    b = np.clip(again[:, :frames], low, high)
    return float(np.abs(a - b).mean())


__all__ = [
    "AUFFUSION",
    "MelConfig",
    "cycle_consistency",
    "griffin_lim",
    "logmel_to_picture",
    "picture_to_logmel",
    "picture_to_sound",
    "wav_to_logmel",
]
