"""The Auffusion spectrogram front end, checked against the stated conventions."""

import math

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

from itslib import audio, files
from itslib.audio import MelConfig

SR = 16000


def chirp(seconds=2.0):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (200 * t + 900 * t**2))).astype(np.float32)


def chord(seconds=2.0):
    t = np.arange(int(seconds * SR)) / SR
    notes = (261.63, 329.63, 392.0, 523.25)
    return sum(0.2 * np.sin(2 * np.pi * f * t) for f in notes).astype(np.float32)


def reference_logmel(wav):
    """An independent computation of Auffusion's conventions, in float64 numpy."""
    wav = wav.astype(np.float64)
    wav = wav / np.abs(wav).max() * 0.95
    pad = (2048 - 160) // 2
    padded = np.pad(wav, pad, mode="reflect")
    n_frames = 1 + (padded.size - 2048) // 160
    window = np.zeros(2048)
    window[512 : 512 + 1024] = np.hanning(1025)[:-1]  # periodic Hann, centred in the FFT
    frames = np.stack([padded[i * 160 : i * 160 + 2048] * window for i in range(n_frames)])
    spectrum = np.fft.rfft(frames, axis=1).T
    magnitude = np.sqrt(spectrum.real**2 + spectrum.imag**2 + 1e-9)
    basis = librosa.filters.mel(sr=SR, n_fft=2048, n_mels=256, fmin=0, fmax=8000)
    return np.log(np.maximum(basis @ magnitude, 1e-5))


@pytest.mark.parametrize("signal", [chirp, chord])
def test_logmel_matches_independent_computation(signal):
    wav = signal()
    ours = audio.wav_to_logmel(wav)
    ref = reference_logmel(wav)
    assert ours.dtype == np.float32
    assert ours.shape == ref.shape == (256, wav.size // 160)
    # Tight where the sound is (float32 STFT vs float64 FFT); near the 1e-5 floor the
    # log magnifies float32 rounding of tiny magnitudes, so the bound there is looser.
    audible = ref > -7.0
    np.testing.assert_allclose(ours[audible], ref[audible], atol=1e-3)
    np.testing.assert_allclose(ours, ref, atol=0.05)


def test_frame_count_for_the_paper_canvas():
    wav = np.random.default_rng(0).normal(size=163840).astype(np.float32)  # 10.24 s
    assert audio.wav_to_logmel(wav).shape == (256, 1024)
    assert MelConfig().frames(163840) == 1024
    assert MelConfig().seconds(1024) == pytest.approx(10.24)


def test_peak_normalisation_makes_level_irrelevant_unless_turned_off():
    wav = chord()
    loud, quiet = audio.wav_to_logmel(wav), audio.wav_to_logmel(wav * 0.1)
    audible = loud > -6.0
    np.testing.assert_allclose(loud[audible], quiet[audible], atol=1e-3)
    raw = audio.wav_to_logmel(wav * 0.1, normalize=False)
    assert raw.max() < loud.max() - 1.0


def test_picture_logmel_round_trip_is_exact_inside_the_range():
    rng = np.random.default_rng(1)
    low, high = math.log(1e-5), math.log(200)
    logmel = rng.uniform(low, high, size=(256, 64)).astype(np.float32)
    picture = audio.logmel_to_picture(logmel)
    assert picture.shape == (256, 64) and picture.min() >= 0 and picture.max() <= 1
    np.testing.assert_allclose(audio.picture_to_logmel(picture), logmel, atol=1e-5)
    np.testing.assert_allclose(
        audio.logmel_to_picture(audio.picture_to_logmel(picture)), picture, atol=1e-6
    )
    # (1, H, W) and (3, H, W) pictures give the same log-mel as (H, W).
    np.testing.assert_allclose(audio.picture_to_logmel(picture[None]), logmel, atol=1e-5)
    np.testing.assert_allclose(audio.picture_to_logmel(np.stack([picture] * 3)), logmel, atol=1e-5)


def test_three_channels_are_averaged():
    a, b = np.zeros((256, 8)), np.ones((256, 8))
    mixed = audio.picture_to_logmel(np.stack([a, b, b]))
    np.testing.assert_allclose(mixed, audio.picture_to_logmel(np.full((256, 8), 2 / 3)), atol=1e-5)


def test_low_frequencies_are_at_the_bottom_and_clamping():
    logmel = np.full((256, 4), math.log(1e-5), dtype=np.float32)
    logmel[0] = 50.0  # the lowest mel bin, louder than the ceiling
    logmel[1] = -50.0  # quieter than the floor
    picture = audio.logmel_to_picture(logmel)
    assert picture[-1].tolist() == [1.0] * 4  # bottom row, clamped to white
    assert picture[:-1].max() == 0.0
    back = audio.picture_to_logmel(picture)
    assert back[0, 0] == pytest.approx(math.log(200), abs=1e-5)  # clamped, not restored
    assert back[1, 0] == pytest.approx(math.log(1e-5), abs=1e-5)
    # A picture outside [0, 1] is clamped too.
    np.testing.assert_allclose(
        audio.picture_to_logmel(np.full((4, 4), 1.7)), np.full((4, 4), math.log(200)), atol=1e-5
    )


def test_griffin_lim_rebuilds_a_chord():
    wav = chord()
    logmel = audio.wav_to_logmel(wav)
    rebuilt = audio.griffin_lim(logmel, n_iter=32)
    assert rebuilt.shape == (logmel.shape[1] * 160,)
    again = audio.wav_to_logmel(rebuilt, normalize=False)
    target, got = np.exp(logmel), np.exp(again)
    convergence = np.linalg.norm(target - got) / np.linalg.norm(target)
    # Measured 0.08 for this chord with 32 iterations (mel-magnitude spectral convergence).
    assert convergence < 0.2, convergence
    # The level is kept: the chord was analysed at peak 0.95.
    assert 0.5 < np.abs(rebuilt).max() < 1.5


def test_griffin_lim_of_a_batch_is_each_item_alone():
    chord_mel = audio.wav_to_logmel(chord(0.5))
    noise_mel = audio.wav_to_logmel(np.random.default_rng(0).normal(0, 0.1, 8000))
    together = audio.griffin_lim(np.stack([chord_mel, noise_mel]), n_iter=8, seed=3)
    assert together.shape == (2, chord_mel.shape[1] * 160)
    for logmel, batched in zip((chord_mel, noise_mel), together, strict=True):
        alone = audio.griffin_lim(logmel, n_iter=8, seed=3)
        assert np.abs(batched - alone).max() < 1e-3 * np.abs(alone).max()
    assert np.abs(together[0] - together[1]).max() > 0.1
    with pytest.raises(ValueError, match="logmel must have shape"):
        audio.griffin_lim(np.zeros((2, 3, 256, 10)))


def test_mel_to_magnitude_is_non_negative_and_projects_back():
    target = np.exp(audio.wav_to_logmel(chord(0.5)))
    magnitude = audio.mel_to_magnitude(torch.from_numpy(target))
    assert magnitude.min() >= 0 and magnitude.shape == (1025, target.shape[1])
    back = audio.mel_basis() @ magnitude.numpy()
    assert np.linalg.norm(back - target) / np.linalg.norm(target) < 0.1


def test_cycle_consistency_is_small_for_griffin_lim_and_large_for_a_wrong_vocoder():
    logmel = audio.wav_to_logmel(chord())
    good = audio.cycle_consistency(logmel, audio.griffin_lim)
    bad = audio.cycle_consistency(
        logmel, lambda m: np.random.default_rng(0).normal(0, 0.3, m.shape[1] * 160)
    )
    assert good < 0.5 < bad


def test_play_a_picture_as_a_sound(tmp_path):
    path = tmp_path / "stripes.png"
    pixels = np.zeros((100, 300), dtype=np.uint8)
    pixels[40:60] = 255
    Image.fromarray(pixels).save(path)
    picture, wav = files.play_picture(path, width=200)
    assert picture.shape == (256, 200) and 0 <= picture.min() <= picture.max() <= 1
    assert wav.shape == (200 * 160,)
    assert 0.9 < np.abs(wav).max() <= 0.96
    # A narrower picture is padded with silence on the right.
    picture, _ = files.play_picture(path, width=2000)
    assert picture.shape == (256, 2000) and picture[:, 1000:].max() == 0


def test_write_wav_is_atomic_and_readable(tmp_path):
    wav = chord(0.5)
    path = tmp_path / "a.wav"
    files.write_wav(path, wav)
    data, rate = sf.read(path)
    assert rate == SR and data.shape == wav.shape
    np.testing.assert_allclose(data, wav, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    with pytest.raises(ValueError, match="NaN"):
        files.write_wav(tmp_path / "b.wav", np.array([0.0, np.nan]))
    assert not (tmp_path / "b.wav").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not a folder|not writable"):
        files.write_wav(blocker / "c.wav", wav)


def test_load_audio_mixes_to_mono_and_resamples(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 440 * t)], axis=1) * 0.5
    sf.write(tmp_path / "s.wav", stereo, 44100)
    wav = files.load_audio(tmp_path / "s.wav")
    assert wav.ndim == 1 and abs(wav.size - SR) <= 1
    assert files.load_audio(tmp_path / "s.wav", seconds=2.0).size == 2 * SR
    (tmp_path / "not.wav").write_text("hello")
    with pytest.raises(ValueError, match="not an audio file"):
        files.load_audio(tmp_path / "not.wav")
    with pytest.raises(FileNotFoundError):
        files.load_audio(tmp_path / "missing.wav")


@pytest.mark.parametrize(
    ("wav", "kwargs", "message"),
    [
        (np.zeros((2, 1600)), {}, "mono"),
        (np.array([0.0, np.nan] * 800), {}, "NaN"),
        (np.array([0.0, np.inf] * 800), {}, "NaN or infinite"),
        (np.zeros(0), {}, "samples"),
        (np.zeros(1600), {"sample_rate": 44100}, "sample_rate=44100"),
    ],
)
def test_bad_waveforms_are_rejected_clearly(wav, kwargs, message):
    with pytest.raises(ValueError, match=message):
        audio.wav_to_logmel(wav, **kwargs)


def test_bad_pictures_and_configs_are_rejected_clearly():
    with pytest.raises(ValueError, match="picture must have shape"):
        audio.picture_to_logmel(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="logmel must have shape"):
        audio.logmel_to_picture(np.zeros(5))
    with pytest.raises(ValueError, match="win_length"):
        MelConfig(win_length=4096)
    with pytest.raises(ValueError, match="fmax"):
        MelConfig(fmax=9000)
