"""Procedural pictures: eight classes of gray 128 x 512 drawings in [0, 1].

Every picture is drawn from a ``numpy.random.Generator``: the same seed gives the
same picture on every machine. Shapes vary in position, size, count, filling,
brightness and texture (three in five are filled with the grain of a sound: lines, beats,
sweeps, noise); most are bright on a black background (dark is silence in
a spectrogram), a tenth are inverted.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from itslib.mini.world import (
    DESIGN_HEIGHT,
    DESIGN_WIDTH,
    HEIGHT,
    PICTURE_CLASSES,
    UNIT,
    WIDTH,
    check_class,
)

# Shapes are laid out in design units (itslib.mini.world); drawing happens at _PX
# supersampled pixels per unit (twice the canvas resolution, for anti-aliasing).
_H, _W, _UNIT = DESIGN_HEIGHT, DESIGN_WIDTH, UNIT
_PX = 2 * _UNIT
# design-unit coordinates of the canvas pixels' centres
_ROWS = ((np.arange(HEIGHT, dtype=np.float32) + 0.5) / _UNIT - 0.5)[:, None]
_COLS = ((np.arange(WIDTH, dtype=np.float32) + 0.5) / _UNIT - 0.5)[None, :]


def _layer() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A blank supersampled mask to draw one shape into."""
    image = Image.new("L", (round(_W * _PX), round(_H * _PX)), 0)
    return image, ImageDraw.Draw(image)


def _mask(image: Image.Image) -> np.ndarray:
    """Downsample a supersampled mask to the canvas, values in [0, 1]."""
    small = image.resize((WIDTH, HEIGHT), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _shape(draw: ImageDraw.ImageDraw, points: list, filled: bool, width: float) -> None:
    pts = [(x * _PX, y * _PX) for x, y in points]
    if filled:
        draw.polygon(pts, fill=255)
    else:
        draw.line([*pts, pts[0]], fill=255, width=max(1, round(width * _PX)), joint="curve")


def _regular(cx: float, cy: float, radii: list[float], turn: float) -> list:
    """Polygon vertices around (cx, cy) at the given radii, evenly spaced in angle."""
    n = len(radii)
    return [
        (
            cx + r * math.cos(turn + 2 * math.pi * k / n),
            cy + r * math.sin(turn + 2 * math.pi * k / n),
        )
        for k, r in enumerate(radii)
    ]


def _draw_circles(rng: np.random.Generator) -> list[np.ndarray]:
    masks = []
    for _ in range(rng.integers(1, 6)):
        image, draw = _layer()
        r, cx, cy = rng.uniform(8, 30), rng.uniform(0, _W), rng.uniform(0, _H)
        box = [(cx - r) * _PX, (cy - r) * _PX, (cx + r) * _PX, (cy + r) * _PX]
        if rng.random() < 0.5:
            draw.ellipse(box, fill=255)
        else:
            draw.ellipse(box, outline=255, width=max(1, round(rng.uniform(1, 4) * _PX)))
        masks.append(_mask(image))
    return masks


def _draw_polygons(rng: np.random.Generator, star: bool) -> list[np.ndarray]:
    masks = []
    for _ in range(rng.integers(1, 5)):
        image, draw = _layer()
        size, turn = rng.uniform(12, 32), rng.uniform(0, 2 * math.pi)
        cx, cy = rng.uniform(0, _W), rng.uniform(size * 0.3, _H - size * 0.3)
        if star:
            inner = size * rng.uniform(0.32, 0.5)
            radii = [size, inner] * int(rng.choice([5, 5, 6]))
        else:
            radii = [size * rng.uniform(0.7, 1.2) for _ in range(3)]
        _shape(draw, _regular(cx, cy, radii, turn), rng.random() < 0.65, rng.uniform(1, 4))
        masks.append(_mask(image))
    return masks


def _draw_mountains(rng: np.random.Generator) -> list[np.ndarray]:
    masks = []
    for layer in range(rng.integers(1, 4)):
        image, draw = _layer()
        peaks = int(rng.integers(2, 7))
        xs = np.sort(rng.uniform(0, _W, peaks))
        top = rng.uniform(4, 30) + 10 * layer
        pts = [(-5.0, rng.uniform(40, 64))]
        for x in xs:
            pts += [
                (x, min(60.0, top + rng.uniform(0, 20))),
                (x + rng.uniform(8, 30), rng.uniform(45, 66)),
            ]
        pts += [
            (_W + 5.0, rng.uniform(40, 64)),
            (_W + 5.0, _H + 5.0),
            (-5.0, _H + 5.0),
        ]
        if rng.random() < 0.75:
            draw.polygon([(x * _PX, y * _PX) for x, y in pts], fill=255)
        else:
            ridge = [(x * _PX, y * _PX) for x, y in pts[:-2]]
            draw.line(ridge, fill=255, width=max(1, round(rng.uniform(1, 4) * _PX)), joint="curve")
        masks.append(_mask(image))
    return masks


def _draw_waves(rng: np.random.Generator) -> list[np.ndarray]:
    rows, cols = _ROWS, _COLS
    masks = []
    for _ in range(rng.integers(1, 6)):
        cycles, amp = rng.uniform(0.8, 7), rng.uniform(2, 20)
        y0, phase = rng.uniform(6, _H - 6), rng.uniform(0, 2 * math.pi)
        curve = y0 + amp * np.sin(2 * math.pi * cycles * cols / _W + phase)
        half = rng.uniform(0.7, 3.5)
        if rng.random() < 0.2:  # a filled sea below the wave
            masks.append(np.clip((rows - curve) * _UNIT + 0.5, 0, 1).astype(np.float32))
        else:  # a line with one canvas pixel of soft edge
            line = (half - np.abs(rows - curve)) * _UNIT + 0.5
            masks.append(np.clip(line, 0, 1).astype(np.float32))
    return masks


def _draw_skyline(rng: np.random.Generator) -> list[np.ndarray]:
    image, draw = _layer()
    ground = _H - rng.uniform(0, 8)
    x = rng.uniform(-10, 5)
    windows: list[tuple[float, float, float, float]] = []
    while x < _W:
        w, h = rng.uniform(8, 32), rng.uniform(10, 56)
        if rng.random() < 0.85:
            draw.rectangle([x * _PX, (ground - h) * _PX, (x + w) * _PX, ground * _PX], fill=255)
            if rng.random() < 0.3:  # a spire or a pointed roof
                mid, tip = x + w / 2, ground - h - rng.uniform(3, 12)
                roof = [(x, ground - h), (mid, tip), (x + w, ground - h)]
                draw.polygon([(a * _PX, b * _PX) for a, b in roof], fill=255)
            windows.append((x, ground - h, w, h))
        x += w + rng.uniform(0, 6)
    masks = [_mask(image)]
    if rng.random() < 0.6:  # lit or dark windows as a texture
        holes, hdraw = _layer()
        step = rng.uniform(3, 6)
        for bx, by, bw, bh in windows:
            for wy in np.arange(by + 2, by + bh - 2, step):
                for wx in np.arange(bx + 2, bx + bw - 2, step):
                    hdraw.rectangle(
                        [wx * _PX, wy * _PX, (wx + 1.5) * _PX, (wy + 1.5) * _PX], fill=255
                    )
        masks.append(-_mask(holes))  # negative: cut out of the buildings
    return masks


def _draw_trees(rng: np.random.Generator) -> list[np.ndarray]:
    masks = []
    ground = _H - rng.uniform(0, 6)
    for _ in range(rng.integers(1, 6)):
        image, draw = _layer()
        cx, height = rng.uniform(5, _W - 5), rng.uniform(28, 62)
        trunk_w, trunk_h = rng.uniform(1.5, 5), height * rng.uniform(0.2, 0.4)
        draw.rectangle([(cx - trunk_w / 2) * _PX, (ground - trunk_h) * _PX,
                        (cx + trunk_w / 2) * _PX, ground * _PX], fill=255)  # fmt: skip
        crown = height - trunk_h
        spread = crown * rng.uniform(0.3, 0.7)
        if rng.random() < 0.5:  # a pine: stacked triangles
            tiers = int(rng.integers(1, 4))
            for k in range(tiers):
                base = ground - trunk_h - k * crown / (tiers + 1)
                tip = base - crown * 2 / (tiers + 1)
                w = spread * (1 - 0.25 * k)
                draw.polygon([((cx - w) * _PX, base * _PX), ((cx + w) * _PX, base * _PX),
                              (cx * _PX, tip * _PX)], fill=255)  # fmt: skip
        else:  # a broadleaf: a round crown
            top = ground - height
            draw.ellipse([(cx - spread) * _PX, top * _PX, (cx + spread) * _PX,
                          (ground - trunk_h + 2) * _PX], fill=255)  # fmt: skip
        masks.append(_mask(image))
    return masks


def _draw_checkerboard(rng: np.random.Generator) -> list[np.ndarray]:
    rows, cols = _ROWS + 0.5, _COLS + 0.5  # from the canvas edge, in units
    ch, cw = rng.integers(4, 17), rng.integers(4, 17) if rng.random() < 0.4 else None
    cw = ch if cw is None else cw
    oy, ox = rng.integers(0, ch), rng.integers(0, cw)
    board = (((rows + oy) // ch + (cols + ox) // cw) % 2).astype(np.float32)
    if rng.random() < 0.4:  # only a patch of the canvas
        x0, y0 = rng.uniform(-20, _W * 0.6), rng.uniform(-10, _H * 0.5)
        x1, y1 = x0 + rng.uniform(50, _W), y0 + rng.uniform(24, _H)
        board *= ((cols >= x0) & (cols < x1) & (rows >= y0) & (rows < y1)).astype(np.float32)
    return [board]


_DRAW = {
    "circles": _draw_circles,
    "stars": lambda rng: _draw_polygons(rng, star=True),
    "triangles": lambda rng: _draw_polygons(rng, star=False),
    "mountains": _draw_mountains,
    "waves": _draw_waves,
    "city skyline": _draw_skyline,
    "trees": _draw_trees,
    "checkerboard": _draw_checkerboard,
}


def draw_shapes(class_name: str, rng: np.random.Generator) -> list[np.ndarray]:
    """The masks of one picture of ``class_name``: float32 (HEIGHT, WIDTH) each, in [0, 1]
    (a negative mask is a cut-out, such as a skyline's windows)."""
    check_class(class_name, PICTURE_CLASSES, "class_name")
    return _DRAW[class_name](rng)


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A fill texture, float32 (HEIGHT, WIDTH) in [0.2, 1]: the grains a sound is made of.

    Horizontal lines (steady partials), vertical lines (beats), slanted lines
    (sweeps), grain (noise), or a shade from top to bottom.
    """
    rows, cols = _ROWS, _COLS
    kind = rng.integers(0, 5)
    if kind == 0:
        wave = np.cos(2 * np.pi * rows / rng.uniform(2.5, 10) + rng.uniform(0, 6.3))
    elif kind == 1:
        wave = np.cos(2 * np.pi * cols / rng.uniform(3, 24) + rng.uniform(0, 6.3))
    elif kind == 2:
        slope = rng.uniform(-0.6, 0.6)
        wave = np.cos(2 * np.pi * (rows + slope * cols) / rng.uniform(3, 12))
    elif kind == 3:
        wave = rng.uniform(-1, 1, (HEIGHT, WIDTH))
    else:
        wave = 1 - 2 * rows / _H
    depth = rng.uniform(0.25, 0.4)
    texture = np.broadcast_to(1 - depth + depth * wave, (HEIGHT, WIDTH))  # rows or columns
    return texture.astype(np.float32)


def _background(rng: np.random.Generator) -> np.ndarray:
    """A dark background (dark is silence): black or nearly, flat or a faint gradient."""
    base = rng.uniform(0.0, 0.04) if rng.random() < 0.6 else rng.uniform(0.04, 0.25)
    picture = np.full((HEIGHT, WIDTH), base, np.float32)
    if rng.random() < 0.25:
        axis = np.linspace(0, 1, HEIGHT if rng.random() < 0.6 else WIDTH, dtype=np.float32)
        ramp = axis[:, None] if axis.size == HEIGHT else axis[None, :]
        picture = picture + rng.uniform(-0.15, 0.2) * ramp
    return picture


def make_picture(class_name: str, rng: np.random.Generator) -> np.ndarray:
    """Draw one gray picture of ``class_name``: float32 (HEIGHT, WIDTH) in [0, 1].

    Mostly bright strokes or shapes on a black or nearly black background (dark is
    silence in a spectrogram), one in ten inverted; shapes vary in position, size,
    count, filling, brightness and texture (three in five are filled with the grain
    of a sound).
    """
    check_class(class_name, PICTURE_CLASSES, "class_name")
    picture = _background(rng)
    for mask in draw_shapes(class_name, rng):
        if mask.min() < 0:  # a cut-out (windows): darken what is under it
            picture = picture * (1 + mask * rng.uniform(0.4, 0.9))
            continue
        value = np.float32(rng.uniform(0.5, 1.0))
        if rng.random() < 0.6:  # a textured fill: the shape is told by its outline
            value = value * _texture(rng)
        picture = picture * (1 - mask) + mask * value
    if rng.random() < 0.3:
        image = Image.fromarray(np.clip(picture * 255, 0, 255).astype(np.uint8))
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2) * _UNIT))
        picture = np.asarray(image, dtype=np.float32) / 255.0
    picture = picture + rng.normal(0, rng.uniform(0, 0.03), picture.shape).astype(np.float32)
    if rng.random() < 0.1:
        picture = 1 - picture
    return np.clip(picture, 0, 1).astype(np.float32)


def picture_batch(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pictures with balanced classes: (pictures (n, HEIGHT, WIDTH), labels (n,))."""
    if n < 1:
        raise ValueError(f"n={n} must be >= 1.")
    labels = rng.permutation(np.arange(n) % len(PICTURE_CLASSES))
    pictures = np.stack([make_picture(PICTURE_CLASSES[k], rng) for k in labels])
    return pictures, labels.astype(np.int64)
