"""Seconds per sample of the miniature world in a browser, beside Python on the same graphs.

Three runners, one joint sample each (a picture class and a sound class, the paper's
guidance and warm start), for DDIM 25, DDIM 100 and DPM-Solver++ 15:

- ``browser``: headless Chromium runs the playground's engine (web/src/engine.js) on
  onnxruntime-web's single-threaded WebAssembly, as on the published page;
- ``python onnxruntime``: the same ONNX graphs (noise.onnx, decoder.onnx) with onnxruntime
  on one thread, stepped by diffusers' scheduler; Griffin-Lim by itslib.audio;
- ``python torch``: ``world.pipeline(...)`` (mini_pipeline, one torch thread).

Where the time goes: the experts (every noise estimate), the decoder, the vocoder
(Griffin-Lim) and, in the browser, the judges. One warm-up sample first (sessions, the
WebAssembly download); then ``--repeat`` samples per row, the fastest kept. Needs
``npm ci && npm run build`` (web/dist/itsweb); exports the bundle into a temporary folder::

    python benchmarks/bench_browser.py
    python benchmarks/bench_browser.py --repeat 3 --json out/bench_browser.json
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from itslib import audio
from itslib.mini.experts import mini_pipeline
from itslib.mini.world import PICTURE_CLASSES, SOUND_CLASSES
from itslib.pipeline import make_scheduler
from itslib.sampler import Term, step_weights
from itslib.settings import Settings
from itslib.web import export_web

ROWS = (("ddim", 25), ("ddim", 100), ("dpm++", 15))
PAIR, SEED = ("stars", "siren"), 0
WEB = Path(__file__).resolve().parents[1] / "web" / "dist" / "itsweb"


def settings(scheduler: str, steps: int) -> dict:
    defaults = Settings()
    return {"image_prompt": PAIR[0], "audio_prompt": PAIR[1],
            "image_class": PICTURE_CLASSES.index(PAIR[0]),
            "audio_class": SOUND_CLASSES.index(PAIR[1]),
            "audio_weight": defaults.audio_weight, "image_start": defaults.image_start,
            "audio_start": defaults.audio_start, "image_guidance": defaults.image_guidance,
            "audio_guidance": defaults.audio_guidance, "steps": steps, "scheduler": scheduler,
            "seed": SEED}  # fmt: skip


def serve(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def browser_rows(site: Path, repeat: int, chromium: str) -> dict:
    """{(scheduler, steps): timings} from engine.generate in headless Chromium."""
    from playwright.sync_api import sync_playwright

    (site / "index.html").write_text("<!doctype html><title>bench</title>")
    httpd, url = serve(site)
    out = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium,
                                        args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
            page = browser.new_page()
            page.goto(f"{url}/index.html")
            script = """async (config) => {
                const { load } = await import('./itsweb/engine.js');
                const engine = await load();
                const t0 = performance.now();
                const r = await engine.generate(config);
                return { total: (performance.now() - t0) / 1000, ...r.timings };
            }"""
            page.evaluate(script, settings("dpm++", 5))  # warm-up: download, sessions
            for scheduler, steps in ROWS:
                runs = [page.evaluate(script, settings(scheduler, steps)) for _ in range(repeat)]
                out[scheduler, steps] = min(runs, key=lambda r: r["total"])
            browser.close()
    finally:
        httpd.shutdown()
    return out


def onnxruntime_rows(bundle: Path, pipe, repeat: int) -> dict:
    """The same graphs with onnxruntime in Python, stepped by diffusers' schedulers."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    noise_graph = ort.InferenceSession(str(bundle / "noise.onnx"), options)
    decoder = ort.InferenceSession(str(bundle / "decoder.onnx"), options)
    mel = pipe.audio_expert.mel

    def one(scheduler_name: str, steps: int) -> dict:
        s = settings(scheduler_name, steps)
        # only the weights and starts matter here: step_weights reads nothing else
        terms = [Term(expert=None, prompt="", guidance=0.0, weight=1 - s["audio_weight"],
                      start=s["image_start"]),
                 Term(expert=None, prompt="", guidance=0.0, weight=s["audio_weight"],
                      start=s["audio_start"])]  # fmt: skip
        scheduler = make_scheduler(scheduler_name, pipe.image_expert.scheduler_config)
        scheduler.set_timesteps(steps)
        x = torch.randn(1, 4, 32, 128, generator=torch.Generator().manual_seed(SEED))
        x = x * scheduler.init_noise_sigma
        timings = {"experts": 0.0, "decoder": 0.0, "vocoder": 0.0}
        start = time.perf_counter()
        for i, t in enumerate(scheduler.timesteps):
            w = step_weights(terms, i, steps)
            feeds = {"x_t": x.numpy(), "t": np.array(int(t), np.int64),
                     "image_label": np.array([s["image_class"]]),
                     "audio_label": np.array([s["audio_class"]]),
                     "image_guidance": np.array(s["image_guidance"], np.float32),
                     "audio_guidance": np.array(s["audio_guidance"], np.float32),
                     "image_weight": np.array(w.get(0, 0.0), np.float32),
                     "audio_weight": np.array(w.get(1, 0.0), np.float32)}  # fmt: skip
            t0 = time.perf_counter()
            (eps,) = noise_graph.run(None, feeds)
            timings["experts"] += time.perf_counter() - t0
            x = scheduler.step(torch.from_numpy(eps), t, x).prev_sample
        t0 = time.perf_counter()
        (picture,) = decoder.run(None, {"latents": x.numpy()})
        timings["decoder"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        audio.vocode(audio.picture_to_logmel(picture[0], mel), mel)
        timings["vocoder"] = time.perf_counter() - t0
        return {"total": time.perf_counter() - start, **timings}

    one("dpm++", 5)
    return {row: min((one(*row) for _ in range(repeat)), key=lambda r: r["total"]) for row in ROWS}


def torch_rows(pipe, repeat: int) -> dict:
    """world.pipeline(...) in torch; experts = the loop, decoder and vocoder timed apart."""
    mel = pipe.audio_expert.mel

    def one(scheduler: str, steps: int) -> dict:
        start = time.perf_counter()
        (result,) = pipe(*PAIR, seed=SEED, steps=steps, scheduler=scheduler, progress=False)
        total = time.perf_counter() - start
        t0 = time.perf_counter()
        pipe.audio_expert.decode(result.latents[None])
        decoder = time.perf_counter() - t0
        t0 = time.perf_counter()
        audio.vocode(result.logmel, mel)
        vocoder = time.perf_counter() - t0
        return {"total": total, "experts": total - decoder - vocoder, "decoder": decoder,
                "vocoder": vocoder}  # fmt: skip

    one("dpm++", 5)
    return {row: min((one(*row) for _ in range(repeat)), key=lambda r: r["total"]) for row in ROWS}


def table(results: dict) -> str:
    lines = ["| sampler | runner | s / sample | experts | decoder | vocoder | judges |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for scheduler, steps in ROWS:
        for runner, rows in results.items():
            r = rows[scheduler, steps]
            cells = [f"{r[k]:.2f}" if k in r else "-" for k in
                     ("total", "experts", "decoder", "vocoder", "judges")]  # fmt: skip
            name = "DDIM" if scheduler == "ddim" else "DPM-Solver++"
            lines.append(f"| {name} {steps} | {runner} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="samples per row (fastest kept)")
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    if not (WEB / "engine.js").exists():
        raise SystemExit(f"{WEB} is missing: run `npm ci && npm run build` first.")
    torch.set_num_threads(1)
    pipe = mini_pipeline(threads=1)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        shutil.copytree(WEB, site / "itsweb", ignore=shutil.ignore_patterns("bundle"))
        manifest = export_web(site / "itsweb" / "bundle")
        runtime = sum(p.stat().st_size for p in (site / "itsweb" / "ort").iterdir())
        bundle = site / "itsweb" / "bundle"
        results = {
            "browser (WebAssembly, 1 thread)": browser_rows(site, args.repeat, args.chromium),
            "python onnxruntime (1 thread)": onnxruntime_rows(bundle, pipe, args.repeat),
            "python torch (1 thread)": torch_rows(pipe, args.repeat),
        }
    print(table(results))
    models = manifest["total_bytes"]
    print(f"\ndownload on the first Generate: models {models / 1e6:.1f} MB + onnxruntime-web "
          f"{runtime / 1e6:.1f} MB = {(models + runtime) / 1e6:.1f} MB")  # fmt: skip
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        flat = {runner: {f"{s} {n}": r for (s, n), r in rows.items()}
                for runner, rows in results.items()}  # fmt: skip
        Path(args.json).write_text(json.dumps(flat, indent=2))


if __name__ == "__main__":
    main()
