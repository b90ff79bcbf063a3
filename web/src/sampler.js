// The product-of-experts denoising loop (itslib.sampler.sample) for one latent: each step
// one call of the noise graph (both experts' guided estimates, weighted and summed inside
// it), then one scheduler step here. `onStep` sees x0 at every step.

import { imageAudioTerms, makeScheduler, predictedX0, stepWeights } from "./scheduler.js";

/** Denoise `noise` (Float32Array, the latent's 4 x h x w values) with the settings
 * {image_class, audio_class (indices), audio_weight, image_start, audio_start,
 * image_guidance, audio_guidance, steps, scheduler}. `runNoise(feeds)` calls noise.onnx and
 * returns its eps; `onStep({index, t, weights, x0})` may be async (it draws); `signal`
 * (an AbortSignal) stops the loop between steps. Returns the clean latent x_0. */
export async function sample({ constants, settings, noise, runNoise, onStep, signal }) {
  const steps = settings.steps;
  const scheduler = makeScheduler(settings.scheduler, constants, steps);
  const terms = imageAudioTerms(settings);
  const sigma0 = constants.init_noise_sigma[settings.scheduler];
  let x = noise.map((v) => v * sigma0);
  for (let index = 0; index < scheduler.timesteps.length; index++) {
    signal?.throwIfAborted();
    const t = scheduler.timesteps[index];
    const weights = stepWeights(terms, index, steps);
    const eps = await runNoise({
      x_t: x, t,
      image_label: settings.image_class, audio_label: settings.audio_class,
      image_guidance: settings.image_guidance, audio_guidance: settings.audio_guidance,
      image_weight: weights.image ?? 0, audio_weight: weights.audio ?? 0,
    });
    if (onStep) await onStep({ index, t, weights, x0: predictedX0(x, eps, constants.alphas_cumprod[t]) });
    x = scheduler.step(index, eps, x);
  }
  return x;
}
