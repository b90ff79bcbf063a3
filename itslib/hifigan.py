"""The HiFi-GAN vocoder (Kong et al., 2020) that turns Auffusion's log-mel into sound.

It loads Auffusion's checkpoint as it is on the hub: ``vocoder/config.json`` and
``vocoder/vocoder.pt``, a torch pickle holding ``{"generator": state_dict}`` whose
convolutions are saved under weight normalisation (``weight_g``, ``weight_v`` and
``bias`` per conv). Loading folds each ``(weight_g, weight_v)`` pair into a plain
weight, which is the same as removing weight norm after loading.

Shapes: log-mel (batch, n_mels, frames) in, waveform (batch, frames * hop) out,
values in [-1, 1]. A vocoder plays only the spectrograms it was trained on: its mel
count, its upsampling (the hop) and its sampling rate must be the spectrogram's, which
``from_pretrained(..., mel=config)`` checks.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from itslib._hub import (
    DamagedModelError,
    check_finite_weights,
    damaged_message,
    resolve_file,
    weights_problem,
)

if TYPE_CHECKING:  # itslib.audio imports this module
    from itslib.audio import MelConfig

LRELU_SLOPE = 0.1


@dataclass(frozen=True)
class HiFiGANConfig:
    """The generator's shape, as in the checkpoint's ``config.json`` (other keys ignored).

    The defaults are only an example of a 160x (10 ms at 16 kHz) generator;
    :meth:`HiFiGAN.from_pretrained` always reads the shape from ``config.json``.
    ``sampling_rate`` (Hz) is optional there: ``None`` when the file does not say.
    """

    num_mels: int = 256
    upsample_rates: tuple[int, ...] = (5, 4, 2, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (11, 8, 4, 4, 4)
    upsample_initial_channel: int = 1024
    resblock: str = "1"
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    sampling_rate: int | None = None

    @classmethod
    def from_dict(cls, data: dict) -> HiFiGANConfig:
        known = {f.name for f in fields(cls)}
        missing = known - data.keys() - {"sampling_rate"}
        if missing:
            raise ValueError(f"vocoder config.json lacks the keys {sorted(missing)}.")
        kwargs = {k: data[k] for k in known if k in data}
        kwargs["resblock"] = str(kwargs["resblock"])
        if kwargs.get("sampling_rate") is not None:
            kwargs["sampling_rate"] = int(kwargs["sampling_rate"])
        for key in ("upsample_rates", "upsample_kernel_sizes", "resblock_kernel_sizes"):
            kwargs[key] = tuple(int(v) for v in kwargs[key])
        kwargs["resblock_dilation_sizes"] = tuple(
            tuple(int(v) for v in d) for d in kwargs["resblock_dilation_sizes"]
        )
        return cls(**kwargs)

    @property
    def hop_length(self) -> int:
        """Samples per spectrogram frame: the product of the upsampling rates."""
        hop = 1
        for rate in self.upsample_rates:
            hop *= rate
        return hop

    def check_mel(self, mel: MelConfig, where: str = "the vocoder") -> None:
        """Refuse a spectrogram this generator cannot play: a different mel count, hop
        (its upsampling) or sampling rate. Raises ``ValueError`` naming both values."""
        problems = []
        if self.num_mels != mel.n_mels:
            problems.append(f"it takes num_mels={self.num_mels} mel bins but the spectrogram "
                            f"has n_mels={mel.n_mels}")  # fmt: skip
        if self.hop_length != mel.hop_length:
            frames = 1024
            problems.append(
                f"its upsampling is {self.hop_length} samples a frame (the product of "
                f"upsample_rates {list(self.upsample_rates)}) but the spectrogram's hop_length "
                f"is {mel.hop_length}, so {mel.seconds(frames):.2f} s of canvas ({frames} "
                f"frames) would play as {frames * self.hop_length / mel.sample_rate:.2f} s"
            )
        if self.sampling_rate is not None and self.sampling_rate != mel.sample_rate:
            problems.append(f"its sampling_rate is {self.sampling_rate} Hz but the "
                            f"spectrogram's sample_rate is {mel.sample_rate} Hz")  # fmt: skip
        if problems:
            raise ValueError(
                f"{where} does not fit the spectrogram: {'; '.join(problems)}. Use the vocoder "
                "made for this spectrogram (the audio model's own vocoder/ folder), or a "
                "MelConfig that matches the vocoder."
            )


def _same_padding(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Three dilated convs, each followed by a plain conv, with residual adds."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=_same_padding(kernel, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=_same_padding(kernel)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            x = x + conv2(F.leaky_relu(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlock2(nn.Module):
    """The lighter block: one dilated conv per dilation, with residual adds."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=_same_padding(kernel, d))
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HiFiGAN(nn.Module):
    """HiFi-GAN generator: log-mel (B, n_mels, frames) -> waveform (B, frames * hop)."""

    def __init__(self, config: HiFiGANConfig = HiFiGANConfig()):
        super().__init__()
        if config.resblock not in ("1", "2"):
            raise ValueError(f"resblock={config.resblock!r} must be '1' or '2'.")
        self.config = config
        self.name_or_path = ""  # where from_pretrained found it, for messages
        channels = config.upsample_initial_channel
        self.conv_pre = nn.Conv1d(config.num_mels, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        block = ResBlock1 if config.resblock == "1" else ResBlock2
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True):
            # Output length is exactly input * rate, also when kernel - rate is odd.
            odd = (kernel - rate) % 2
            self.ups.append(
                nn.ConvTranspose1d(
                    channels,
                    channels // 2,
                    kernel,
                    stride=rate,
                    padding=(kernel - rate) // 2 + odd,
                    output_padding=odd,
                )
            )
            channels //= 2
            for k, dilations in zip(
                config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True
            ):
                self.resblocks.append(block(channels, k, dilations))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3)

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        if logmel.ndim != 3 or logmel.shape[1] != self.config.num_mels:
            raise ValueError(
                f"logmel must have shape (batch, {self.config.num_mels}, frames), "
                f"got {tuple(logmel.shape)}."
            )
        x = self.conv_pre(logmel.to(self.conv_pre.weight.dtype))
        per_stage = len(self.config.resblock_kernel_sizes)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * per_stage : (i + 1) * per_stage]
            x = sum(block(x) for block in blocks) / per_stage
        x = self.conv_post(F.leaky_relu(x))
        wav = torch.tanh(x)[:, 0]
        if not torch.isfinite(wav).all():
            if not torch.isfinite(logmel).all():
                raise ValueError("logmel contains NaN or infinite values; clean the input first.")
            raise ValueError(
                f"the vocoder {self.name_or_path or 'HiFiGAN'} (in {x.dtype}) produced NaN "
                "values from a finite log-mel: "
                + ("fp16 overflows easily, load it in torch.float32 (or torch.bfloat16 on "
                   "GPUs that have it)." if x.dtype == torch.float16 else
                   "its weights may be damaged (load it again from a fresh copy).")
            )  # fmt: skip
        return wav

    def checkpoint_keys(self) -> set[str]:
        """The keys a hub checkpoint must hold: weight_g, weight_v and bias per conv."""
        keys = set()
        for name, module in self.named_modules():
            if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
                keys |= {f"{name}.weight_g", f"{name}.weight_v", f"{name}.bias"}
        return keys

    def load_weight_norm_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Load a weight-normalised state dict strictly, folding g * v / |v| into weights.

        Raises ``ValueError`` naming every missing or unexpected key.
        """
        expected = self.checkpoint_keys()
        missing, extra = sorted(expected - state.keys()), sorted(state.keys() - expected)
        if missing or extra:
            raise ValueError(
                "vocoder checkpoint does not match the config: "
                f"missing keys {missing[:10]}{'...' if len(missing) > 10 else ''}, "
                f"unexpected keys {extra[:10]}{'...' if len(extra) > 10 else ''}."
            )
        plain = {}
        for key in expected:
            if key.endswith(".bias"):
                plain[key] = state[key]
            elif key.endswith(".weight_v"):
                prefix = key[: -len(".weight_v")]
                g, v = state[f"{prefix}.weight_g"], state[key]
                # torch.nn.utils.weight_norm(dim=0): one norm per slice along dim 0.
                norm = v.flatten(1).norm(dim=1).view(-1, *([1] * (v.ndim - 1)))
                plain[f"{prefix}.weight"] = g * v / norm
        self.load_state_dict(plain, strict=True)

    @classmethod
    def from_pretrained(
        cls,
        id_or_folder: str | os.PathLike,
        subfolder: str = "vocoder",
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        mel: MelConfig | None = None,
    ) -> HiFiGAN:
        """Load Auffusion's vocoder from a hub id or a local folder.

        Reads ``{subfolder}/config.json`` and ``{subfolder}/vocoder.pt`` (with
        ``torch.load(weights_only=True)``), checks the keys strictly, removes weight
        norm, and returns the generator in eval mode on ``device``/``dtype``.
        ``mel``: the spectrogram it will play; a vocoder that does not fit it (mel count,
        hop, sampling rate) is refused with ``ValueError`` (``None``: not checked). A
        damaged ``vocoder.pt`` (or NaN weights) raises
        :class:`itslib._hub.DamagedModelError` naming the file.
        """
        where = f"{id_or_folder}/{subfolder}" if subfolder else str(id_or_folder)
        with open(resolve_file(id_or_folder, "config.json", subfolder)) as f:
            config = HiFiGANConfig.from_dict(json.load(f))
        if mel is not None:
            config.check_mel(mel, f"the vocoder {where} (its config.json)")
        path = resolve_file(id_or_folder, "vocoder.pt", subfolder)
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises many kinds for a bad file
            problem = weights_problem(path)
            if problem:
                raise DamagedModelError(damaged_message(id_or_folder, path, problem)) from err
            raise
        if not isinstance(checkpoint, dict) or "generator" not in checkpoint:
            raise ValueError(
                f"{id_or_folder}/{subfolder}/vocoder.pt must be a dict with the key 'generator'."
            )
        model = cls(config)
        model.name_or_path = where
        model.load_weight_norm_state_dict(checkpoint["generator"])
        model = model.eval().requires_grad_(False).to(device=device, dtype=dtype)
        check_finite_weights(model, id_or_folder, subfolder)
        return model
