// The playground on the book's page: controls made from the settings Python exported into the
// page (itslib.web.page), a Generate button, x0 drawn at every step with a progress bar, the
// result played under a moving playhead, the two judges' verdicts, PNG and WAV downloads.
// The models load on the first Generate, not before. Without JavaScript the block stays
// hidden and the page shows what Python drew when the book was built.

import { drawPicture, followPlayhead, wavBlob } from "./media.js";

const LABELS = {
  audio_weight: "audio weight",
  image_start: "image starts at",
  audio_start: "audio starts at",
  image_guidance: "image guidance",
  audio_guidance: "audio guidance",
};

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function select(name, options, value, help) {
  const node = element("select", { name, title: help });
  for (const option of options) node.append(element("option", { value: option, text: option }));
  node.value = String(value);
  return node;
}

/** The controls, read back as the settings sampler.js takes. */
class Controls {
  constructor(config, form) {
    this.config = config;
    const { settings, controls, page_start: pageStart, classes, examples } = config;
    const start = (name) => (name in pageStart ? pageStart[name] : settings[name].default);
    const [image, audio] = examples[0];
    this.inputs = {
      image_prompt: select("image_prompt", classes.image, image, settings.image_prompt.help),
      audio_prompt: select("audio_prompt", classes.audio, audio, settings.audio_prompt.help),
    };
    for (const [name, label] of Object.entries(LABELS)) {
      const { min, max, step } = controls[name];
      this.inputs[name] = element("input", {
        type: "range", name, min, max, step, value: start(name), title: settings[name].help,
      });
    }
    this.inputs.steps = select("steps", controls.steps.choices, start("steps"), settings.steps.help);
    this.inputs.scheduler = select("scheduler", controls.scheduler.choices, start("scheduler"), settings.scheduler.help);
    const seed = controls.seed;
    this.inputs.seed = element("input", {
      type: "number", name: "seed", min: seed.min, max: seed.max, step: 1, value: start("seed"), title: settings.seed.help,
    });
    const row = (label, input) => {
      const shown = element("output", { text: input.type === "range" ? input.value : "" });
      if (input.type === "range") input.addEventListener("input", () => { shown.textContent = input.value; });
      return element("label", {}, element("span", { text: label }), input, shown);
    };
    form.append(
      row("picture", this.inputs.image_prompt),
      row("sound", this.inputs.audio_prompt),
      ...Object.entries(LABELS).map(([name, label]) => row(label, this.inputs[name])),
      row("steps", this.inputs.steps),
      row("scheduler", this.inputs.scheduler),
      row("seed", this.inputs.seed),
    );
  }

  /** {settings, problem}: problem is a sentence when a value is not one the page offers. */
  read() {
    const { classes, controls } = this.config;
    const value = (name) => this.inputs[name].value;
    const s = {
      image_prompt: value("image_prompt"), audio_prompt: value("audio_prompt"),
      steps: Number(value("steps")), scheduler: value("scheduler"), seed: Number(value("seed")),
    };
    for (const name of Object.keys(LABELS)) s[name] = Number(value(name));
    s.image_class = classes.image.indexOf(s.image_prompt);
    s.audio_class = classes.audio.indexOf(s.audio_prompt);
    const { min, max } = controls.seed;
    if (!Number.isInteger(s.seed) || s.seed < min || s.seed > max) {
      return { settings: s, problem: `seed=${value("seed")} must be a whole number in ${min}..${max}.` };
    }
    return { settings: s, problem: null };
  }
}

class Playground {
  constructor(root) {
    this.root = root;
    this.config = JSON.parse(root.querySelector("script.itsweb-config").textContent);
    const form = element("form", { class: "itsweb-controls" });
    this.controls = new Controls(this.config, form);
    this.button = element("button", { type: "submit", class: "itsweb-generate", text: "Generate" });
    this.retry = element("button", { type: "button", class: "itsweb-retry", text: "Try again", hidden: "" });
    form.append(element("div", { class: "itsweb-buttons" }, this.button, this.retry));
    this.progress = element("progress", { max: 1, value: 0, class: "itsweb-progress" });
    this.status = element("p", { class: "itsweb-status", role: "status", text: "" });
    this.canvas = element("canvas", { class: "itsweb-canvas", width: this.config.canvas.width, height: this.config.canvas.height });
    this.head = element("div", { class: "itsweb-playhead" });
    // the audio element joins the page with the first sound (an empty one would never load)
    this.sound = element("audio", { controls: "", preload: "auto", class: "itsweb-audio" });
    this.soundSlot = element("div", { class: "itsweb-sound" });
    this.verdicts = element("ul", { class: "itsweb-verdicts" });
    this.downloads = element("p", { class: "itsweb-downloads" });
    followPlayhead(this.sound, this.head);
    root.append(
      element("p", { class: "itsweb-note", text: this.config.note }),
      form, this.progress, this.status,
      element("div", { class: "itsweb-picture" }, this.canvas, this.head),
      this.soundSlot, this.verdicts, this.downloads,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.generate();
    });
    this.retry.addEventListener("click", () => this.generate());
    this.current = null;
    this.state("idle");
    if (typeof WebAssembly !== "object") {
      this.button.disabled = true;
      this.state("error", "This browser runs no WebAssembly (it may be turned off), so the playground cannot run here; the sample below was drawn by Python when the book was built.");
    }
    root.hidden = false;
  }

  state(name, message) {
    this.root.dataset.state = name;
    if (message !== undefined) this.status.textContent = message;
  }

  /** Start a run; a run still going is cancelled first (and finishes before this one starts). */
  async generate() {
    this.state("starting", "Starting…");
    const previous = this.current;
    const controller = new AbortController();
    const run = { controller, done: null };
    this.current = run;
    if (previous) {
      previous.controller.abort();
      await previous.done;
    }
    if (this.current !== run) return; // a newer press took over while we waited
    run.done = this.runOnce(controller.signal);
    await run.done;
  }

  async runOnce(signal) {
    this.retry.hidden = true;
    const { settings, problem } = this.controls.read();
    const { settingsError } = await import("./scheduler.js");
    const error = problem ?? settingsError(settings);
    if (error) {
      this.state("refused", `Not possible: ${error}`);
      return;
    }
    try {
      const { load } = await import("./engine.js");
      this.state("loading", "Loading the models…");
      const engine = await load({
        expectWeights: this.config.weights_id,
        onProgress: (share, what) => {
          this.progress.value = share;
          this.status.textContent = `Loading the models (${what})…`;
        },
      });
      signal.throwIfAborted();
      this.state("running", "Denoising…");
      const { height, width } = this.config.canvas;
      const result = await engine.generate(settings, {
        signal,
        onStep: async ({ index, preview }) => {
          drawPicture(this.canvas, preview, height, width);
          this.progress.value = (index + 1) / settings.steps;
          this.status.textContent = `Denoising: step ${index + 1} of ${settings.steps} (the predicted clean spectrogram, previewed)`;
          await new Promise((done) => { // let the page paint (a hidden tab has no frames)
            requestAnimationFrame(() => done());
            setTimeout(done, 100);
          });
        },
      });
      this.show(result, settings);
    } catch (err) {
      if (err.name === "AbortError") {
        this.state("cancelled", "Cancelled.");
        return;
      }
      const load = err.constructor.name === "LoadError";
      this.retry.hidden = !load;
      this.state("error", load ? `${err.message} Press "Try again".` : `Something went wrong: ${err.message}`);
    }
  }

  show(result, settings) {
    const { height, width } = this.config.canvas;
    drawPicture(this.canvas, result.picture, height, width);
    this.progress.value = 1;
    const wav = wavBlob(result.wav, result.sampleRate);
    if (this.sound.src) URL.revokeObjectURL(this.sound.src);
    this.sound.src = URL.createObjectURL(wav);
    if (!this.sound.isConnected) this.soundSlot.append(this.sound);
    const { accept, scale } = this.config.judges;
    const { classes } = this.config;
    this.verdicts.replaceChildren(
      ...[["picture", "image", settings.image_class, "sees"], ["sound", "audio", settings.audio_class, "hears"]].map(([judge, kind, wanted, verb]) => {
        const probs = result.probs[judge];
        const score = probs[wanted] * scale;
        const top = probs.indexOf(Math.max(...probs));
        return element("li", {
          class: score >= accept ? "itsweb-accepted" : "itsweb-rejected",
          "data-score": score.toFixed(2),
          text: `${judge} judge: ${classes[kind][wanted]} ${score.toFixed(1)} / ${scale} ` +
            `(${score >= accept ? "accepted" : "not accepted"}; it ${verb} most: ${classes[kind][top]})`,
        });
      }),
    );
    const name = `${settings.image_prompt}-${settings.audio_prompt}-seed${settings.seed}`.replaceAll(" ", "_");
    const png = element("a", { download: `${name}.png`, text: "PNG" });
    this.canvas.toBlob((blob) => { png.href = URL.createObjectURL(blob); });
    const wavLink = element("a", { download: `${name}.wav`, href: this.sound.src, text: "WAV" });
    this.downloads.replaceChildren("Download: ", png, " ", wavLink);
    const t = result.timings;
    const total = Object.values(t).reduce((a, b) => a + b, 0);
    this.state("done", `Drawn in your browser in ${total.toFixed(1)} s: the experts ${t.experts.toFixed(1)} s, ` +
      `previews ${t.preview.toFixed(1)} s, decoder ${t.decoder.toFixed(1)} s, Griffin-Lim ${t.vocoder.toFixed(1)} s, judges ${t.judges.toFixed(1)} s.`);
    this.root.itswebResult = result; // for the tests
  }
}

const roots = document.querySelectorAll(".itsweb-playground");
if (roots.length) {
  document.head.append(element("link", { rel: "stylesheet", href: new URL("playground.css", import.meta.url).href }));
}
for (const root of roots) new Playground(root);
