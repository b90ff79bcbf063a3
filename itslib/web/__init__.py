"""The miniature world in the reader's browser: what Python exports for it.

:func:`export_web` (``python -m itslib export-web OUT``) writes ONNX graphs of the experts
(classifier-free guidance and the weighted mix inside), the decoder, a preview, the
judges and the first half of Griffin-Lim, with ``world.json`` (scheduler constants, class
names, spectrogram settings, defaults and ranges from :mod:`itslib.settings`) and
``manifest.json`` (each file's sha256, the weights' id). The page that runs them is in
the repository's ``web/`` folder; the book build copies both beside onnxruntime-web.
"""

from itslib.web.bundle import build_graphs, export_web

__all__ = ["build_graphs", "export_web"]
