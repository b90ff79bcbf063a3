"""The built book, read by a real browser (headless Chromium through Playwright).

Not collected by the plain test run (the book must be built first); CI runs it after
``jupyter-book build``::

    BOOK_HTML=_build/html python -m pytest -q tests/browser_book.py

Every chapter must render, its images load, its audio elements have a positive
duration, the spectrogram player's playhead move when the audio time changes, its
Colab link point at ``notebooks/<name>.ipynb`` on branch main, and the console show
no errors. Every page of the book (chapters and prose pages alike) must carry no
tooling noise (no "--models real" hint, no "noqa" comment) and its videos must load
with a positive duration; chapter 4 must print that the loop written out on the page
equals ``itslib.sampler.sample`` bit for bit. Screenshots go to
``$BOOK_HTML/../screenshots``.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import yaml

BOOK = Path(os.environ.get("BOOK_HTML", "_build/html")).resolve()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# the repository's URL is written once, in _config.yml
REPO = yaml.safe_load(Path("_config.yml").read_text())["repository"]["url"].split("github.com/")[1]
CHAPTERS = sorted(p.stem for p in Path("notebooks").glob("[0-9][0-9]_*.ipynb"))


def toc_pages() -> list[str]:
    """Every page of the book, as paths in _toc.yml (``book/intro``, ``notebooks/...``)."""
    toc = yaml.safe_load(Path("_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


PAGES = toc_pages()
# what must never reach a reader: tooling's hints and linters' comments
NOISE = ("--models real", "noqa")
# chapter 4 prints this after running the loop it writes out against the library's
LOOP_EQUALITY = "my loop == itslib.sampler.sample, bit for bit: True"


@pytest.fixture(scope="module")
def server():
    assert (BOOK / "index.html").exists(), f"no built book in {BOOK}: run jupyter-book build ."
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(BOOK))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--autoplay-policy=no-user-gesture-required"],
        )  # fmt: skip
        yield browser
        browser.close()


def test_every_chapter_is_in_the_book():
    assert CHAPTERS, "no notebooks found"
    assert (BOOK / "index.html").exists(), f"no built book in {BOOK}: run jupyter-book build ."
    for name in CHAPTERS:
        assert (BOOK / "notebooks" / f"{name}.html").exists(), name


@pytest.mark.parametrize("name", CHAPTERS)
def test_chapter_renders_plays_and_links_to_colab(server, browser, name):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []

    def console(message) -> None:
        # Failed loads are checked below by URL (CI has no internet, so the theme's MathJax
        # CDN cannot load); the two others come from the book theme itself, not from us.
        known = ("Failed to load resource", "THEBE_JS_URL", "theme mode")
        if message.type == "error" and not any(k in message.text for k in known):
            errors.append(message.text)

    def response(r) -> None:
        if r.status >= 400 and r.url.startswith(server) and not r.url.endswith("/favicon.ico"):
            errors.append(f"{r.status} {r.url}")

    page.on("console", console)
    page.on("response", response)
    page.on("pageerror", lambda e: None if "THEBE_JS_URL" in str(e) else errors.append(str(e)))
    page.goto(f"{server}/notebooks/{name}.html", wait_until="networkidle")

    assert page.locator("h1").count() >= 1
    broken = page.evaluate(
        "[...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src"
        ".slice(0, 80))"
    )
    assert broken == [], broken
    assert page.evaluate("document.images.length") > 0
    if "plt.show()" in Path(f"notebooks/src/{name}.py").read_text():
        # matplotlib figures reached the page (an Agg backend in the kernel draws none)
        figures = page.evaluate(
            "[...document.querySelectorAll('.cell_output img')]"
            ".filter(i => !i.closest('.its-player')).length"
        )
        assert figures > 0, "no matplotlib figure on the page"
    raw_tables = page.evaluate(
        "[...document.querySelectorAll('.cell_output p')].filter(p => p.textContent"
        ".trim().startsWith('| ')).length"
    )
    assert raw_tables == 0, "a Markdown table in an output was printed as text"

    durations = page.evaluate(
        """async () => Promise.all([...document.querySelectorAll('audio')].map(a =>
            new Promise(done => {
                if (a.readyState >= 1) return done(a.duration);
                a.addEventListener('loadedmetadata', () => done(a.duration));
                a.addEventListener('error', () => done(-1));
                a.load();
            })))"""
    )
    assert all(d > 0 for d in durations), durations

    players = page.locator(".its-player")
    for k in range(players.count()):
        left = page.evaluate(
            """async (k) => {
                const root = document.querySelectorAll('.its-player')[k];
                const sound = root.querySelector('audio');
                const head = root.querySelector('.its-playhead');
                sound.currentTime = sound.duration / 2;
                await new Promise(done => sound.addEventListener('seeked', done, {once: true}));
                sound.dispatchEvent(new Event('timeupdate'));
                return parseFloat(head.style.left);
            }""",
            k,
        )
        assert 40 <= left <= 60, f"player {k}: playhead at {left}% after seeking to the middle"

    colab = page.evaluate(
        "[...document.querySelectorAll('a')].map(a => a.href).filter(h => h.includes('colab'))"
    )
    expected = f"colab.research.google.com/github/{REPO}/blob/main/notebooks/{name}.ipynb"
    assert any(expected in href for href in colab), colab

    shots = BOOK.parent / "screenshots"
    shots.mkdir(exist_ok=True)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=False)
    page.close()
    assert errors == [], errors


def media_durations(page, selector: str) -> list[float]:
    """The duration of every ``selector`` element on ``page`` (-1: it failed to load)."""
    return page.evaluate(
        """async (selector) => Promise.all([...document.querySelectorAll(selector)].map(m =>
            new Promise(done => {
                if (m.readyState >= 1) return done(m.duration);
                m.addEventListener('loadedmetadata', () => done(m.duration));
                m.addEventListener('error', () => done(-1));
                m.load();
            })))""",
        selector,
    )


@pytest.mark.parametrize("path", PAGES)
def test_page_has_no_tooling_noise_and_its_videos_play(server, browser, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{server}/{path}.html", wait_until="networkidle")
    text = page.inner_text("body")
    assert [noise for noise in NOISE if noise in text] == []
    videos = media_durations(page, "video")
    assert all(d > 0 for d in videos), videos
    if path == PAGES[0]:  # the intro opens with an image that sounds
        assert len(videos) >= 1, "the intro shows no video"
        shots = BOOK.parent / "screenshots"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / "intro.png"), full_page=False)
    page.close()


def test_the_loop_on_the_page_equals_the_library(server, browser):
    (chapter,) = [name for name in CHAPTERS if name.startswith("04_")]
    page = browser.new_page()
    page.goto(f"{server}/notebooks/{chapter}.html", wait_until="networkidle")
    outputs = page.locator(".cell_output").all_inner_texts()
    page.close()
    assert any(LOOP_EQUALITY in output for output in outputs), "no equality line printed"
