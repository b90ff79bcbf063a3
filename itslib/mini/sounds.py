"""Procedural sounds: eight classes of 2.56 s waveforms at 16 kHz.

Every sound is synthesised from a ``numpy.random.Generator``: the same seed gives
the same waveform on every machine. Each class varies widely in pitch, rhythm,
envelope, timbre and background noise. :func:`sound_picture` turns a waveform into
its spectrogram picture, the Auffusion way at the miniature's size.
"""

from __future__ import annotations

import math

import numpy as np

from itslib.audio import logmel_to_picture, wav_to_logmel
from itslib.mini.pictures import draw_shapes
from itslib.mini.world import (
    HEIGHT,
    MINI_MEL,
    NUM_SAMPLES,
    PICTURE_CLASSES,
    SAMPLE_RATE,
    SOUND_CLASSES,
    UNIT,
    WIDTH,
    check_class,
)

_T = np.arange(NUM_SAMPLES, dtype=np.float64) / SAMPLE_RATE
_DURATION = NUM_SAMPLES / SAMPLE_RATE


def _tone(freq: np.ndarray | float, rng: np.random.Generator, t: np.ndarray = _T) -> np.ndarray:
    """A sine at ``freq`` Hz (a scalar, or one value per sample of ``t``) with a random phase."""
    phase0 = rng.uniform(0, 2 * math.pi)
    if np.ndim(freq) == 0:
        return np.sin(2 * math.pi * float(freq) * t + phase0) * (freq < SAMPLE_RATE / 2)
    phase = 2 * math.pi * np.cumsum(freq) / SAMPLE_RATE + phase0
    return np.sin(phase) * (freq < SAMPLE_RATE / 2)


def _harmonics(freq: np.ndarray, amps: list[float], rng: np.random.Generator) -> np.ndarray:
    """Sum of harmonics k = 1, 2, ... of a gliding ``freq`` with amplitudes ``amps``."""
    phase = 2 * math.pi * np.cumsum(freq) / SAMPLE_RATE
    out = np.zeros_like(phase)
    for k, amp in enumerate(amps, start=1):
        out += amp * np.sin(k * phase + rng.uniform(0, 2 * math.pi)) * (k * freq < SAMPLE_RATE / 2)
    return out


def _band_noise(
    rng: np.random.Generator, low: float, high: float, n: int = NUM_SAMPLES
) -> np.ndarray:
    """White noise kept between ``low`` and ``high`` Hz (FFT masking), unit std."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    noise = np.fft.irfft(spectrum * ((freqs >= low) & (freqs <= high)), n)
    return noise / (noise.std() + 1e-12)


def _decay(onset: float, tau: float, attack: float = 0.003) -> np.ndarray:
    """An envelope that starts at ``onset`` s, rises in ``attack`` s, decays with ``tau`` s."""
    t = _T - onset
    env = np.exp(-np.clip(t, 0, None) / tau) * np.clip(t / attack, 0, 1)
    return env * (t >= 0)


def _place(out: np.ndarray, onset: float, segment: np.ndarray) -> None:
    """Add ``segment`` into ``out`` starting at ``onset`` seconds (cut at the end)."""
    start = int(onset * SAMPLE_RATE)
    n = min(segment.size, NUM_SAMPLES - start)
    if 0 <= start and n > 0:
        out[start : start + n] += segment[:n]


def _bell(rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(200, 1500)
    ratios = np.array([0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.2, 5.4]) * rng.uniform(0.97, 1.03, 9)
    out = np.zeros_like(_T)
    onset = rng.uniform(0, 0.4)
    for _ in range(rng.integers(1, 5)):
        tau = rng.uniform(0.3, 2.0)
        t = _T[: NUM_SAMPLES - int(onset * SAMPLE_RATE)]
        strike = np.zeros_like(t)
        for k, ratio in enumerate(ratios):
            amp = rng.uniform(0.2, 1.0) / (1 + 0.3 * k)
            strike += amp * _tone(f0 * ratio, rng, t) * np.exp(-t / (tau / (1 + 0.4 * k)))
        _place(out, onset, strike * np.clip(t / 0.003, 0, 1))
        onset += rng.uniform(0.3, 1.2)
        if onset > _DURATION - 0.2:
            break
    return out


def _siren(rng: np.random.Generator) -> np.ndarray:
    center, depth, rate = rng.uniform(500, 2200), rng.uniform(100, 900), rng.uniform(0.6, 4)
    lfo_phase = 2 * math.pi * rate * _T + rng.uniform(0, 2 * math.pi)
    kind = rng.integers(0, 3)
    if kind == 0:
        lfo = np.sin(lfo_phase)
    elif kind == 1:  # a rising sweep that falls back (sawtooth)
        lfo = 2 * ((lfo_phase / (2 * math.pi)) % 1) - 1
    else:  # two tones, high-low
        lfo = np.sign(np.sin(lfo_phase))
    freq = center + depth * lfo
    harmonics = int(rng.integers(2, 5))
    out = _harmonics(freq, [1 / k**1.5 for k in range(1, harmonics + 1)], rng)
    fade = np.clip(_T / rng.uniform(0.01, 0.5), 0, 1)
    return out * fade


def _engine(rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(25, 120)
    drift = np.cumsum(rng.standard_normal(NUM_SAMPLES // 400 + 1))[np.arange(NUM_SAMPLES) // 400]
    freq = f0 * (1 + rng.uniform(0.005, 0.03) * drift / (np.abs(drift).max() + 1e-9) * 5)
    rolloff = rng.uniform(0.5, 1.5)
    count = int(min(40, 4000 / f0))
    out = _harmonics(
        freq, list(rng.uniform(0.5, 1.0, count) / np.arange(1, count + 1) ** rolloff), rng
    )
    out *= 1 + rng.uniform(0, 0.5) * np.sin(2 * math.pi * f0 / 2 * _T)
    out /= np.abs(out).max() + 1e-9
    return out + rng.uniform(0.05, 0.4) * _band_noise(rng, 20, rng.uniform(300, 1500)) / 3


def _birds(rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(_T)
    for _ in range(rng.integers(3, 20)):
        start, length = rng.uniform(0, _DURATION - 0.05), rng.uniform(0.03, 0.2)
        f1, f2 = rng.uniform(1800, 7000, 2)
        wobble, amp = rng.uniform(0, 400), rng.uniform(0.3, 1.0)
        u = np.arange(int(length * SAMPLE_RATE)) / (length * SAMPLE_RATE)
        sweep = np.clip(f1 + (f2 - f1) * u + wobble * np.sin(9 * u), 100, 7900)
        for r in range(int(rng.integers(1, 5))):  # a trill repeats the chirp quickly
            _place(
                out, start + r * length * 1.3, amp * _tone(sweep, rng) * np.sin(math.pi * u) ** 2
            )
    return out


def _rain(rng: np.random.Generator) -> np.ndarray:
    low, high = rng.uniform(100, 2000), rng.uniform(4000, 8000)
    out = _band_noise(rng, low, high) * rng.uniform(0.2, 1.0)
    swell = 1 + rng.uniform(0, 0.6) * np.sin(2 * math.pi * rng.uniform(0.1, 1) * _T)
    out = out * swell
    drops = rng.integers(20, 400)
    clicks = np.zeros_like(_T)
    idx = rng.integers(0, NUM_SAMPLES, drops)
    clicks[idx] = rng.uniform(-1, 1, drops) * rng.uniform(2, 12)
    kernel = np.exp(-np.arange(64) / rng.uniform(4, 20)) * _band_noise(rng, 1000, 7900, 64)
    return out + np.convolve(clicks, kernel)[:NUM_SAMPLES]


def _drums(rng: np.random.Generator) -> np.ndarray:
    beat = 60 / rng.uniform(70, 200)
    step = beat / int(rng.choice([1, 2, 4]))
    steps = int(_DURATION / step) + 1
    pattern = rng.random((3, steps)) < np.array([[0.35], [0.25], [0.4]])
    pattern[0, 0] = True
    out = np.zeros_like(_T)
    kick_f, snare_tau = rng.uniform(40, 90), rng.uniform(0.05, 0.2)
    t = _T[: SAMPLE_RATE // 2]  # events last at most half a second
    for i in range(steps):
        onset = i * step + rng.uniform(0, 0.01)
        if pattern[0, i]:  # kick: a falling sine
            freq = kick_f + rng.uniform(60, 150) * np.exp(-t / 0.03)
            kick = _tone(freq, rng) * np.exp(-t / rng.uniform(0.08, 0.3))
            _place(out, onset, kick * np.clip(t / 0.002, 0, 1))
        if pattern[1, i]:  # snare: a noise burst with a body tone
            body = _band_noise(rng, 200, 7000, t.size) / 3 + 0.5 * _tone(190.0, rng, t)
            _place(out, onset, 0.6 * body * np.exp(-t / snare_tau))
        if pattern[2, i]:  # hi-hat: short high noise
            hat = _band_noise(rng, 5000, 8000, t.size) / 3
            _place(out, onset, 0.3 * hat * np.exp(-t / rng.uniform(0.01, 0.05)))
    return out


def _chord(rng: np.random.Generator) -> np.ndarray:
    shapes = ([0, 4, 7], [0, 3, 7], [0, 5, 7], [0, 4, 7, 10], [0, 3, 7, 10], [0, 4, 7, 11])
    out = np.zeros_like(_T)
    count = int(rng.integers(1, 5))
    harmonics, rolloff = int(rng.integers(2, 9)), rng.uniform(0.7, 2.0)
    sustained = rng.random() < 0.5
    t = _T[: NUM_SAMPLES // count]
    for c in range(count):
        root = rng.uniform(100, 600)
        if sustained:
            env = np.clip(t / 0.02, 0, 1) * np.clip((t[-1] - t) / 0.01, 0, 1)
        else:
            env = np.exp(-t / rng.uniform(0.3, 2.0)) * np.clip(t / rng.uniform(0.003, 0.1), 0, 1)
        notes = np.zeros_like(t)
        for semis in shapes[rng.integers(0, len(shapes))]:
            f = root * 2 ** (semis / 12)
            for k in range(1, harmonics + 1):
                notes += _tone(f * k, rng, t) / k**rolloff
        _place(out, c * _DURATION / count, notes * env)
    return out


def _whistle(rng: np.random.Generator) -> np.ndarray:
    notes = int(rng.integers(1, 7))
    edges = np.sort(rng.uniform(0, _DURATION, notes - 1))
    pitches = rng.uniform(800, 3500, notes)
    which = np.searchsorted(edges, _T)
    freq = pitches[which]
    if rng.random() < 0.5:  # glide smoothly between notes
        kernel = np.ones(int(rng.uniform(200, 3000))) / 1.0
        freq = np.convolve(
            np.pad(freq, kernel.size // 2, mode="edge"), kernel / kernel.sum(), "same"
        )
        freq = freq[kernel.size // 2 : kernel.size // 2 + NUM_SAMPLES]
    freq = freq * (1 + rng.uniform(0, 0.02) * np.sin(2 * math.pi * rng.uniform(4, 7) * _T))
    gaps = np.ones_like(_T)
    if rng.random() < 0.5:  # short breaths between notes
        for e in edges:
            gaps *= 1 - np.exp(-(((_T - e) / 0.02) ** 2))
    out = _harmonics(freq, [1.0, rng.uniform(0, 0.05)], rng)
    return out * gaps + rng.uniform(0, 0.08) * _band_noise(rng, 500, 6000) / 3


_SYNTH = {
    "bell ringing": _bell,
    "siren": _siren,
    "engine humming": _engine,
    "birds chirping": _birds,
    "rain": _rain,
    "drum beats": _drums,
    "chord": _chord,
    "whistle": _whistle,
}


def region_mask(rng: np.random.Generator) -> np.ndarray:
    """A random smooth region of the canvas: float32 (HEIGHT, WIDTH) in [0, 1], row 0 on top.

    Blurred white noise (blob sizes from a few pixels to a third of the canvas)
    thresholded so that 30 to 75% of the canvas is inside, with soft edges.
    """
    from scipy.ndimage import gaussian_filter

    # blob sizes in design units (itslib.mini.world)
    sigma = (rng.uniform(2, 12) * UNIT, rng.uniform(3, 40) * UNIT)  # (rows, columns)
    field = gaussian_filter(rng.standard_normal((HEIGHT, WIDTH)), sigma, mode="wrap")
    inside = (field > np.quantile(field, rng.uniform(0.25, 0.7))).astype(np.float64)
    return gaussian_filter(inside, rng.uniform(0.5, 1.5) * UNIT).astype(np.float32)


def shape_mask(rng: np.random.Generator) -> np.ndarray:
    """The shapes of a random picture class as a region: float32 (HEIGHT, WIDTH) in [0, 1].

    A sound that lives inside circles, a skyline or a checkerboard: the classes are
    broad enough that every sound can wear every picture's shapes.
    """
    masks = [m for m in draw_shapes(PICTURE_CLASSES[rng.integers(len(PICTURE_CLASSES))], rng)
             if m.min() >= 0]  # fmt: skip
    return np.clip(np.sum(masks, axis=0), 0, 1).astype(np.float32)


def shape_in_time_frequency(
    wav: np.ndarray, mask: np.ndarray, depth_db: float = 60.0
) -> np.ndarray:
    """Filter ``wav`` so that its energy stays inside ``mask`` (mel rows x frames).

    The mask is drawn like a spectrogram picture (row 0 = highest mel bin); outside
    it the sound is attenuated by ``depth_db``. The filtering is an STFT gain,
    so the result is a real sound whose spectrogram wears the mask's shape.
    """
    import librosa

    cfg = MINI_MEL
    stft = librosa.stft(wav, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length)
    mel_rows = np.flipud(mask).astype(np.float64)  # row 0 = lowest mel bin
    centres = librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax)[1:-1]
    freqs = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=cfg.n_fft)
    row_of_bin = np.interp(freqs, centres, np.arange(cfg.n_mels))
    frame_pos = np.linspace(0, WIDTH - 1, stft.shape[1])
    cols = np.stack([np.interp(frame_pos, np.arange(WIDTH), r) for r in mel_rows])  # (H, F)
    per_bin = np.stack([np.interp(row_of_bin, np.arange(cfg.n_mels), c) for c in cols.T], 1)
    floor = 10 ** (-depth_db / 20)
    gain = floor + (1 - floor) * np.clip(per_bin, 0, 1)
    out = librosa.istft(stft * gain, hop_length=cfg.hop_length, win_length=cfg.win_length,
                        n_fft=cfg.n_fft, length=wav.size)  # fmt: skip
    return out


def make_sound(class_name: str, rng: np.random.Generator) -> np.ndarray:
    """Synthesise one sound of ``class_name``: float32 (40960,), peak 0.95.

    Two in three sounds are shaped by a time-frequency region, as real sounds start,
    stop and change colour: a random blob (:func:`region_mask`) or the shapes of a
    random picture class (:func:`shape_mask`), with silence (70 to 130 dB down)
    outside. A class is told by its texture (partials, sweeps, beats, grain), not by
    where it sits. Half the sounds get a noise floor of random colour, mostly far
    below hearing (-140 to -100 dB), sometimes audible (up to -50 dB); the other half
    keep digital silence, black in the spectrogram, as in the paper's black
    backgrounds. Sometimes a fade in or out, so levels and backgrounds vary too.
    """
    check_class(class_name, SOUND_CLASSES, "class_name")
    wav = _SYNTH[class_name](rng)
    region = rng.random()
    if region < 2 / 3:
        mask = region_mask(rng) if region < 1 / 3 else shape_mask(rng)
        wav = shape_in_time_frequency(wav, mask, rng.uniform(70, 130))
    wav = wav / (np.abs(wav).max() + 1e-9)
    floor = rng.random()
    if floor >= 0.5:  # else digital silence: black in the spectrogram
        floor_db = rng.uniform(-140, -100) if floor < 0.85 else rng.uniform(-100, -50)
        wav = wav + 10 ** (floor_db / 20) * _band_noise(rng, 20, rng.uniform(1000, 8000))
    if rng.random() < 0.3:
        fade = np.clip(_T / rng.uniform(0.1, 1.0), 0, 1)
        wav = wav * (fade if rng.random() < 0.5 else fade[::-1])
    return (0.95 * wav / (np.abs(wav).max() + 1e-9)).astype(np.float32)


def sound_picture(wav: np.ndarray) -> np.ndarray:
    """The spectrogram picture of a waveform: float32 (HEIGHT, WIDTH) in [0, 1]."""
    return logmel_to_picture(wav_to_logmel(wav, MINI_MEL), MINI_MEL)


def sound_batch(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` sounds with balanced classes.

    Returns (waveforms (n, 40960), spectrogram pictures (n, HEIGHT, WIDTH), labels (n,)).
    """
    labels = rng.permutation(np.arange(n) % len(SOUND_CLASSES))
    wavs = np.stack([make_sound(SOUND_CLASSES[k], rng) for k in labels])
    pictures = np.stack([sound_picture(w) for w in wavs])
    return wavs, pictures, labels.astype(np.int64)
