"""The rules for one value that every settings object, function and command shares,
each written once: whole numbers, finite numbers in a range, devices.

Each rule returns the value as a plain Python number, so numpy's integers and floats
pass (a seed taken from ``np.arange`` is a seed) and what is recorded in ``params.json``
is plain JSON; or it raises ``ValueError`` naming the parameter and what it must be.
``bool`` is never a number here (``True`` is not a step count).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch


def whole(value: Any, name: str, low: int | None = 1, high: int | None = None,
          note: str = "") -> int:  # fmt: skip
    """``value`` as an ``int`` in ``low..high`` (either bound ``None``: open). ``note``
    (the flag, what the bound is) goes in brackets after the rule."""
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral)
    if not ok or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name}={_shown(value)} must be a whole number{_bounds(low, high)}"
                         f"{_note(note)}.")  # fmt: skip
    return int(value)


def number(value: Any, name: str, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, note: str = "") -> float:  # fmt: skip
    """``value`` as a finite ``float`` within the bounds (``low_open``: ``low`` itself is
    excluded; ``high_open`` likewise)."""
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real)
          and math.isfinite(value))  # fmt: skip
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"{name}={_shown(value)} must be {_range(low, high, low_open, high_open)}"
                         f"{_note(note)}.")  # fmt: skip
    return float(value)


def _shown(value: Any) -> str:
    """``value`` as the reader typed it: numpy's scalars without their type around them."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _note(note: str) -> str:
    return f" ({note})" if note else ""


def _bounds(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" in {low}..{high}"
    if low is not None:
        return f" >= {low}"
    return f" <= {high}" if high is not None else ""


def _range(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def device(value: Any, name: str = "device") -> torch.device | None:
    """``value`` (None, "cpu", "cuda", "cuda:N" or a torch.device) as a device this torch can
    use; None stays None (the caller's default)."""
    if value is None or value == "":
        return None
    try:
        chosen = torch.device(value)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"{name}={value!r} is not a device: use cpu, cuda or cuda:N.") from err
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={value!r}: this torch sees no CUDA GPU "
                         "(torch.cuda.is_available() is False); use cpu or leave it out.")
    return chosen


def default_device() -> str:
    """``"cuda"`` when a CUDA GPU is present, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str | torch.device) -> torch.dtype:
    """fp16 on CUDA, fp32 elsewhere."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.float32
