"""Auffusion's HiFi-GAN checkpoint format, loaded strictly through the real loader."""

import pytest
import torch

from itslib._hub import ModelUnavailableError
from itslib.hifigan import HiFiGAN, HiFiGANConfig
from itslib.rehearsal import write_vocoder

from .numerics import assert_close_across_kernels

# Type "1" with an odd kernel-minus-rate stage (kernel 5, rate 2); type "2" with even stages.
TINY_CONFIGS = {
    "resblock1": dict(
        num_mels=16,
        upsample_rates=[5, 2, 4],
        upsample_kernel_sizes=[10, 5, 8],
        upsample_initial_channel=32,
        resblock="1",
        resblock_kernel_sizes=[3, 5],
        resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5]],
        sampling_rate=16000,  # extra keys in config.json are ignored, as on the hub
        segment_size=8192,
    ),
    "resblock2": dict(
        num_mels=16,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        upsample_initial_channel=16,
        resblock=2,
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
    ),
}


def write_hub_checkpoint(folder, config_dict, seed=0):
    """A random generator saved in the hub format; returns (plain reference, saved state)."""
    reference = write_vocoder(folder / "vocoder", config_dict, seed)
    state = torch.load(folder / "vocoder" / "vocoder.pt", weights_only=True)["generator"]
    return reference, state


@pytest.mark.parametrize("name", sorted(TINY_CONFIGS))
def test_hub_checkpoint_loads_strictly_and_matches(tmp_path, name):
    config = TINY_CONFIGS[name]
    reference, state = write_hub_checkpoint(tmp_path, config)
    kind = "convs1" if config["resblock"] == "1" else "convs"
    assert {"conv_pre.weight_g", "ups.0.weight_v", f"resblocks.0.{kind}.1.bias"} <= state.keys()

    vocoder = HiFiGAN.from_pretrained(tmp_path)
    assert not any(p.requires_grad for p in vocoder.parameters())
    hop = 1
    for rate in config["upsample_rates"]:
        hop *= rate
    assert vocoder.hop_length == hop
    logmel = torch.randn(2, 16, 7) * 2
    with torch.no_grad():
        wav = vocoder(logmel)
        expected = reference(logmel)
    assert wav.shape == (2, 7 * hop)
    assert wav.abs().max() <= 1.0
    assert_close_across_kernels(wav, expected, passes=1)  # folded weight norm: other sums


def test_missing_and_extra_keys_are_named(tmp_path):
    _, state = write_hub_checkpoint(tmp_path, TINY_CONFIGS["resblock1"])
    path = tmp_path / "vocoder" / "vocoder.pt"
    broken = dict(state)
    del broken["conv_post.weight_g"]
    torch.save({"generator": broken}, path)
    with pytest.raises(ValueError, match="conv_post.weight_g"):
        HiFiGAN.from_pretrained(tmp_path)
    extra = dict(state, **{"ups.9.weight_g": torch.zeros(1)})
    torch.save({"generator": extra}, path)
    with pytest.raises(ValueError, match=r"unexpected keys \['ups.9.weight_g'\]"):
        HiFiGAN.from_pretrained(tmp_path)
    torch.save(state, path)
    with pytest.raises(ValueError, match="'generator'"):
        HiFiGAN.from_pretrained(tmp_path)


def test_pickles_with_code_are_refused(tmp_path):
    _, state = write_hub_checkpoint(tmp_path, TINY_CONFIGS["resblock2"])
    torch.save({"generator": state, "oops": HiFiGANConfig()}, tmp_path / "vocoder" / "vocoder.pt")
    with pytest.raises(Exception, match="weights_only|Unsupported global"):
        HiFiGAN.from_pretrained(tmp_path)


def test_missing_model_offline_names_the_model_and_the_fix(tmp_path):
    with pytest.raises(ModelUnavailableError, match="itslib-tests/no-such-vocoder") as info:
        HiFiGAN.from_pretrained("itslib-tests/no-such-vocoder")
    assert "local folder" in str(info.value)
    with pytest.raises(ModelUnavailableError, match="config.json"):
        HiFiGAN.from_pretrained(tmp_path)


def test_wrong_input_shape():
    vocoder = HiFiGAN(HiFiGANConfig.from_dict(TINY_CONFIGS["resblock2"]))
    with pytest.raises(ValueError, match="logmel must have shape"):
        vocoder(torch.zeros(1, 8, 4))
