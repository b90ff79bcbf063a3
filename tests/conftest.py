"""Shared test set-up: never touch the network; mark the tests that compare floats."""

import os
import re
from functools import cache
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")

import pytest  # noqa: E402

from itslib.rehearsal import write_auffusion, write_stable_diffusion  # noqa: E402


@pytest.fixture(scope="session")
def tiny_repos(tmp_path_factory):
    """(image_repo, audio_repo): tiny random SD 1.x repositories on disk; the audio one
    with Auffusion's vocoder/ folder."""
    root = tmp_path_factory.mktemp("hub")
    image = write_stable_diffusion(root / "tiny-sd", seed=0)
    sound = write_auffusion(root / "tiny-auffusion", seed=1)
    return image, sound


# A module that compares floats in any of these ways is "numerics": CI runs it a second
# time as on another CPU (AVX2 kernels, one thread), where rounding differs; see
# tests/numerics.py for how such comparisons are written.
FLOAT_COMPARISON = re.compile(
    r"assert_close|allclose|assert_array_equal|array_equal|assert_same_path|approx\(|torch\.equal"
)


@cache
def _compares_floats(path: Path) -> bool:
    return path.suffix == ".py" and bool(FLOAT_COMPARISON.search(path.read_text()))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "numerics: compares floats; CI runs it again with AVX2 kernels on one thread"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _compares_floats(Path(item.path)):
            item.add_marker(pytest.mark.numerics)
