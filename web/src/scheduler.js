// The sampler's arithmetic between two graph calls, as itslib.sampler and diffusers do it:
// the warm start's per-step weights (paper Eq. 6), x0 from a noise estimate, a DDIM step
// (eta 0) and a DPM-Solver++ 2M step. Arrays are Float32Array latents; the arithmetic is
// float64, each result stored as float32 (torch's is float32 throughout).

/** Python's round(): halves go to the even neighbour (round(2.5) is 2; Math.round gives 3). */
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const rest = x - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Python's repr of a float for the numbers a page offers (0.1 -> "0.1", 1 -> "1.0"). */
export function pyFloat(x) {
  return Number.isInteger(x) ? x.toFixed(1) : String(x);
}

/** The two terms of the paper's setting (itslib.sampler.image_audio_terms). */
export function imageAudioTerms(s) {
  return [
    { name: "image", weight: 1 - s.audio_weight, start: s.image_start },
    { name: "audio", weight: s.audio_weight, start: s.audio_start },
  ];
}

/** The settings Python would refuse that a page can reach, with Python's message
 * (itslib.settings.Settings.check); null when they are fine. */
export function settingsError(s) {
  if (Math.min(roundHalfEven(s.image_start * s.steps), roundHalfEven(s.audio_start * s.steps)) > 0) {
    return (
      "no expert is active at step 0: set image_start=0 or audio_start=0 " +
      `(got image_start=${pyFloat(s.image_start)}, audio_start=${pyFloat(s.audio_start)}).`
    );
  }
  return null;
}

/** {name: weight} of the terms evaluated at step `index` of `steps` (itslib.sampler.step_weights):
 * the active ones (index >= round(start * steps)) with a positive weight, renormalised to sum
 * to one; when every active weight is 0 they share equally. Others are absent. */
export function stepWeights(terms, index, steps) {
  const active = terms.filter((term) => index >= roundHalfEven(term.start * steps));
  if (!active.length) throw new Error(`no expert is active at step ${index}`);
  const total = active.reduce((sum, term) => sum + term.weight, 0);
  const out = {};
  for (const term of active) {
    if (total <= 0) out[term.name] = 1 / active.length;
    else if (term.weight > 0) out[term.name] = term.weight / total;
  }
  return out;
}

/** x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) (itslib.sampler.predicted_x0). */
export function predictedX0(x, eps, alphaBar) {
  const a = Math.sqrt(alphaBar);
  const b = Math.sqrt(1 - alphaBar);
  return x.map((v, i) => (v - b * eps[i]) / a);
}

/** diffusers' DDIMScheduler.step with eta 0: x_{t-1} from eps at timestep t. */
export class DDIM {
  constructor(constants, steps) {
    this.constants = constants;
    this.timesteps = constants.ddim.timesteps[String(steps)];
    this.ratio = Math.floor(constants.num_train_timesteps / steps);
    if (!this.timesteps) throw new Error(`no DDIM timesteps for ${steps} steps in world.json`);
  }

  step(index, eps, x) {
    const { alphas_cumprod: abar, final_alpha_cumprod: last } = this.constants;
    const t = this.timesteps[index];
    const prev = t - this.ratio;
    const a = abar[t];
    const aPrev = prev >= 0 ? abar[prev] : last;
    const x0 = predictedX0(x, eps, a);
    const keep = Math.sqrt(aPrev);
    const toward = Math.sqrt(1 - aPrev);
    return x0.map((v, i) => keep * v + toward * eps[i]);
  }
}

/** diffusers' DPMSolverMultistepScheduler.step for DPM-Solver++ of order 2 (midpoint), the
 * last sigma 0: first order at the first and the last step, second order between. */
export class DPMSolverPP {
  constructor(constants, steps) {
    this.timesteps = constants["dpm++"].timesteps[String(steps)];
    this.sigmas = constants["dpm++"].sigmas[String(steps)];
    if (!this.timesteps) throw new Error(`no DPM-Solver++ timesteps for ${steps} steps in world.json`);
    this.x0s = [];
  }

  /** alpha_t, sigma_t and lambda_t = log(alpha_t / sigma_t) of sigma (in VP form). */
  static parts(sigma) {
    const alpha = 1 / Math.sqrt(sigma * sigma + 1);
    const s = sigma * alpha;
    return { alpha, sigma: s, lambda: Math.log(alpha) - Math.log(s) };
  }

  step(index, eps, x) {
    const now = DPMSolverPP.parts(this.sigmas[index]);
    const next = DPMSolverPP.parts(this.sigmas[index + 1]);
    const x0 = x.map((v, i) => (v - now.sigma * eps[i]) / now.alpha);
    this.x0s.push(x0);
    const h = next.lambda - now.lambda;
    const ratio = next.sigma / now.sigma;
    const decay = next.alpha * (Math.exp(-h) - 1);
    const last = index === this.timesteps.length - 1;
    if (index === 0 || last) return x.map((v, i) => ratio * v - decay * x0[i]);
    const before = DPMSolverPP.parts(this.sigmas[index - 1]);
    const r0 = (now.lambda - before.lambda) / h;
    const m1 = this.x0s[this.x0s.length - 2];
    return x.map((v, i) => {
      const d1 = (x0[i] - m1[i]) / r0;
      return ratio * v - decay * x0[i] - 0.5 * decay * d1;
    });
  }
}

/** The scheduler named as in itslib.settings ("ddim" or "dpm++"). */
export function makeScheduler(name, constants, steps) {
  if (name === "ddim") return new DDIM(constants, steps);
  if (name === "dpm++") return new DPMSolverPP(constants, steps);
  throw new Error(`scheduler ${JSON.stringify(name)} does not run in the browser (ddim, dpm++)`);
}
