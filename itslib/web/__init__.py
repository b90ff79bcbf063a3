"""The miniature world in the reader's browser: what Python exports for it.

:func:`export_web` (``python -m itslib export-web OUT``) writes ONNX graphs of the experts
(classifier-free guidance and the weighted mix inside), the decoder, a preview, the
judges and the first half of Griffin-Lim, with ``world.json`` (scheduler constants, class
names, spectrogram settings, defaults and ranges from :mod:`itslib.settings`) and
``manifest.json`` (each file's sha256, the weights' id). :func:`playground_html` is the
block a page shows the playground with. The page's code is in the repository's ``web/``
folder; the book build copies it beside onnxruntime-web and the bundle.

Only the export needs ``onnx`` (the ``dev`` extra); it is imported when called, so
:func:`playground_html` works without it (in Colab, say).
"""

from __future__ import annotations

import os
from typing import Any

from itslib.web.page import playground_html


def export_web(
    out: str | os.PathLike, weights: str | os.PathLike | None = None, overwrite: bool = False
) -> dict[str, Any]:
    """Write the browser bundle into ``out``; see :func:`itslib.web.bundle.export_web`."""
    from itslib.web.bundle import export_web as export

    return export(out, weights=weights, overwrite=overwrite)


__all__ = ["export_web", "playground_html"]
