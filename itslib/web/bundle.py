"""``export_web``: the browser bundle of the miniature world, written whole.

The bundle (``python -m itslib export-web OUT``)::

    noise.onnx          one step's mixed, guided noise estimate (both experts)
    decoder.onnx        latent -> spectrogram picture in [0, 1]
    preview.onnx        latent -> a linear preview of the picture (drawn at every step)
    magnitude.onnx      picture -> linear STFT magnitudes (Griffin-Lim's start)
    picture_judge.onnx  picture -> class probabilities
    sound_judge.onnx    STFT magnitudes of a waveform -> class probabilities
    world.json          scheduler constants, classes, spectrogram settings, defaults, ranges
    manifest.json       each file's bytes and sha256, their total, the weights' id

See :mod:`itslib.web.graphs` for what each graph computes, and ``web/`` in the
repository for the page that runs them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import onnx
import torch

from itslib._io import check_output_folder, staged_folder
from itslib.mini.experts import mini_pipeline
from itslib.mini.models import LATENT_SHAPE
from itslib.mini.store import load_components, sampling_weights, weights_id
from itslib.mini.world import HEIGHT, MINI_MEL, WIDTH
from itslib.web import graphs
from itslib.web.compose import product_of_experts
from itslib.web.constants import FORMAT, world_constants
from itslib.web.preview import fit_preview

MANIFEST = "manifest.json"


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def _signature(model: onnx.ModelProto) -> dict[str, list[dict[str, Any]]]:
    """The graph's inputs and outputs: name, element type, shape (a name for a dynamic axis)."""

    def describe(value) -> dict[str, Any]:
        tensor = value.type.tensor_type
        shape = [d.dim_param or d.dim_value for d in tensor.shape.dim]
        return {"name": value.name, "type": onnx.TensorProto.DataType.Name(tensor.elem_type)
                .lower(), "shape": shape}  # fmt: skip

    return {"inputs": [describe(v) for v in model.graph.input],
            "outputs": [describe(v) for v in model.graph.output]}  # fmt: skip


def build_graphs(folder: str | os.PathLike | None = None) -> dict[str, bytes]:
    """Every graph of the bundle as ONNX bytes, ``{file name: bytes}``, from the miniature
    weights in ``folder`` (``None``: ``ITSLIB_MINI_WEIGHTS`` or the shipped ones)."""
    pipe = mini_pipeline(folder, threads=None)
    parts = load_components(folder)
    experts = (pipe.image_expert, pipe.audio_expert)
    for expert in experts:  # the CPU pipeline runs them channels-last; the graphs need not
        expert.unet.to(memory_format=torch.contiguous_format)
    terms = {e.name: onnx.load_from_string(graphs.expert_term_graph(e, LATENT_SHAPE))
             for e in experts}  # fmt: skip
    latents = torch.zeros(1, *LATENT_SHAPE)
    pictures = torch.full((1, HEIGHT, WIDTH), 0.5)
    magnitudes = torch.ones(1, MINI_MEL.n_fft // 2 + 1, WIDTH)
    out = {"noise.onnx": product_of_experts(terms).SerializeToString()}
    out["decoder.onnx"] = graphs.to_onnx(graphs.SpectrogramDecoder(parts.vae), (latents,),
                                         ["latents"], ["picture"], ["latents", "picture"])
    out["preview.onnx"] = graphs.to_onnx(fit_preview(parts.vae), (latents,), ["latents"],
                                         ["picture"], ["latents", "picture"])
    out["magnitude.onnx"] = graphs.to_onnx(graphs.PictureToMagnitude(MINI_MEL), (pictures,),
                                           ["picture"], ["magnitude"], ["picture", "magnitude"])
    out["picture_judge.onnx"] = graphs.to_onnx(graphs.PictureJudgeProbs(parts.picture_judge),
                                               (pictures,), ["picture"], ["probs"],
                                               ["picture", "probs"])
    out["sound_judge.onnx"] = graphs.to_onnx(graphs.SoundJudgeProbs(parts.sound_judge, MINI_MEL),
                                             (magnitudes,), ["magnitude"], ["probs"],
                                             ["magnitude", "probs"])  # fmt: skip
    return out


def export_web(
    out: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the browser bundle of the miniature world into the folder ``out``.

    Args:
        out: the bundle's folder; written whole into a staging folder beside it, then
            renamed into place (a failure leaves ``out`` as it was).
        weights: a folder of miniature weights (``None``: ``ITSLIB_MINI_WEIGHTS`` if set,
            else the shipped ones).
        overwrite: replace an existing ``out``.

    Returns:
        The manifest (also written as ``out/manifest.json``): ``files`` ({name: {"bytes",
        "sha256"}} for every other file), ``total_bytes`` (their sum), ``weights_id``
        (:func:`itslib.mini.store.weights_id`), ``format``, ``itslib_version``, ``opset``.

    Deterministic: the same weights give byte-identical files (on a given machine; the
    preview's fitted numbers are rounded to 6 significant digits so that float rounding
    elsewhere rarely changes them).

    Raises:
        ValueError: ``out`` exists (without ``overwrite``), is a file, or is not writable.
        FileNotFoundError: no miniature weights in ``weights``.
    """
    target = check_output_folder(out, "out", overwrite=overwrite)
    folder = sampling_weights(weights)
    if folder is not None and not Path(folder).is_dir():
        raise FileNotFoundError(f"weights={str(folder)!r} is not a folder of miniature weights.")
    wid = weights_id(folder)
    parts = load_components(folder)
    files = build_graphs(folder)
    world = world_constants(wid, parts.scheduler_config)
    world["graphs"] = {name: _signature(onnx.load_from_string(data))
                       for name, data in files.items()}  # fmt: skip
    files["world.json"] = _json_bytes(world)
    manifest = {
        "format": FORMAT,
        "itslib_version": world["itslib_version"],
        "weights_id": wid,
        "opset": graphs.OPSET,
        "files": {name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                  for name, data in sorted(files.items())},  # fmt: skip
    }
    manifest["total_bytes"] = sum(entry["bytes"] for entry in manifest["files"].values())
    with staged_folder(target, name="out") as staging:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        (staging / MANIFEST).write_bytes(_json_bytes(manifest))
    return manifest
