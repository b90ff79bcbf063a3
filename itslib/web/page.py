"""The playground's block on a page: a hidden ``div`` with its settings, and the module
that shows it.

The book's chapter 9 displays :func:`playground_html` from a code cell; the book build
runs it, so the controls' defaults, ranges and help come from :mod:`itslib.settings`
(through :mod:`itslib.web.constants`) at build time and the page fetches nothing until
the reader presses Generate. With JavaScript off the block stays hidden.
"""

from __future__ import annotations

import html
import json
import os
from typing import Any

from itslib.metrics import ACCEPT
from itslib.mini.store import weights_id
from itslib.mini.world import HEIGHT, PICTURE_CLASSES, SOUND_CLASSES, WIDTH
from itslib.web.constants import PAGE_START, controls, settings_fields
from itslib.worlds import MINI_EXAMPLES

NOTE = ("This playground runs in your browser, in the miniature world (the small models this "
        "book trains and ships): no kernel and no server; nothing you choose leaves your "
        "machine. The first Generate downloads the models and onnxruntime-web once. It "
        "starts at DPM-Solver++ with 15 steps rather than Python's 100 DDIM steps, which "
        "take about a minute here.")  # fmt: skip


def playground_config(weights: str | os.PathLike | None = None) -> dict[str, Any]:
    """What the page's module needs before any model loads: classes, example pairs, each
    setting's default and help, the controls' ranges, the judges' threshold and the
    weights' id (the bundle must carry the same)."""
    return {
        "weights_id": weights_id(weights),
        "classes": {"image": list(PICTURE_CLASSES), "audio": list(SOUND_CLASSES)},
        "examples": [list(pair) for pair in MINI_EXAMPLES],
        "settings": settings_fields(),
        "controls": controls(),
        "page_start": dict(PAGE_START),
        "judges": {"accept": ACCEPT, "scale": 100.0},
        "canvas": {"height": HEIGHT, "width": WIDTH},
        "note": NOTE,
    }


def playground_html(
    static: str = "../itsweb", weights: str | os.PathLike | None = None
) -> str:
    """The block that shows the playground: ``static`` is the URL of the folder that holds
    ``playground.js`` (and ``bundle/``), relative to the page (the book's chapters sit one
    folder below the site's root, where the build puts ``itsweb/``)."""
    config = json.dumps(playground_config(weights), sort_keys=True).replace("</", "<\\/")
    src = html.escape(f"{static.rstrip('/')}/playground.js", quote=True)
    return (
        '<div class="itsweb-playground" hidden>\n'
        f'<script type="application/json" class="itsweb-config">{config}</script>\n'
        "</div>\n"
        f'<script type="module" src="{src}"></script>\n'
    )
