"""Small file helpers: atomic writes and output-folder checks."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def ensure_writable_folder(folder: str | os.PathLike, name: str = "out") -> Path:
    """Create ``folder`` if needed and check that files can be written into it.

    Raises ``ValueError`` naming the parameter ``name`` when the folder cannot be
    created or written (a read-only disk, a path that is a file, no permission).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name}={str(folder)!r} is a file, not a folder: pass a folder path.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        raise ValueError(
            f"{name}={str(folder)!r} is not writable ({err.strerror or err}); "
            "choose a folder you can write to."
        ) from err
    return folder


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Whatever writes to the temporary path either completes and appears under the
    final name at once, or fails and leaves nothing behind.
    """
    path = Path(path)
    ensure_writable_folder(path.parent, name="path")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_png(path: str | os.PathLike, picture) -> None:
    """Write a picture in [0, 1] as an 8-bit PNG, atomically.

    ``picture``: (H, W) gray, or (H, W, 3) / (3, H, W) colour, numpy or torch.
    """
    import numpy as np
    from PIL import Image

    array = np.asarray(picture.detach().cpu().float() if hasattr(picture, "detach") else picture)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or not np.all(np.isfinite(array)):
        raise ValueError(f"picture must be a finite (H, W) or (H, W, 3) array, got {array.shape}.")
    pixels = np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
