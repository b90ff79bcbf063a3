"""The miniature world's networks as ONNX graphs, for the browser (onnxruntime-web).

Each graph wraps the library's own code, traced by ``torch.onnx.export`` (the TorchScript
exporter, opset 17, a dynamic batch axis), so that the browser runs what Python runs:

``noise.onnx``
    One step's noise estimate, the product of experts (paper Eq. 5) as
    :func:`itslib.sampler.sample` forms it: each expert's classifier-free-guided estimate
    (:meth:`itslib.experts.Expert.predict_noise`, one batch-2B UNet call) times its step
    weight, summed. An expert whose weight is 0 (not yet joined: the warm start) is not
    evaluated: an ONNX ``If`` skips its UNet, as the Python loop skips it.
``decoder.onnx``
    Scaled latent (B, 4, 32, 128) -> the spectrogram picture (B, 128, 512) in [0, 1], as
    :meth:`itslib.pipeline.ImagesThatSound.finish` decodes it (the autoencoder's decoder,
    ``x / 2 + 0.5`` clamped, the channel mean).
``magnitude.onnx``
    Spectrogram picture (B, 128, 512) in [0, 1] -> linear STFT magnitudes (B, 513, 512):
    :func:`itslib.audio.picture_to_logmel`'s mapping, ``exp`` and
    :func:`itslib.audio.mel_to_magnitude`, the first half of Griffin-Lim (the phase
    iterations, FFTs, run in JavaScript).
``picture_judge.onnx`` / ``sound_judge.onnx``
    The judges' class probabilities (B, 8). The picture judge reads the picture; the
    sound judge reads the STFT magnitudes (B, 513, 512) of the peak-normalised waveform
    and forms the log-mel picture itself, as :func:`itslib.mini.sounds.sound_picture` does.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings

import onnx
import torch
from torch import nn

from itslib import audio
from itslib.experts import Condition, Expert
from itslib.mini.world import MINI_MEL

OPSET = 17


class GuidedTerm(nn.Module):
    """One expert's share of the mixed noise: ``weight * predict_noise(x_t, t, label, guidance)``.

    Inputs: ``x_t`` (B, 4, h, w) float32, ``t`` () int64, ``label`` (B,) int64 (a class
    index), ``guidance`` () and ``weight`` () float32. Output (B, 4, h, w) float32.
    """

    def __init__(self, expert: Expert) -> None:
        super().__init__()
        self.expert = expert
        self.unet = expert.unet  # registered, so its weights are the graph's
        self.register_buffer("null", expert.prompt_encoder("")["class_labels"], persistent=False)

    def forward(self, x_t, t, label, guidance, weight):
        condition = Condition({"class_labels": self.null}, {"class_labels": label})
        return weight * self.expert.predict_noise(x_t, t, condition, guidance)


class SpectrogramDecoder(nn.Module):
    """Scaled latents (B, 4, h, w) -> spectrogram pictures (B, 4h, 4w) in [0, 1]."""

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents):
        pictures = self.vae.decode(latents / self.vae.config.scaling_factor).sample
        return (pictures / 2 + 0.5).clamp(0, 1).mean(dim=1)


class PictureToMagnitude(nn.Module):
    """Spectrogram pictures (B, n_mels, frames) in [0, 1] -> linear magnitudes
    (B, n_fft / 2 + 1, frames) >= 0: the picture flipped back and mapped onto the
    log-mel range, ``exp``, then :func:`itslib.audio.mel_to_magnitude`."""

    def __init__(self, config: audio.MelConfig = MINI_MEL) -> None:
        super().__init__()
        self.config = config
        self.low, self.high = math.log(config.log_floor), math.log(config.log_ceiling)

    def forward(self, pictures):
        logmel = pictures.clamp(0, 1).flip(-2) * (self.high - self.low) + self.low
        return audio.mel_to_magnitude(torch.exp(logmel), self.config)


class PictureJudgeProbs(nn.Module):
    """Pictures (B, 128, 512) in [0, 1] -> the picture judge's class probabilities (B, 8)."""

    def __init__(self, judge: nn.Module) -> None:
        super().__init__()
        self.judge = judge

    def forward(self, pictures):
        return self.judge(pictures.clamp(0, 1)).softmax(-1)


class SoundJudgeProbs(nn.Module):
    """STFT magnitudes (B, 513, 512) of peak-normalised waveforms -> the sound judge's class
    probabilities (B, 8): the mel projection, the log floor and the picture mapping of
    :func:`itslib.audio.wav_to_logmel` and :func:`itslib.audio.logmel_to_picture`."""

    def __init__(self, judge: nn.Module, config: audio.MelConfig = MINI_MEL) -> None:
        super().__init__()
        self.judge = judge
        self.floor = config.log_floor
        self.low, self.high = math.log(config.log_floor), math.log(config.log_ceiling)
        self.register_buffer("basis", torch.from_numpy(audio.mel_basis(config)), persistent=False)

    def forward(self, magnitudes):
        logmel = torch.log(torch.clamp(self.basis @ magnitudes, min=self.floor))
        pictures = ((logmel - self.low) / (self.high - self.low)).clamp(0, 1).flip(-2)
        return self.judge(pictures).softmax(-1)


def constants_to_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """Move the top-level ``Constant`` nodes that hold a tensor into initializers, one per
    distinct content. The tracer records a constant tensor once per use (30 copies of the
    mel basis in Griffin-Lim's unrolled loop: 16 MB); sharing makes it one copy."""
    graph = model.graph
    kept, names, renamed = [], {}, {}
    for node in graph.node:
        value = [a for a in node.attribute if a.name == "value" and a.type == a.TENSOR]
        if node.op_type != "Constant" or not value:
            kept.append(node)
            continue
        tensor = value[0].t
        key = (tensor.data_type, tuple(tensor.dims),
               hashlib.sha256(tensor.SerializeToString()).hexdigest())  # fmt: skip
        if key not in names:
            names[key] = node.output[0]
            copy = onnx.TensorProto()
            copy.CopyFrom(tensor)
            copy.name = node.output[0]
            graph.initializer.append(copy)
        renamed[node.output[0]] = names[key]
    for node in kept:
        node.input[:] = [renamed.get(name, name) for name in node.input]
    for output in graph.output:
        if output.name in renamed and renamed[output.name] != output.name:
            raise ValueError(f"graph output {output.name!r} is a shared constant.")
    del graph.node[:]
    graph.node.extend(kept)
    return model


def to_onnx(module: nn.Module, args: tuple, inputs: list[str], outputs: list[str],
            batched: list[str]) -> bytes:  # fmt: skip
    """``module`` traced on ``args`` as ONNX bytes (opset :data:`OPSET`, TorchScript
    exporter); the names in ``batched`` (inputs and outputs) get a dynamic axis 0."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # the tracer's notes on Python branches (shape asserts, a finiteness check) and
        # the exporter's deprecation notice: the graphs are checked against torch in tests
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(), args, buffer, opset_version=OPSET, dynamo=False,
            input_names=inputs, output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in batched},
        )  # fmt: skip
    model = constants_to_initializers(onnx.load_from_string(buffer.getvalue()))
    onnx.checker.check_model(model)
    return model.SerializeToString()


def expert_term_graph(expert: Expert, latent_shape: tuple[int, int, int]) -> bytes:
    """:class:`GuidedTerm` of ``expert`` as ONNX; its inputs are named ``x_t``, ``t``,
    ``{name}_label``, ``{name}_guidance``, ``{name}_weight``, its output ``{name}_part``."""
    name = expert.name
    args = (torch.zeros(1, *latent_shape), torch.tensor(981), torch.tensor([0]),
            torch.tensor(10.0), torch.tensor(0.5))  # fmt: skip
    inputs = ["x_t", "t", f"{name}_label", f"{name}_guidance", f"{name}_weight"]
    return to_onnx(GuidedTerm(expert), args, inputs, [f"{name}_part"],
                   ["x_t", f"{name}_label", f"{name}_part"])  # fmt: skip
