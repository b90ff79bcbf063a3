"""Shared test set-up: never touch the network."""

import os

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
