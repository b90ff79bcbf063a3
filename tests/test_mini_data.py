"""The miniature world's procedural data: deterministic, every class, right shapes."""

import numpy as np
import pytest

from itslib import mini as data
from itslib.mini import (
    MINI_MEL,
    NUM_SAMPLES,
    PICTURE_CLASSES,
    SOUND_CLASSES,
    make_picture,
    make_sound,
    picture_batch,
    sound_batch,
    sound_picture,
)
from itslib.mini.sounds import region_mask, shape_in_time_frequency


def test_canvas_and_mel_settings():
    assert (data.HEIGHT, data.WIDTH, NUM_SAMPLES) == (128, 512, 512 * 80)
    assert MINI_MEL.n_mels == 128 and MINI_MEL.hop_length == 80
    assert MINI_MEL.frames(NUM_SAMPLES) == 512
    assert len(PICTURE_CLASSES) == len(SOUND_CLASSES) == 8
    assert data.NULL_CLASS == 8


@pytest.mark.parametrize("name", PICTURE_CLASSES)
def test_picture_shape_range_and_determinism(name):
    a = make_picture(name, np.random.default_rng(5))
    b = make_picture(name, np.random.default_rng(5))
    c = make_picture(name, np.random.default_rng(6))
    assert a.shape == (128, 512) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.std() > 0.02  # something is drawn


@pytest.mark.parametrize("name", SOUND_CLASSES)
def test_sound_shape_range_and_determinism(name):
    a = make_sound(name, np.random.default_rng(5))
    b = make_sound(name, np.random.default_rng(5))
    assert a.shape == (NUM_SAMPLES,) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert np.isfinite(a).all() and np.abs(a).max() == pytest.approx(0.95, abs=1e-3)
    picture = sound_picture(a)
    assert picture.shape == (128, 512) and 0.0 <= picture.min() and picture.max() <= 1.0


def test_unknown_class_is_a_clear_error():
    with pytest.raises(ValueError, match="class_name"):
        make_picture("dragons", np.random.default_rng(0))
    with pytest.raises(ValueError, match="class_name"):
        make_sound("dragons", np.random.default_rng(0))


def test_batches_are_balanced_and_deterministic():
    pictures, labels = picture_batch(16, np.random.default_rng(1))
    again, labels_again = picture_batch(16, np.random.default_rng(1))
    assert pictures.shape == (16, 128, 512)
    assert np.array_equal(pictures, again) and np.array_equal(labels, labels_again)
    assert np.bincount(labels, minlength=8).tolist() == [2] * 8
    wavs, spectrograms, sound_labels = sound_batch(8, np.random.default_rng(2))
    assert wavs.shape == (8, NUM_SAMPLES) and spectrograms.shape == (8, 128, 512)
    assert sorted(sound_labels.tolist()) == list(range(8))


def _class_means(make, classes, per_class=6):
    rng = np.random.default_rng(11)
    return np.stack([np.mean([make(k, rng) for _ in range(per_class)], axis=0) for k in classes])


def test_picture_classes_visibly_differ():
    means = _class_means(make_picture, PICTURE_CLASSES)
    # e.g. skylines and trees stand on the ground: their bottom rows are brighter on average
    distances = np.abs(means[:, None] - means[None]).mean(axis=(2, 3))
    assert (distances[~np.eye(8, dtype=bool)] > 0.01).all()


def test_sound_classes_visibly_differ():
    means = _class_means(lambda k, rng: sound_picture(make_sound(k, rng)), SOUND_CLASSES)
    profiles = means.mean(axis=2)  # average spectrum of each class, (8, 128)
    distances = np.abs(profiles[:, None] - profiles[None]).mean(axis=2)
    assert (distances[~np.eye(8, dtype=bool)] > 0.01).all()


def test_region_mask_is_smooth_deterministic_and_partial():
    a = region_mask(np.random.default_rng(3))
    assert a.shape == (128, 512) and a.dtype == np.float32
    assert np.array_equal(a, region_mask(np.random.default_rng(3)))
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert 0.2 < a.mean() < 0.8  # neither empty nor everything


def test_a_sound_shaped_by_a_region_keeps_its_energy_inside_it():
    noise = np.random.default_rng(0).standard_normal(NUM_SAMPLES) * 0.3
    mask = np.zeros((128, 512), np.float32)
    mask[:32, :128] = 1.0  # high frequencies (top rows), first half of the time
    shaped = shape_in_time_frequency(noise, mask, depth_db=60.0)
    picture = sound_picture(shaped)
    inside = picture[4:28, 8:120].mean()
    assert inside > picture[4:28, 136:248].mean() + 0.2  # later: attenuated
    assert inside > picture[36:60, 8:120].mean() + 0.2  # lower frequencies: attenuated
    plain = sound_picture(noise)
    assert abs(inside - plain[4:28, 8:120].mean()) < 0.1  # inside: left as it was
