"""Chapter 9's playground, run in headless Chromium as a reader runs it (issue 26).

Not collected by the plain test run: it needs the built book with the playground's files
(``npm ci && npm run build``, ``python -m itslib export-web web/dist/itsweb/bundle``, then
``jupyter-book build .``). CI runs it after the book::

    BOOK_HTML=_build/html python -m pytest -q tests/browser_playground.py

Parity: for the same starting noise (drawn by torch in Python and handed to the page) the
browser's final spectrogram equals ``world.pipeline(...)``'s within 1e-3 (max abs on
[0, 1]) for DDIM 25 with the paper's warm start and for DPM-Solver++ 15. The reference
runs the miniature UNets in torch's default memory format: on the CPU the pipeline runs
them channels-last, whose convolutions are less exact on this machine's CPU (4.5e-5 from
float64 on one UNet call, against 2e-6 for the default format and for onnxruntime), and
DPM-Solver++ 15 carries that to 4.5e-3 on the spectrogram: the two Python paths differ by
more than the bound. Griffin-Lim: on the same spectrogram, the browser's waveform has a
spectral convergence of at most :data:`SC_BOUND` against Python's (measured 2e-5 to 6e-4).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from itslib import audio
from itslib.mini.store import judge_pictures, judge_sounds
from itslib.mini.world import MINI_MEL, PICTURE_CLASSES, SOUND_CLASSES
from itslib.settings import Settings
from itslib.worlds import load_world
from tests.browser_book import BOOK, browser, server  # noqa: F401 (fixtures)

PAGE = "notebooks/09_playground.html"
SC_BOUND = 5e-3  # spectral convergence, browser Griffin-Lim vs Python's, same spectrogram
PARITY = 1e-3  # max abs on the [0, 1] spectrogram
PAIR, SEED = ("stars", "siren"), 5
FINISHED = ("['done', 'error', 'refused', 'cancelled']"
            ".includes(document.querySelector('.itsweb-playground').dataset.state)")  # fmt: skip


@pytest.fixture(scope="module")
def pipe():
    """The miniature world's pipeline, its UNets in torch's default memory format (see above)."""
    pipeline = load_world("mini", quiet=True).pipeline
    for expert in (pipeline.image_expert, pipeline.audio_expert):
        expert.unet.to(memory_format=torch.contiguous_format)
    return pipeline


def settings(image: str, sound: str, **overrides) -> dict:
    """The settings sampler.js takes: Python's defaults, class indices, ``overrides``."""
    defaults = Settings()
    out = {name: getattr(defaults, name) for name in ("audio_weight", "image_start", "audio_start",
           "image_guidance", "audio_guidance", "steps", "scheduler", "seed")}  # fmt: skip
    out |= {"image_prompt": image, "audio_prompt": sound,
            "image_class": PICTURE_CLASSES.index(image), "audio_class": SOUND_CLASSES.index(sound)}
    return out | overrides


class Watch:
    """A page's console errors, failed responses and requests for the playground's files."""

    def __init__(self, page, server):  # noqa: F811
        self.errors: list[str] = []
        self.fetched: list[str] = []

        def console(message) -> None:
            known = ("Failed to load resource", "THEBE_JS_URL", "theme mode")
            if message.type in ("error", "warning") and not any(k in message.text for k in known):
                self.errors.append(message.text)

        def response(r) -> None:
            if r.status >= 400 and r.url.startswith(server) and not r.url.endswith("favicon.ico"):
                self.errors.append(f"{r.status} {r.url}")

        page.on("console", console)
        page.on("response", response)
        def request(r) -> None:
            if "/itsweb/" in r.url:
                self.fetched.append(r.url)

        page.on("pageerror", lambda e: self.errors.append(str(e)) if "THEBE_JS_URL" not in str(e)
                else None)  # fmt: skip
        page.on("request", request)

    def beyond_page(self) -> list[str]:
        """What was fetched beyond the page's own modules and stylesheet."""
        page_load = ("playground.js", "playground.css", "media.js")
        return [url for url in self.fetched if not url.endswith(page_load)]

    def models(self) -> list[str]:
        """The models and onnxruntime-web fetched."""
        return [url for url in self.fetched if "/itsweb/bundle/" in url or "/itsweb/ort/" in url]


def open_page(browser, server, **context):  # noqa: F811
    page = browser.new_context(**context).new_page()
    watch = Watch(page, server)
    page.goto(f"{server}/{PAGE}", wait_until="networkidle")
    return page, watch


def run_api(page, config: dict, noise: np.ndarray | None = None, vocode=None) -> dict:
    """engine.generate (and engine.vocode of ``vocode``) in the page, through its module."""
    return page.evaluate(
        """async ([config, noise, vocode]) => {
            const { load } = await import('../itsweb/engine.js');
            const engine = await load();
            const r = await engine.generate(config, noise ? { noise } : {});
            const out = { picture: Array.from(r.picture), wav: Array.from(r.wav), probs: r.probs,
                          timings: r.timings };
            if (vocode) out.vocoded = Array.from(await engine.vocode(Float32Array.from(vocode)));
            return out;
        }""",
        [config, None if noise is None else noise.ravel().tolist(),
         None if vocode is None else np.asarray(vocode).ravel().tolist()],
    )  # fmt: skip


def spectral_convergence(actual: np.ndarray, expected: np.ndarray) -> float:
    """|| |STFT(actual)| - |STFT(expected)| ||_F / || |STFT(expected)| ||_F (MINI_MEL's STFT)."""
    def magnitude(wav):
        return audio._stft(torch.from_numpy(np.asarray(wav, np.float32))[None], MINI_MEL).abs()

    a, e = magnitude(actual), magnitude(expected)
    return float(torch.linalg.norm(a - e) / torch.linalg.norm(e))


@pytest.fixture(scope="module")
def api_page(browser, server):  # noqa: F811
    page, watch = open_page(browser, server)
    yield page
    page.close()
    assert watch.errors == [], watch.errors


@pytest.mark.parametrize("scheduler, steps", [("ddim", 25), ("dpm++", 15)])
def test_browser_sample_equals_python(api_page, pipe, scheduler, steps):
    noise = torch.randn(1, 4, 32, 128, generator=torch.Generator().manual_seed(SEED)).numpy()
    (result,) = pipe(*PAIR, seed=SEED, steps=steps, scheduler=scheduler, progress=False)
    assert result.params["image_start"] == 0.1  # the paper's warm start (image joins at step 2)
    out = run_api(api_page, settings(*PAIR, steps=steps, scheduler=scheduler, seed=SEED), noise,
                  vocode=result.spectrogram)  # fmt: skip
    picture = np.array(out["picture"], np.float32).reshape(result.spectrogram.shape)
    error = float(np.abs(picture - result.spectrogram).max())
    print(f"{scheduler} {steps}: max abs {error:.2e}; browser seconds {out['timings']}")
    assert error <= PARITY, f"{scheduler} {steps}: the browser's spectrogram is {error:.2e} away"
    # Griffin-Lim on the same spectrogram (Python's): the browser plays it as Python does
    vocoded = spectral_convergence(out["vocoded"], result.waveform)
    own = spectral_convergence(out["wav"], result.waveform)
    print(f"spectral convergence: same spectrogram {vocoded:.2e}, the browser's own {own:.2e}")
    assert vocoded <= SC_BOUND
    assert len(out["wav"]) == result.waveform.size
    np.testing.assert_allclose(out["probs"]["picture"], judge_pictures(result.spectrogram)[0],
                               atol=1e-2)  # fmt: skip
    np.testing.assert_allclose(out["probs"]["sound"], judge_sounds(result.waveform)[0], atol=2e-2)


def test_a_seed_draws_pythons_noise(api_page):
    drawn = api_page.evaluate(
        """async () => {
            const { TorchGenerator } = await import('../itsweb/rng.js');
            return [Array.from(new TorchGenerator(7).randn(16384)),
                    Array.from(new TorchGenerator(0).rand(1000))];
        }"""
    )
    noise = torch.randn(1, 4, 32, 128, generator=torch.Generator().manual_seed(7))
    np.testing.assert_allclose(drawn[0], noise.ravel().numpy(), atol=1e-5)
    phase = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(np.float32(drawn[1]), phase.numpy())


def test_reader_generates_plays_and_hears_the_verdicts(browser, server, pipe):  # noqa: F811
    page, watch = open_page(browser, server)
    root = page.locator(".itsweb-playground")
    assert root.is_visible() and root.get_attribute("data-state") == "idle"
    # controls start at Python's defaults (the page's start for scheduler and steps)
    defaults = Settings()
    for name in ("audio_weight", "image_start", "audio_start", "image_guidance", "audio_guidance"):
        assert float(page.input_value(f"input[name={name}]")) == getattr(defaults, name), name
    assert page.input_value("select[name=scheduler]") == "dpm++"
    assert page.input_value("select[name=steps]") == "15"
    assert watch.beyond_page() == [], "the page fetched more than its module before Generate"

    image, sound = "trees", "bell ringing"
    page.select_option("select[name=image_prompt]", image)
    page.select_option("select[name=audio_prompt]", sound)
    page.fill("input[name=seed]", "3")
    page.click(".itsweb-generate")
    page.wait_for_function(FINISHED, timeout=300_000)
    assert root.get_attribute("data-state") == "done", page.text_content(".itsweb-status")
    assert any(url.endswith("noise.onnx") for url in watch.models())
    assert not any("cdn" in url or not url.startswith(server) for url in watch.fetched)

    # the canvas holds Python's spectrogram for seed 3 (the browser drew the seed's noise)
    (result,) = pipe(image, sound, seed=3, steps=15, scheduler="dpm++", progress=False)
    pixels = np.array(page.evaluate(
        """() => { const c = document.querySelector('.itsweb-canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   return Array.from(d.filter((_, i) => i % 4 === 0)); }"""))  # fmt: skip
    expected = np.round(result.spectrogram.ravel() * 255)
    assert np.abs(pixels - expected).max() <= 1, "the drawn picture is not Python's"
    assert float(page.get_attribute(".itsweb-progress", "value")) == 1

    duration, rms = page.evaluate(
        """async () => { const a = document.querySelector('.itsweb-audio');
            if (a.readyState < 1) await new Promise(d => a.addEventListener('loadedmetadata', d));
            const w = document.querySelector('.itsweb-playground').itswebResult.wav;
            return [a.duration, Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length)]; }"""
    )  # fmt: skip
    assert abs(duration - result.waveform.size / MINI_MEL.sample_rate) < 0.01 and rms > 0.01
    left = page.evaluate(
        """async () => { const a = document.querySelector('.itsweb-audio');
            a.currentTime = a.duration / 2;
            await new Promise(d => a.addEventListener('seeked', d, {once: true}));
            return parseFloat(document.querySelector('.itsweb-playhead').style.left); }"""
    )  # fmt: skip
    assert 40 <= left <= 60, f"playhead at {left}% after seeking to the middle"

    scores = [float(s) for s in page.eval_on_selector_all(
        ".itsweb-verdicts li", "items => items.map(li => li.dataset.score)")]  # fmt: skip
    python = [judge_pictures(result.spectrogram)[0][PICTURE_CLASSES.index(image)] * 100,
              judge_sounds(result.waveform)[0][SOUND_CLASSES.index(sound)] * 100]  # fmt: skip
    np.testing.assert_allclose(scores, python, atol=2)
    links = page.eval_on_selector_all(".itsweb-downloads a",
                                      "a => a.map(x => [x.download, x.href])")  # fmt: skip
    assert [name.rsplit(".", 1)[1] for name, _ in links] == ["png", "wav"]
    assert all(href.startswith("blob:") for _, href in links)
    page.close()
    assert watch.errors == [], watch.errors


def test_both_warm_starts_get_pythons_message(browser, server):  # noqa: F811
    page, watch = open_page(browser, server)
    for name in ("image_start", "audio_start"):
        page.eval_on_selector(f"input[name={name}]", "(e) => { e.value = '0.1'; }")
    page.click(".itsweb-generate")
    page.wait_for_function(FINISHED)
    with pytest.raises(ValueError) as python:
        Settings(image_start=0.1, audio_start=0.1, steps=15).check()
    assert page.text_content(".itsweb-status") == f"Not possible: {python.value}"
    assert watch.models() == [], "refused settings still loaded the models"
    page.close()
    assert watch.errors == [], watch.errors


def test_a_damaged_model_file_is_named_and_a_retry_works(browser, server):  # noqa: F811
    page, watch = open_page(browser, server)

    def damaged(route) -> None:
        body = bytearray(route.fetch().body())
        body[len(body) // 2] ^= 0xFF
        route.fulfill(body=bytes(body), content_type="application/octet-stream")

    page.route("**/bundle/decoder.onnx", damaged)
    page.select_option("select[name=steps]", "5")
    page.click(".itsweb-generate")
    page.wait_for_function(FINISHED, timeout=120_000)
    assert page.locator(".itsweb-playground").get_attribute("data-state") == "error"
    assert "decoder.onnx does not match its hash" in page.text_content(".itsweb-status")
    page.unroute("**/bundle/decoder.onnx")
    page.click(".itsweb-retry")
    page.wait_for_function(FINISHED, timeout=300_000)
    assert page.locator(".itsweb-playground").get_attribute("data-state") == "done"
    page.close()
    assert watch.errors == [], watch.errors


def test_generate_again_cancels_the_first_run(browser, server, pipe):  # noqa: F811
    page, watch = open_page(browser, server)
    page.select_option("select[name=scheduler]", "ddim")
    page.select_option("select[name=steps]", "10")
    page.click(".itsweb-generate")
    page.wait_for_function("document.querySelector('.itsweb-status').textContent"
                           ".includes('step 2 of')", timeout=300_000)  # fmt: skip
    page.fill("input[name=seed]", "7")
    page.click(".itsweb-generate")
    page.wait_for_function(FINISHED + " && document.querySelector('.itsweb-status')"
                           ".textContent.startsWith('Drawn')", timeout=300_000)  # fmt: skip
    picture = np.array(page.evaluate(
        "Array.from(document.querySelector('.itsweb-playground').itswebResult.picture)"))
    image, sound = (page.input_value(f"select[name={n}]") for n in ("image_prompt", "audio_prompt"))
    (result,) = pipe(image, sound, seed=7, steps=10, scheduler="ddim", progress=False)
    assert np.abs(picture - result.spectrogram.ravel()).max() <= PARITY
    page.close()
    assert watch.errors == [], watch.errors


def test_no_webassembly_gives_a_sentence(browser, server):  # noqa: F811
    context = browser.new_context()
    context.add_init_script("delete globalThis.WebAssembly;")
    page = context.new_page()
    page.goto(f"{server}/{PAGE}", wait_until="networkidle")
    assert "WebAssembly" in page.text_content(".itsweb-status")
    assert page.is_disabled(".itsweb-generate")
    context.close()


def test_without_javascript_the_page_is_as_before(browser, server):  # noqa: F811
    page, watch = open_page(browser, server, java_script_enabled=False)
    assert not page.locator(".itsweb-playground").is_visible()
    assert watch.fetched == []
    assert page.locator(".its-player img").count() >= 1  # the sample Python drew
    page.close()


def test_models_of_other_weights_are_refused(browser, server):  # noqa: F811
    page, watch = open_page(browser, server)

    def other_weights(route) -> None:
        manifest = route.fetch().json() | {"weights_id": "0123456789ab"}
        route.fulfill(json=manifest)

    page.route("**/bundle/manifest.json", other_weights)
    page.click(".itsweb-generate")
    page.wait_for_function(FINISHED, timeout=120_000)
    status = page.text_content(".itsweb-status")
    assert "weights 0123456789ab" in status and "not those this page was built with" in status
    assert page.is_visible(".itsweb-retry")
    assert not any(url.endswith(".onnx") for url in watch.fetched)
    page.close()
    assert watch.errors == [], watch.errors
