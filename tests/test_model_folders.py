"""Model folders and their configs are checked when they load (offline, tiny models):
a vocoder that does not fit the spectrogram, damaged weights files, NaN or inf computed
by a model, a local folder without the expected subfolders, a folder given as a sound."""

import json
import shutil
import struct

import numpy as np
import pytest
import torch

from itslib._hub import (
    DamagedModelError,
    ModelUnavailableError,
    from_pretrained_prefer_fp16,
    weights_problem,
)
from itslib.audio import AUFFUSION, MelConfig
from itslib.experts import (
    NonFiniteOutputError,
    load_audio_expert,
    load_if_expert,
    load_image_expert,
)
from itslib.files import load_audio, write_wav
from itslib.hifigan import HiFiGAN, HiFiGANConfig
from itslib.pipeline import ImagesThatSound
from itslib.rehearsal import write_if_stage_1, write_vocoder
from itslib.rehearsal.diffusion import TINY_VOCODER

H, W = 256, 64  # latent 4 x 32 x 8
UNET_FILE = "unet/diffusion_pytorch_model.safetensors"
TEXT_FILE = "text_encoder/model.safetensors"
VAE_FILE = "vae/diffusion_pytorch_model.safetensors"


@pytest.fixture
def image_copy(tiny_repos, tmp_path):
    """A private copy of the tiny SD repository, free to damage."""
    return shutil.copytree(tiny_repos[0], tmp_path / "sd")


@pytest.fixture
def audio_copy(tiny_repos, tmp_path):
    """A private copy of the tiny Auffusion repository (with vocoder/), free to damage."""
    return shutil.copytree(tiny_repos[1], tmp_path / "auffusion")


# --- the vocoder must fit the spectrogram -------------------------------------------------


def test_the_rehearsal_vocoder_fits_auffusion(audio_copy):
    vocoder = HiFiGAN.from_pretrained(audio_copy, mel=AUFFUSION)
    assert vocoder.hop_length == AUFFUSION.hop_length
    assert vocoder.config.sampling_rate == AUFFUSION.sample_rate


def test_a_vocoder_with_another_hop_is_refused_at_load(audio_copy):
    """Upsampling 256 against a hop of 160: 10.24 s of canvas would play as 16.38 s."""
    write_vocoder(audio_copy / "vocoder", dict(TINY_VOCODER, upsample_rates=[8, 4, 8]))
    with pytest.raises(ValueError, match="upsampling is 256.*hop_length is 160") as info:
        load_audio_expert(audio_copy, device="cpu")
    message = str(info.value)
    assert "[8, 4, 8]" in message and "10.24 s" in message and "16.38 s" in message
    assert str(audio_copy / "vocoder") in message
    expert = load_audio_expert(audio_copy, device="cpu", vocoder=False)  # the rest is fine
    assert "vocoder" not in expert.extras


def test_a_vocoder_with_another_sampling_rate_or_mel_count_is_refused(audio_copy):
    write_vocoder(audio_copy / "vocoder", dict(TINY_VOCODER, sampling_rate=22050))
    with pytest.raises(ValueError, match="sampling_rate is 22050 Hz.*sample_rate is 16000 Hz"):
        load_audio_expert(audio_copy, device="cpu")
    write_vocoder(audio_copy / "vocoder", dict(TINY_VOCODER, num_mels=80))
    with pytest.raises(ValueError, match="num_mels=80.*n_mels=256"):
        HiFiGAN.from_pretrained(audio_copy, mel=AUFFUSION)
    # against a spectrogram it was made for, the same vocoder loads
    mel = MelConfig(n_mels=80)
    assert HiFiGAN.from_pretrained(audio_copy, mel=mel).config.num_mels == 80


def test_a_config_without_sampling_rate_is_checked_on_the_rest():
    config = HiFiGANConfig.from_dict({k: v for k, v in TINY_VOCODER.items()
                                      if k != "sampling_rate"})  # fmt: skip
    assert config.sampling_rate is None
    config.check_mel(AUFFUSION)  # hop and mel count fit; the rate is not stated
    with pytest.raises(ValueError, match="hop_length is 256"):
        config.check_mel(MelConfig(hop_length=256, n_fft=2048))


# --- damaged weights files ----------------------------------------------------------------


def damage(path, kind):
    """Damage a weights file as downloads and disks do."""
    data = path.read_bytes()
    rng = np.random.default_rng(0)
    if kind == "random bytes":
        path.write_bytes(rng.bytes(len(data)))
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "bad header":
        path.write_bytes(data[:8] + b"#" * 8 + data[16:])
    elif kind == "random values":  # an intact header over random bytes: NaN weights
        start = 8 + struct.unpack("<Q", data[:8])[0]
        noise = bytearray(rng.bytes(len(data) - start))
        noise[:4] = b"\xff\xff\xff\xff"  # at least one NaN, whatever the draw
        path.write_bytes(data[:start] + bytes(noise))
    else:
        raise ValueError(kind)


KINDS = ["random bytes", "truncated", "bad header", "random values"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("part", [UNET_FILE, TEXT_FILE])
def test_a_damaged_weights_file_is_named(image_copy, part, kind):
    damage(image_copy / part, kind)
    with pytest.raises(DamagedModelError) as info:
        load_image_expert(image_copy, device="cpu")
    message = str(info.value)
    assert str(image_copy / part) in message
    assert ("damaged or incomplete" if kind != "random values" else "NaN or infinite") in message
    assert "again" in message and "huggingface.co" not in message


def test_a_damaged_vae_is_named(image_copy):
    damage(image_copy / VAE_FILE, "truncated")
    with pytest.raises(DamagedModelError, match="vae/diffusion_pytorch_model.safetensors"):
        load_image_expert(image_copy, device="cpu")


@pytest.mark.parametrize("kind", ["random bytes", "truncated"])
def test_a_damaged_vocoder_is_named(audio_copy, kind):
    damage(audio_copy / "vocoder" / "vocoder.pt", kind)
    with pytest.raises(DamagedModelError, match="vocoder.pt is damaged or incomplete"):
        load_audio_expert(audio_copy, device="cpu")


def test_a_vocoder_with_nan_weights_is_named(audio_copy):
    path = audio_copy / "vocoder" / "vocoder.pt"
    state = torch.load(path, weights_only=True)
    state["generator"]["conv_post.bias"][0] = float("inf")
    torch.save(state, path)
    with pytest.raises(DamagedModelError, match="NaN or infinite.*conv_post"):
        HiFiGAN.from_pretrained(audio_copy)


def test_a_damaged_fp16_file_is_not_skipped_for_the_full_precision_one(image_copy):
    """The fp16 loader falls back to full precision only where there are no fp16 files."""
    from diffusers import UNet2DConditionModel

    half = image_copy / "unet" / "diffusion_pytorch_model.fp16.safetensors"
    half.write_bytes((image_copy / UNET_FILE).read_bytes())
    damage(half, "truncated")
    with pytest.raises(DamagedModelError, match="fp16.safetensors"):
        from_pretrained_prefer_fp16(UNet2DConditionModel, str(image_copy),
                                    dict(subfolder="unet"), True, ("unet",))  # fmt: skip
    half.unlink()  # no fp16 files at all: the full-precision ones load
    unet = from_pretrained_prefer_fp16(UNet2DConditionModel, str(image_copy),
                                       dict(subfolder="unet"), True, ("unet",))  # fmt: skip
    assert unet.dtype == torch.float32


def test_a_damaged_if_model_is_named_not_called_gated(tmp_path):
    folder = write_if_stage_1(tmp_path / "IF-I-M")
    damage(folder / "unet" / "diffusion_pytorch_model.safetensors", "bad header")
    with pytest.raises(DamagedModelError, match="unet/diffusion_pytorch_model") as info:
        load_if_expert(folder, device="cpu")
    assert "gated" not in str(info.value) and "licence" not in str(info.value)


def test_a_damaged_file_in_the_hub_cache_says_download_again(tmp_path, monkeypatch):
    """A hub id's files live in the Hugging Face cache: the message names the cached file
    and the command that fetches a fresh copy."""
    import huggingface_hub.constants

    from itslib._hub import check_weight_files

    repo = tmp_path / "hub" / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    cached = repo / "snapshots" / "abc123" / "unet" / "diffusion_pytorch_model.safetensors"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\x10\0\0\0\0\0\0\0{}")  # header says 16 bytes, holds 2
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(DamagedModelError) as info:
        check_weight_files("org/tiny", ["unet"])
    message = str(info.value)
    assert str(cached) in message and "truncated" in message
    assert "huggingface-cli download org/tiny --force-download" in message
    check_weight_files("org/not-cached", ["unet"])  # nothing here to blame: no error


def test_weights_problem_reads_structure(tmp_path, image_copy):
    assert weights_problem(image_copy / UNET_FILE) is None
    longer = tmp_path / "longer.safetensors"
    longer.write_bytes((image_copy / UNET_FILE).read_bytes() + b"\0" * 10)
    assert "10 bytes more" in weights_problem(longer)
    short = tmp_path / "short.safetensors"
    short.write_bytes(b"\1\0")
    assert "fewer than" in weights_problem(short)
    listed = tmp_path / "list.safetensors"
    header = json.dumps([1, 2]).encode()
    listed.write_bytes(struct.pack("<Q", len(header)) + header)
    assert "table of tensors" in weights_problem(listed)
    pickle = tmp_path / "plain.pt"
    torch.save({"a": torch.zeros(3)}, pickle)
    assert weights_problem(pickle) is None


# --- NaN or inf computed by a model -------------------------------------------------------


class InfOnce(torch.nn.Module):
    """Wraps a UNet; its first call returns inf in one element (an fp16 overflow)."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet
        self.calls = 0

    def forward(self, *args, **kwargs):
        out = self.unet(*args, **kwargs)
        self.calls += 1
        if self.calls == 1:
            out.sample[0, 0, 0, 0] = float("inf")
        return out

    @property
    def config(self):
        return self.unet.config


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_an_overflowing_unet_is_named_with_its_precision(tiny_repos, dtype):
    image = load_image_expert(tiny_repos[0], device="cpu", dtype=dtype)
    sound = load_audio_expert(tiny_repos[1], device="cpu", dtype=dtype, vocoder=False)
    sound.unet = InfOnce(sound.unet)  # the audio expert runs first (warm start)
    pipeline = ImagesThatSound(image, sound)
    with pytest.raises(NonFiniteOutputError) as info:
        pipeline("a castle", "bell ringing", steps=2, height=H, width=W, progress=False,
                 vocoder="griffin-lim")  # fmt: skip
    message = str(info.value)
    assert "audio expert" in message and str(tiny_repos[1]) in message
    assert str(dtype) in message and "noise estimate" in message
    assert "clean the input" not in message
    if dtype == torch.float16:
        assert "float32" in message and "bfloat16" in message
    (result,) = pipeline("a castle", "bell ringing", steps=2, height=H, width=W,
                         progress=False, vocoder="griffin-lim")  # fmt: skip
    assert np.isfinite(result.spectrogram).all()  # once only: the next run is fine


def test_non_finite_input_is_blamed_on_the_input(tiny_repos):
    image = load_image_expert(tiny_repos[0], device="cpu")
    condition = image.condition("a castle")
    x = torch.zeros(1, 4, H // 8, W // 8)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x_t; clean the input first"):
        image.predict_noise(x, torch.tensor(500), condition, 7.5)
    overflowed = condition.cond["encoder_hidden_states"].clone()
    overflowed[0, 0, 0] = float("inf")
    condition.cond["encoder_hidden_states"] = overflowed
    with pytest.raises(NonFiniteOutputError, match="prompt encoder of the image expert"):
        image.predict_noise(torch.zeros_like(x), torch.tensor(500), condition, 7.5)


def test_an_overflowing_decoder_is_named(tiny_repos, monkeypatch):
    image = load_image_expert(tiny_repos[0], device="cpu")
    latents = torch.zeros(1, 4, H // 8, W // 8)
    assert image.decode(latents).isfinite().all()
    real = image.vae.decode

    def overflow(z):
        out = real(z)
        out.sample[..., 0] = float("inf")  # the clamp afterwards would hide it as 1.0
        return out

    monkeypatch.setattr(image.vae, "decode", overflow)
    with pytest.raises(NonFiniteOutputError, match=r"image expert .*float32.*decoded pictures"):
        image.decode(latents)


def test_a_vocoder_computing_nan_is_named():
    config = HiFiGANConfig.from_dict(dict(TINY_VOCODER, num_mels=8, upsample_initial_channel=8))
    vocoder = HiFiGAN(config).eval()
    vocoder.name_or_path = "somewhere/vocoder"
    logmel = torch.zeros(1, 8, 4)
    assert vocoder(logmel).isfinite().all()
    with torch.no_grad():
        vocoder.conv_post.bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="vocoder somewhere/vocoder .*float32.*NaN"):
        vocoder(logmel)
    logmel[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="logmel contains NaN"):
        vocoder(logmel)


# --- a local folder without the expected subfolders ---------------------------------------


def test_a_folder_without_unet_names_it_and_the_variable(image_copy, monkeypatch):
    shutil.rmtree(image_copy / "unet")
    monkeypatch.setenv("ITSLIB_IMAGE_MODEL", str(image_copy))
    with pytest.raises(ModelUnavailableError) as info:
        load_image_expert(device="cpu")
    message = str(info.value)
    assert "lacks unet/ " in message and "ITSLIB_IMAGE_MODEL" in message
    assert "config.json" not in message and "huggingface.co" not in message
    monkeypatch.delenv("ITSLIB_IMAGE_MODEL")
    with pytest.raises(ModelUnavailableError, match="image_model / --image-model"):
        load_image_expert(image_copy, device="cpu")


def test_a_folder_above_the_model_points_to_it(tiny_repos, tmp_path, monkeypatch):
    """Pointing the variable at the folder that holds the copies (rehearse's root)."""
    root = tmp_path / "models"
    shutil.copytree(tiny_repos[1], root / "auffusion" / "auffusion-full-no-adapter")
    monkeypatch.setenv("ITSLIB_AUDIO_MODEL", str(root))
    with pytest.raises(ModelUnavailableError) as info:
        load_audio_expert(device="cpu")
    message = str(info.value)
    for part in ("unet/", "vae/", "text_encoder/", "tokenizer/", "scheduler/", "vocoder/"):
        assert part in message
    assert "ITSLIB_AUDIO_MODEL" in message
    assert str(root / "auffusion" / "auffusion-full-no-adapter") in message


def test_an_audio_folder_without_vocoder_names_it(audio_copy):
    shutil.rmtree(audio_copy / "vocoder")
    with pytest.raises(ModelUnavailableError, match="lacks vocoder/ .*audio_model"):
        load_audio_expert(audio_copy, device="cpu")


# --- a folder given as a sound ------------------------------------------------------------


def test_load_audio_says_a_folder_is_a_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="is a folder, not an audio file"):
        load_audio(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_audio(tmp_path / "missing.wav")
    write_wav(tmp_path / "a.wav", np.zeros(1600, dtype=np.float32))
    assert load_audio(tmp_path / "a.wav").shape == (1600,)
