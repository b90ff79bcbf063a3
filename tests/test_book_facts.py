"""The facts a page states agree with the library.

A page (``book/*.md`` or a chapter's source, ``notebooks/src/NN_*.py``) that names a
canvas size, a canvas length or an ``itslib`` module states a fact about the code;
these tests fail when no world has that canvas or length, or when the module is gone.
The worlds' canvases come from :data:`itslib.worlds.WORLDS`, their lengths from their
spectrogram settings, so a page written for an older canvas (the miniature world was
64 x 256 once) fails here instead of misleading a reader; and a size only one world
has must sit in a paragraph that names that world (the real world's 256 x 1024 is no
fact about the pages the miniature world draws).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from itslib.audio import AUFFUSION, MelConfig
from itslib.mini.models import LATENT_SHAPE
from itslib.mini.world import MINI_MEL
from itslib.worlds import WORLDS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [*sorted((ROOT / "book").glob("*.md")),
         *sorted((ROOT / "notebooks" / "src").glob("[0-9][0-9]_*.py"))]  # fmt: skip
# Stable Diffusion 1.5's autoencoder shrinks each side 8 times (FACTS.md: 256 x 1024
# pixels / 8 = a 4 x 32 x 128 latent); the miniature one's shape is declared in the package.
SD_DOWNSAMPLE = 8
# the real pipeline crops the dark band its VAE leaves at the right edge: 32 of 1024 columns
CROP = 32 / 1024

SIZE = re.compile(r"(?<![\d.])(\d+)\s*[x×]\s*(\d+)(?:\s*[x×]\s*(\d+))?(?![\d.])")
SECONDS = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?|ten)\s*(?:s|seconds?)\b", re.IGNORECASE)
OF_AUDIO = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?|ten)\s*(?:s|seconds?)\s+of\s+(?:audio|sound)\b",
                      re.IGNORECASE)  # fmt: skip
MODULE = re.compile(r"\bitslib(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
WORDS = {"ten": 10.0}


def mel_of(canvas: tuple[int, int]) -> MelConfig:
    """A world's spectrogram settings: the one whose mel bins are the canvas's height."""
    (mel,) = [m for m in (AUFFUSION, MINI_MEL) if m.n_mels == canvas[0]]
    return mel


# the words by which a paragraph says which world it is about
WORLD_WORDS = {"real": ("real", "auffusion", "stable diffusion", "colab"),
               "mini": ("miniature", "mini")}  # fmt: skip


def known_sizes() -> dict[tuple[int, int], set[str]]:
    """(height, width) of every world's canvas and latent: the worlds that have it."""
    sizes: dict[tuple[int, int], set[str]] = {}
    for name, world in WORLDS.items():
        height, width = world.canvas
        if mel_of(world.canvas) is AUFFUSION:
            latent = (height // SD_DOWNSAMPLE, width // SD_DOWNSAMPLE)
        else:
            latent = LATENT_SHAPE[1:]
        for size in ((height, width), latent):
            sizes.setdefault(size, set()).add(name)
    return sizes


def known_lengths() -> dict[float, set[str]]:
    """Seconds of sound on every world's canvas, whole and with the real crop."""
    lengths: dict[float, set[str]] = {}
    for name, world in WORLDS.items():
        mel, width = mel_of(world.canvas), world.canvas[1]
        for frames in (width, width - round(width * CROP)):
            lengths.setdefault(mel.seconds(frames), set()).add(name)
    return lengths


def _number(text: str) -> float:
    return WORDS.get(text.lower(), None) or float(text)


def _length_worlds(stated: str, lengths: dict[float, set[str]]) -> set[str]:
    """The worlds whose canvas lasts ``stated`` seconds, rounded to its own decimals, or
    to within half a second when stated as a whole number ("10 s", "about ten
    seconds"). Empty: no world's."""
    value = _number(stated)
    decimals = len(stated.split(".")[1]) if "." in stated else 0
    worlds: set[str] = set()
    for length, names in lengths.items():
        near = (abs(value - length) <= 0.5 if decimals == 0
                else round(length, decimals) == value)  # fmt: skip
        if near:
            worlds |= names
    return worlds


def claims(text: str):
    """(paragraph, sentence, kind, stated, worlds that have it) for every canvas size and
    length stated in ``text``.

    A size is a canvas or latent when it is four times as wide as it is tall (the
    paper's shape; square CLIP windows and 77 x 768 text embeddings are not canvases);
    in ``C x H x W`` the last two count. A length is a number of seconds "of audio" or
    "of sound", or any number of seconds in a sentence that states a canvas size.
    """
    sizes, lengths = known_sizes(), known_lengths()
    # paragraphs: blocks between blank lines (a lone "#" is blank in a chapter's source);
    # each item of a bulleted list is one
    for block in re.split(r"\n\s*#?\s*\n|\n(?=\s*#?\s*[-*] )", text):
        paragraph = " ".join(block.split())
        for sentence in re.split(r"(?<=[.!?;])\s+", paragraph):
            canvas_here = False
            for match in SIZE.finditer(sentence):
                numbers = [int(n) for n in match.groups() if n is not None]
                height, width = numbers[-2:]
                if height >= 16 and width == 4 * height:
                    canvas_here = True
                    yield (paragraph, sentence, "size", match.group(0),
                           sizes.get((height, width), set()))  # fmt: skip
            pattern = SECONDS if canvas_here else OF_AUDIO
            for match in pattern.finditer(sentence):
                yield (paragraph, sentence, "length", match.group(0),
                       _length_worlds(match.group(1), lengths))  # fmt: skip


def unknown_facts(text: str) -> list[str]:
    """The canvas sizes and lengths stated in ``text`` that no world has, and those that
    only one world has in a paragraph that does not say which world it is about."""
    found = []
    for paragraph, sentence, kind, stated, worlds in claims(text):
        if not worlds:
            found.append(f"{kind} {stated!r}, which no world has, in: {sentence[:120]}")
        elif len(worlds) == 1:
            (world,) = worlds
            if not any(word in paragraph.lower() for word in WORLD_WORDS[world]):
                found.append(f"{kind} {stated!r}, the {world} world's, in a paragraph "
                             f"that does not name that world: {sentence[:120]}")
    return found


def test_the_checker_knows_the_worlds():
    assert set(known_sizes()) >= {(256, 1024), (128, 512), (32, 128)}
    assert unknown_facts("Auffusion's 256 x 1024 canvas, 10.24 s of audio.") == []
    assert unknown_facts("The miniature canvas: 128 × 512 pixels, 2.56 s.") == []
    assert unknown_facts("A 4 x 32 x 128 latent (both worlds).") == []
    assert unknown_facts("In the real world, about ten seconds of audio.") == []
    assert unknown_facts("Scored over 256 x 256 CLIP windows.") == []


@pytest.mark.parametrize("stale", [
    "the miniature world's 64 x 256 canvas",
    "a miniature 128 x 512 canvas holds 5.12 s",
    "each sample is 4.0 seconds of sound",
    "a 4 x 16 x 64 latent",
    "In this book it is a 256 × 1024 log-mel spectrogram, about ten seconds of audio.",
    "Every page shows a 128 x 512 canvas.",
])  # fmt: skip
def test_the_checker_catches_a_fact_no_world_has(stale):
    assert unknown_facts(stale), stale


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_size_and_length_on_a_page_is_a_worlds(page):
    assert unknown_facts(page.read_text()) == []


def resolves(name: str) -> bool:
    """``itslib.a.b.c``: the longest importable module, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            found = importlib.util.find_spec(module_name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            continue
        thing = importlib.import_module(module_name)
        for attribute in parts[cut:]:
            if not hasattr(thing, attribute):
                return False
            thing = getattr(thing, attribute)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_itslib_name_on_a_page_exists(page):
    names = sorted(set(MODULE.findall(page.read_text())))
    assert [name for name in names if not resolves(name)] == []


def test_the_published_pages_play_griffin_lim():
    """The intro and the glossary say every sound on the published pages (the miniature
    world) is played by Griffin-Lim, and HiFi-GAN only in the real world."""
    mini = WORLDS["mini"]
    pipe = mini.load_pipeline()
    assert mini.load_vocoder() is None and pipe.vocoder is None
    assert pipe.settings(*mini.examples[0]).vocoder == "griffin-lim"
