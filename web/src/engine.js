// The miniature world in the browser: loads onnxruntime-web and the bundle that
// `python -m itslib export-web` wrote (each file checked against manifest.json), then
// generate() runs the sampler, the decoder, Griffin-Lim and the two judges. Nothing is
// fetched before the first load().

import { griffinLim, peakNormalize, stftMagnitude } from "./griffinlim.js";
import { TorchGenerator } from "./rng.js";
import { sample } from "./sampler.js";
import { settingsError } from "./scheduler.js";

const HERE = new URL("./", import.meta.url);
export const BUNDLE = new URL("bundle/", HERE);
export const RUNTIME = new URL("ort/", HERE);

/** A reason the models could not be loaded, in a sentence for the reader. */
export class LoadError extends Error {}
/** Settings Python refuses, with Python's message. */
export class SettingsError extends Error {}

export function hasWebAssembly() {
  return typeof WebAssembly === "object" && typeof WebAssembly.instantiate === "function";
}

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function fetchBytes(url, signal) {
  let response;
  try {
    response = await fetch(url, { signal });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new LoadError(`could not download ${url.pathname.split("/").pop()} (${err.message}).`);
  }
  if (!response.ok) throw new LoadError(`could not download ${url.pathname.split("/").pop()} (HTTP ${response.status}).`);
  return new Uint8Array(await response.arrayBuffer());
}

let opening = null;

/** The engine, loaded once: a failed load is forgotten, so the next call retries.
 * `expectWeights`: the weights id the page was built with (a mismatch is refused);
 * `onProgress(share, what)` reports the download. */
export function load({ expectWeights, onProgress } = {}) {
  if (!opening) {
    opening = open(expectWeights, onProgress).catch((err) => {
      opening = null;
      throw err;
    });
  }
  return opening;
}

async function open(expectWeights, onProgress) {
  if (!hasWebAssembly()) {
    throw new LoadError("This browser runs no WebAssembly (it may be turned off), and the models need it.");
  }
  if (!globalThis.crypto?.subtle) {
    throw new LoadError("The model files cannot be checked here: open the page over https (or from localhost).");
  }
  onProgress?.(0, "manifest.json");
  const manifest = JSON.parse(new TextDecoder().decode(await fetchBytes(new URL("manifest.json", BUNDLE))));
  if (expectWeights && manifest.weights_id !== expectWeights) {
    throw new LoadError(`The model files (weights ${manifest.weights_id}) are not those this page was built with (${expectWeights}); reload the page.`);
  }
  const files = {};
  let done = 0;
  for (const [name, entry] of Object.entries(manifest.files)) {
    const bytes = await fetchBytes(new URL(name, BUNDLE));
    const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
    if (digest !== entry.sha256 || bytes.length !== entry.bytes) {
      throw new LoadError(`${name} does not match its hash in manifest.json (a damaged or stale download).`);
    }
    files[name] = bytes;
    done += bytes.length;
    onProgress?.(done / manifest.total_bytes, name);
  }
  const world = JSON.parse(new TextDecoder().decode(files["world.json"]));
  let ort;
  try {
    ort = await import(new URL("ort.wasm.min.mjs", RUNTIME).href);
  } catch (err) {
    throw new LoadError(`could not load onnxruntime-web (${err.message}).`);
  }
  ort.env.wasm.wasmPaths = RUNTIME.href;
  ort.env.wasm.numThreads = 1; // no cross-origin isolation on GitHub Pages: one thread
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  const sessions = {};
  for (const name of Object.keys(files).filter((n) => n.endsWith(".onnx"))) {
    onProgress?.(1, name);
    try {
      sessions[name.replace(".onnx", "")] = await ort.InferenceSession.create(files[name], {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      });
    } catch (err) {
      throw new LoadError(`${name} could not be loaded (${err.message}).`);
    }
  }
  return new Engine(ort, world, sessions, manifest);
}

export class Engine {
  constructor(ort, world, sessions, manifest) {
    Object.assign(this, { ort, world, sessions, manifest });
    this.queue = Promise.resolve(); // one run at a time: runs never interleave
  }

  float(data, dims) {
    return new this.ort.Tensor("float32", data instanceof Float32Array ? data : Float32Array.from(data), dims);
  }

  int(values, dims) {
    return new this.ort.Tensor("int64", BigInt64Array.from(values, (v) => BigInt(v)), dims);
  }

  async run(name, feeds, output) {
    const out = await this.sessions[name].run(feeds);
    return out[output].data;
  }

  /** One sample: {latents, picture (H x W in [0, 1]), wav (float32, peak-normalised),
   * probs: {picture, sound} (class probabilities), timings (seconds per part)}.
   * `settings` as sampler.js takes them plus `seed`; `noise` replaces the seed's
   * starting noise; `onStep({index, t, weights, x0, preview})`; `signal` cancels. */
  generate(settings, options = {}) {
    const run = this.queue.then(() => this.generateNow(settings, options));
    this.queue = run.catch(() => {});
    return run;
  }

  async generateNow(settings, { noise, onStep, signal } = {}) {
    const error = settingsError(settings);
    if (error) throw new SettingsError(error);
    const { world } = this;
    const shape = [1, ...world.latent_shape];
    const { height, width } = world.canvas;
    const size = world.latent_shape.reduce((a, b) => a * b, 1);
    const start = noise ? Float32Array.from(noise) : new TorchGenerator(settings.seed).randn(size);
    const timings = { experts: 0, preview: 0, decoder: 0, vocoder: 0, judges: 0 };
    const timed = async (part, work) => {
      const t0 = performance.now();
      try {
        return await work();
      } finally {
        timings[part] += (performance.now() - t0) / 1000;
      }
    };
    const runNoise = (f) =>
      timed("experts", () =>
        this.run("noise", {
          x_t: this.float(f.x_t, shape), t: this.int([f.t], []),
          image_label: this.int([f.image_label], [1]), audio_label: this.int([f.audio_label], [1]),
          image_guidance: this.float([f.image_guidance], []), audio_guidance: this.float([f.audio_guidance], []),
          image_weight: this.float([f.image_weight], []), audio_weight: this.float([f.audio_weight], []),
        }, "eps"));
    const step = async (record) => {
      if (!onStep) return;
      record.preview = await timed("preview", () => this.run("preview", { latents: this.float(record.x0, shape) }, "picture"));
      await onStep(record);
    };
    const latents = await sample({ constants: world.scheduler, settings, noise: start, runNoise, onStep: step, signal });
    signal?.throwIfAborted();
    const picture = await timed("decoder", () => this.run("decoder", { latents: this.float(latents, shape) }, "picture"));
    signal?.throwIfAborted();
    const wav = await timed("vocoder", () => this.vocode(picture));
    const probs = await timed("judges", () => this.judge(picture, wav));
    return { latents, picture, wav, probs, timings, sampleRate: world.mel.sample_rate };
  }

  /** Spectrogram picture (H x W in [0, 1]) -> waveform, peak-normalised, as
   * itslib.audio.vocode plays it without a vocoder: magnitude.onnx, then Griffin-Lim from
   * the phase Python's seed draws. */
  async vocode(picture) {
    const { world } = this;
    const { height, width } = world.canvas;
    const magnitude = await this.run("magnitude", { picture: this.float(picture, [1, height, width]) }, "magnitude");
    const phase = new TorchGenerator(world.griffin_lim.seed).rand(world.mel.bins * width);
    return peakNormalize(griffinLim(magnitude, phase, world.mel, world.griffin_lim), world.mel.peak, world.silence);
  }

  /** The judges' class probabilities {picture, sound} for a picture and a waveform. */
  async judge(picture, wav) {
    const { world } = this;
    const { height, width } = world.canvas;
    const heard = stftMagnitude(wav, world.mel, world.silence);
    return {
      picture: Array.from(await this.run("picture_judge", { picture: this.float(picture, [1, height, width]) }, "probs")),
      sound: Array.from(await this.run("sound_judge", { magnitude: this.float(heard, [1, world.mel.bins, width]) }, "probs")),
    };
  }
}
