"""Small file helpers: atomic writes and output-folder checks.

Temporary files and folders are made with the usual permissions (0666 / 0777 less the
process umask), so what is renamed into place reads like any other output.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _folder_path(folder, name: str) -> Path:
    """``folder`` as a Path, or a ``ValueError`` when it is empty (it names no folder)."""
    text = os.fsdecode(folder) if isinstance(folder, (str, bytes, os.PathLike)) else ""
    if not text.strip():
        raise ValueError(f"{name}={folder!r} names no folder; pass the path of a folder.")
    return Path(text)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def ensure_writable_folder(
    folder: str | os.PathLike, name: str = "out", create: bool = False
) -> Path:
    """Check that files can be written into ``folder``; create it only with ``create``.

    A folder that does not exist yet is checked through its nearest existing ancestor,
    and nothing is left behind, so a run that fails later leaves no empty folder.
    Raises ``ValueError`` naming the parameter ``name`` when ``folder`` is empty, is or
    lies under a file, or cannot be written (a read-only disk, no permission).
    """
    folder = _folder_path(folder, name)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name}={str(folder)!r} is a file, not a folder: pass a folder path.")
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise ValueError(
            f"{name}={str(folder)!r} is not a folder path: {str(base)!r} is a file; "
            "pass a folder path."
        )
    try:
        with tempfile.NamedTemporaryFile(dir=base, prefix=".write-test-"):
            pass
        if create:
            folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(
            f"{name}={str(folder)!r} is not writable ({err.strerror or err}); "
            "choose a folder you can write to."
        ) from err
    return folder


def check_output_folder(
    folder: str | os.PathLike, name: str = "out", overwrite: bool = False,
    allow_empty: bool = False,
) -> Path:  # fmt: skip
    """Check a folder that will be written whole (see :func:`staged_folder`); create nothing.

    It must name a folder (not '', '.', '..' or a file) in a writable place, and must
    not exist unless ``overwrite`` (or, with ``allow_empty``, exist but be empty).
    """
    folder = _folder_path(folder, name)
    if folder.name in ("", ".", ".."):
        raise ValueError(
            f"{name}={str(folder)!r} does not name a new folder (it is replaced whole); "
            "pass a path such as out/run."
        )
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name}={str(folder)!r} is a file, not a folder: pass a folder path.")
    if folder.exists() and not overwrite and not (allow_empty and not any(folder.iterdir())):
        raise ValueError(
            f"{name}={str(folder)!r} already exists{' and is not empty' if allow_empty else ''}; "
            "choose another folder or pass overwrite=True (--overwrite) to replace it."
        )
    ensure_writable_folder(folder.parent, name=name)
    return folder


def make_temp_file(folder: Path, stem: str, suffix: str = "") -> Path:
    """Create a new empty file ``.<stem>-<random><suffix>`` in ``folder`` (umask applies)."""
    for _ in range(100):
        path = Path(folder) / f".{stem}-{secrets.token_hex(4)}{suffix}"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not make a temporary file in {folder}.")


def make_temp_folder(folder: Path, stem: str) -> Path:
    """Create a new empty folder ``.<stem>-<random>.tmp`` in ``folder`` (umask applies)."""
    for _ in range(100):
        path = Path(folder) / f".{stem}-{secrets.token_hex(4)}.tmp"
        try:
            os.mkdir(path, 0o777)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not make a temporary folder in {folder}.")


def replace_folder(staging: Path, folder: Path) -> None:
    """Rename ``staging`` onto ``folder``; an old ``folder`` is moved aside, then deleted."""
    old = None
    if folder.exists():
        old = folder.parent / f".{folder.name}-old-{secrets.token_hex(4)}"
        os.replace(folder, old)
    try:
        os.replace(staging, folder)
    except OSError:
        if old is not None:
            os.replace(old, folder)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike, name: str = "out") -> Iterator[Path]:
    """Yield an empty temporary folder beside ``folder``; on success it replaces ``folder``
    whole (no stale files remain), on failure it is deleted and ``folder`` is untouched."""
    folder = Path(folder)
    ensure_writable_folder(folder.parent, name=name, create=True)
    staging = make_temp_folder(folder.parent, folder.name)
    try:
        yield staging
        replace_folder(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Whatever writes to the temporary path either completes and appears under the
    final name at once, or fails and leaves nothing behind. Missing parent folders
    are created.
    """
    path = Path(path)
    ensure_writable_folder(path.parent, name="path", create=True)
    tmp_path = make_temp_file(path.parent, path.stem, path.suffix)
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
