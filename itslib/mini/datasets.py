"""Training data for the miniature world, generated once per run and cached.

A :class:`DataCache` keeps, in ``DIR/data/``: the procedural pictures and the
spectrogram pictures of procedural sounds (uint8, 128 x 512), the spectrograms the
sound judge learns to hear (each one played by Griffin-Lim and re-analysed), and
the experts' training latents (the autoencoder's posterior means, scaled). Item
``i`` of each set is drawn from its own generator seeded by (seed, set, i), so the
sets are the same however they are computed (two worker processes here).
"""

from __future__ import annotations

from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from itslib._io import atomic_path
from itslib.audio import griffin_lim, logmel_to_picture, picture_to_logmel, wav_to_logmel
from itslib.mini.pictures import make_picture
from itslib.mini.sounds import make_sound, sound_picture
from itslib.mini.world import MINI_MEL, PICTURE_CLASSES, SOUND_CLASSES

PURPOSES = {
    "pictures": 1, "sounds": 2, "heard": 3, "test_pictures": 4, "test_sounds": 5, "heard_test": 6,
}  # fmt: skip


def _to_uint8(picture: np.ndarray) -> np.ndarray:
    return np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8)


def picture_item(args: tuple[int, int, int]) -> np.ndarray:
    """Picture ``i`` of a set: class ``i % 8``, generator (seed, purpose, i)."""
    seed, purpose, i = args
    rng = np.random.default_rng([seed, purpose, i])
    return _to_uint8(make_picture(PICTURE_CLASSES[i % len(PICTURE_CLASSES)], rng))


def sound_item(args: tuple[int, int, int]) -> np.ndarray:
    """Spectrogram picture of sound ``i`` of a set: class ``i % 8``."""
    seed, purpose, i = args
    rng = np.random.default_rng([seed, purpose, i])
    return _to_uint8(sound_picture(make_sound(SOUND_CLASSES[i % len(SOUND_CLASSES)], rng)))


def hear(picture: np.ndarray, n_iter: int, seed: int) -> np.ndarray:
    """What the sound judge sees: a spectrogram picture played by Griffin-Lim, re-analysed."""
    wav = griffin_lim(picture_to_logmel(picture, MINI_MEL), MINI_MEL, n_iter=n_iter, seed=seed)
    return logmel_to_picture(wav_to_logmel(wav, MINI_MEL), MINI_MEL)


def heard_item(args: tuple[int, int, int]) -> np.ndarray:
    """Sound ``i`` of the training set after a Griffin-Lim trip of 16 to 32 iterations."""
    seed, purpose, i = args
    clean = sound_item((seed, PURPOSES["sounds"], i)).astype(np.float32) / 255
    n_iter = int(np.random.default_rng([seed, purpose, i]).integers(16, 33))
    return _to_uint8(hear(clean, n_iter, seed=i))


def heard_test_item(args: tuple[int, int, int]) -> np.ndarray:
    """Held-out sound ``i`` after Griffin-Lim with the default 32 iterations."""
    seed, _, i = args
    clean = sound_item((seed, PURPOSES["test_sounds"], i)).astype(np.float32) / 255
    return _to_uint8(hear(clean, 32, seed=i))


def make_heard_files(folder: Path, seed: int, n_heard: int, n_test: int, workers: int = 1) -> None:
    """Write ``heard.npy`` and ``heard_test.npy`` into ``folder`` (slow: Griffin-Lim)."""
    single_thread()
    for name, fn, purpose, n in (
        ("heard", heard_item, PURPOSES["heard"], n_heard),
        ("heard_test", heard_test_item, PURPOSES["heard_test"], n_test),
    ):
        path = Path(folder) / f"{name}.npy"
        if not path.exists():
            array = generate(fn, seed, purpose, n, name, workers)
            with atomic_path(path) as tmp:
                np.save(tmp, array)


def single_thread() -> None:
    """Keep a worker process on one core: torch and BLAS thread pools oversubscribe a
    busy 2-core machine badly (ten times slower, measured)."""
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # threadpoolctl comes with scikit-learn (a librosa dependency)
        pass


def generate(fn, seed: int, purpose: int, n: int, desc: str, workers: int = 2) -> np.ndarray:
    """Items ``fn((seed, purpose, i))`` for i < n, stacked, with a progress bar."""
    jobs = [(seed, purpose, i) for i in range(n)]
    if workers <= 1 or n < 64:
        return np.stack([fn(j) for j in tqdm(jobs, desc=desc, dynamic_ncols=True)])
    with get_context("spawn").Pool(workers, initializer=single_thread) as pool:
        results = pool.imap(fn, jobs, chunksize=16)
        items = list(tqdm(results, total=n, desc=desc, dynamic_ncols=True))
    return np.stack(items)


class DataCache:
    """The run's datasets, generated on first use and kept as ``.npy`` files."""

    def __init__(self, folder: Path, seed: int, plan) -> None:
        self.folder, self.seed, self.plan = Path(folder), seed, plan
        self.folder.mkdir(parents=True, exist_ok=True)
        self._process = None

    def _cached(self, name: str, make) -> np.ndarray:
        path = self.folder / f"{name}.npy"
        if not path.exists():
            array = make()
            with atomic_path(path) as tmp:
                np.save(tmp, array)
        return np.load(path)

    @staticmethod
    def _labels(n: int) -> np.ndarray:
        return (np.arange(n) % len(PICTURE_CLASSES)).astype(np.int64)

    def pictures(self) -> tuple[np.ndarray, np.ndarray]:
        """Training pictures (n, HEIGHT, WIDTH) uint8 and their labels."""
        n = self.plan.n_pictures
        data = self._cached("pictures", lambda: generate(picture_item, self.seed, 1, n, "pictures"))
        return data, self._labels(n)

    def sounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Training spectrogram pictures (n, HEIGHT, WIDTH) uint8 and their labels."""
        n = self.plan.n_sounds
        data = self._cached("sounds", lambda: generate(sound_item, self.seed, 2, n, "sounds"))
        return data, self._labels(n)

    def start_heard(self) -> None:
        """Start making the Griffin-Lim sets in a background process (one core)."""
        if self._heard_ready() or self.plan.n_heard < 64:
            return
        args = (self.folder, self.seed, self.plan.n_heard, self.plan.n_test_heard)
        self._process = get_context("spawn").Process(target=make_heard_files, args=args)
        self._process.daemon = True
        self._process.start()

    def _heard_ready(self) -> bool:
        return all((self.folder / f"{n}.npy").exists() for n in ("heard", "heard_test"))

    def heard(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first ``n_heard`` training sounds after a Griffin-Lim round trip, their
        labels, and ``n_test_heard`` held-out sounds after Griffin-Lim (32 iterations)."""
        if self._process is not None:
            self._process.join()
        make_heard_files(self.folder, self.seed, self.plan.n_heard, self.plan.n_test_heard, 2)
        heard = np.load(self.folder / "heard.npy")
        return heard, self._labels(len(heard)), np.load(self.folder / "heard_test.npy")

    def latents(self, vae_folder: Path, stage: str) -> tuple[np.ndarray, np.ndarray]:
        """Scaled posterior means of the pictures (``image``) or spectrograms (``audio``)."""
        source, labels = self.pictures() if stage == "image" else self.sounds()

        def make() -> np.ndarray:
            from diffusers import AutoencoderKL

            vae = AutoencoderKL.from_pretrained(vae_folder).eval()
            return encode(vae, source, desc=f"latents {stage}").astype(np.float16)

        return self._cached(f"latents_{stage}", make), labels


@torch.no_grad()
def encode(vae, pictures: np.ndarray, batch: int = 64, desc: str = "encode") -> np.ndarray:
    """Scaled latents (n, 4, 32, 128) of uint8 or [0, 1] float pictures (n, HEIGHT, WIDTH)."""
    out = []
    scale = vae.config.scaling_factor
    for i in tqdm(range(0, len(pictures), batch), desc=desc, dynamic_ncols=True):
        x = torch.as_tensor(pictures[i : i + batch]).float()
        x = x / 255 if pictures.dtype == np.uint8 else x
        out.append((vae.encode(x[:, None] * 2 - 1).latent_dist.mean * scale).numpy())
    return np.concatenate(out)


@torch.no_grad()
def decode(vae, latents: np.ndarray, batch: int = 64) -> np.ndarray:
    """Pictures (n, HEIGHT, WIDTH) in [0, 1] from scaled latents (n, 4, 32, 128), ``batch`` at a
    time (bounded memory: 800 at once were killed for memory at 128 x 512)."""
    out = []
    for i in range(0, len(latents), batch):
        chunk = torch.as_tensor(latents[i : i + batch]).float()
        x = vae.decode(chunk / vae.config.scaling_factor).sample
        out.append((x[:, 0] / 2 + 0.5).clamp(0, 1).numpy())
    return np.concatenate(out)


def sample_rows(array: np.ndarray, n: int, g: torch.Generator) -> torch.Tensor:
    """``n`` random rows of a uint8 picture array as floats in [0, 1]."""
    idx = torch.randint(0, array.shape[0], (n,), generator=g).numpy()
    return torch.from_numpy(array[idx]).float() / 255


def sample_labelled(
    array: np.ndarray, labels: np.ndarray, n: int, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random (picture, label) pairs, pictures as floats in [0, 1]."""
    idx = torch.randint(0, array.shape[0], (n,), generator=g).numpy()
    return torch.from_numpy(array[idx]).float() / 255, torch.from_numpy(labels[idx])


def augment_pictures(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Flips, blur, contrast and noise, so the picture judge also reads decoded samples."""
    b = x.shape[0]
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip[:, None, None], x.flip(-1), x)
    blurred = F.avg_pool2d(x[:, None], 3, stride=1, padding=1, count_include_pad=False)[:, 0]
    x = torch.where((torch.rand(b, generator=g) < 0.3)[:, None, None], blurred, x)
    contrast = 0.7 + 0.5 * torch.rand(b, 1, 1, generator=g)
    shift = 0.2 * torch.rand(b, 1, 1, generator=g) - 0.1
    x = (x - 0.5) * contrast + 0.5 + shift
    x = x + 0.05 * torch.rand(b, 1, 1, generator=g) * torch.randn(x.shape, generator=g)
    return x.clamp(0, 1)


def augment_spectrograms(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random circular shift in time and a little noise (the level is normalised)."""
    shifts = torch.randint(0, x.shape[-1], (x.shape[0],), generator=g)
    x = torch.stack([row.roll(int(s), dims=-1) for row, s in zip(x, shifts, strict=True)])
    x = x + 0.02 * torch.rand(x.shape[0], 1, 1, generator=g) * torch.randn(x.shape, generator=g)
    return x.clamp(0, 1)


def test_sets(seed: int, n: int) -> dict[str, np.ndarray]:
    """Fresh held-out pictures and sounds (seeded apart from training): float [0, 1]."""
    pictures = generate(picture_item, seed, PURPOSES["test_pictures"], n, "test pictures", 1)
    sounds = generate(sound_item, seed, PURPOSES["test_sounds"], n, "test sounds", 1)
    # item i of each test set has class i % 8, as heard_test_item's items do
    labels = (np.arange(n) % len(PICTURE_CLASSES)).astype(np.int64)
    return {"pictures": pictures / 255.0, "sounds": sounds / 255.0, "labels": labels}


@torch.no_grad()
def autoencoder_report(vae, data: DataCache, n: int) -> dict[str, float]:
    """Latent scaling factor (1 / std) and reconstruction errors on fresh data."""
    test = test_sets(data.seed, n)
    x = np.concatenate([test["pictures"], test["sounds"]]).astype(np.float32)
    vae.register_to_config(scaling_factor=1.0)
    latents = encode(vae, x, desc="autoencoder report")
    scale = float(1.0 / latents.std())
    recon = decode(vae, latents)
    error = np.abs(recon - x).mean(axis=(1, 2))
    return {
        "scaling_factor": round(scale, 5),
        "latent_mean": round(float(latents.mean()), 5),
        "recon_mae_pictures": round(float(error[:n].mean()), 5),
        "recon_mae_spectrograms": round(float(error[n:].mean()), 5),
    }
