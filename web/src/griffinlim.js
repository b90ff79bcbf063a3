// Griffin-Lim with momentum, as itslib.audio.griffin_lim runs it (its STFT and inverse STFT
// written out with an FFT): magnitudes in, waveform out. The magnitudes come from the
// bundle's magnitude.onnx (itslib.audio.mel_to_magnitude); the starting phase from torch's
// generator with Python's seed, so both start from the same phase.

import { FFT } from "./fft.js";

/** The non-centred STFT of itslib.audio._stft and its inverse (itslib.audio._istft): a
 * periodic Hann window of winLength centred in nFft, hop samples apart. Spectra are
 * frame-major: re[f * bins + k], bins = nFft / 2 + 1. Two real frames share one FFT. */
export class STFT {
  constructor({ n_fft: nFft, win_length: winLength, hop_length: hop }) {
    Object.assign(this, { nFft, winLength, hop, bins: nFft / 2 + 1 });
    this.fft = new FFT(nFft);
    this.left = Math.floor((nFft - winLength) / 2);
    this.window = new Float64Array(winLength);
    for (let n = 0; n < winLength; n++) this.window[n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / winLength);
    this.re = new Float64Array(nFft);
    this.im = new Float64Array(nFft);
  }

  /** Frames of a signal of `length` samples. */
  frames(length) {
    return 1 + Math.floor((length - this.nFft) / this.hop);
  }

  /** Real signal -> {re, im, frames}. */
  forward(signal) {
    const { nFft, hop, bins, left, winLength, window, re, im } = this;
    const frames = this.frames(signal.length);
    const outRe = new Float64Array(frames * bins);
    const outIm = new Float64Array(frames * bins);
    for (let a = 0; a < frames; a += 2) {
      const b = a + 1;
      re.fill(0);
      im.fill(0);
      for (let n = 0; n < winLength; n++) {
        re[left + n] = signal[a * hop + left + n] * window[n];
        if (b < frames) im[left + n] = signal[b * hop + left + n] * window[n];
      }
      this.fft.transform(re, im);
      for (let k = 0; k < bins; k++) {
        const j = (nFft - k) % nFft;
        outRe[a * bins + k] = (re[k] + re[j]) / 2;
        outIm[a * bins + k] = (im[k] - im[j]) / 2;
        if (b < frames) {
          outRe[b * bins + k] = (im[k] + im[j]) / 2;
          outIm[b * bins + k] = -(re[k] - re[j]) / 2;
        }
      }
    }
    return { re: outRe, im: outIm, frames };
  }

  /** {re, im} (frames x bins) -> real signal of nFft + hop * (frames - 1) samples: inverse
   * FFTs (the imaginary parts of the first and last bins dropped, as irfft does), the
   * window's part windowed, overlap-added, divided by the summed squared window. */
  inverse(specRe, specIm, frames) {
    const { nFft, hop, bins, left, winLength, window, re, im } = this;
    const length = nFft + hop * (frames - 1);
    const out = new Float64Array(length);
    const weight = new Float64Array(length);
    const half = nFft / 2;
    for (let a = 0; a < frames; a += 2) {
      const b = a + 1;
      for (let k = 0; k <= half; k++) {
        const ar = specRe[a * bins + k];
        const ai = k === 0 || k === half ? 0 : specIm[a * bins + k];
        const br = b < frames ? specRe[b * bins + k] : 0;
        const bi = b < frames && k !== 0 && k !== half ? specIm[b * bins + k] : 0;
        re[k] = ar - bi;
        im[k] = ai + br;
        if (k > 0 && k < half) {
          re[nFft - k] = ar + bi;
          im[nFft - k] = -ai + br;
        }
      }
      this.fft.transform(re, im, true);
      for (let n = 0; n < winLength; n++) {
        const w = window[n];
        out[a * hop + left + n] += (re[left + n] / nFft) * w;
        weight[a * hop + left + n] += w * w;
        if (b < frames) {
          out[b * hop + left + n] += (im[left + n] / nFft) * w;
          weight[b * hop + left + n] += w * w;
        }
      }
    }
    for (let i = 0; i < length; i++) if (weight[i] > 1e-8) out[i] /= weight[i];
    return out;
  }
}

/** Bin-major (bins x frames, as a graph gives it) -> frame-major. */
function toFrameMajor(values, bins, frames) {
  const out = new Float64Array(bins * frames);
  for (let k = 0; k < bins; k++) for (let f = 0; f < frames; f++) out[f * bins + k] = values[k * frames + f];
  return out;
}

/** Waveform (frames * hop samples, float32, not normalised) from linear magnitudes
 * (bins x frames, bin-major) and a starting phase in [0, 1) (same layout), by `n_iter`
 * Griffin-Lim iterations with `momentum` (itslib.audio.griffin_lim). */
export function griffinLim(magnitude, phase, mel, { n_iter: nIter, momentum }) {
  const stft = new STFT(mel);
  const { bins } = stft;
  const frames = magnitude.length / bins;
  const mag = toFrameMajor(magnitude, bins, frames);
  const start = toFrameMajor(phase, bins, frames);
  const angRe = new Float64Array(mag.length);
  const angIm = new Float64Array(mag.length);
  for (let i = 0; i < mag.length; i++) {
    angRe[i] = Math.cos(2 * Math.PI * start[i]);
    angIm[i] = Math.sin(2 * Math.PI * start[i]);
  }
  const specRe = new Float64Array(mag.length);
  const specIm = new Float64Array(mag.length);
  const shaped = () => {
    for (let i = 0; i < mag.length; i++) {
      specRe[i] = mag[i] * angRe[i];
      specIm[i] = mag[i] * angIm[i];
    }
    return stft.inverse(specRe, specIm, frames);
  };
  let previous = { re: new Float64Array(mag.length), im: new Float64Array(mag.length) };
  const keep = momentum / (1 + momentum);
  for (let iteration = 0; iteration < nIter; iteration++) {
    const rebuilt = stft.forward(shaped());
    for (let i = 0; i < mag.length; i++) {
      const re = rebuilt.re[i] - keep * previous.re[i];
      const im = rebuilt.im[i] - keep * previous.im[i];
      const size = Math.hypot(re, im);
      angRe[i] = size > 0 ? re / size : 0;
      angIm[i] = size > 0 ? im / size : 0;
    }
    previous = rebuilt;
  }
  const padded = shaped();
  const pad = (mel.n_fft - mel.hop_length) / 2;
  return Float32Array.from(padded.subarray(pad, pad + frames * mel.hop_length));
}

/** Scale to peak `peak`, unless the peak is at most `silence` (itslib.audio.peak_normalize). */
export function peakNormalize(wav, peak, silence) {
  let top = 0;
  for (const v of wav) top = Math.max(top, Math.abs(v));
  if (!(top > silence)) return Float32Array.from(wav);
  const gain = Math.fround(peak / top);
  return wav.map((v) => v * gain);
}

/** What the sound judge hears before its graph (itslib.audio.wav_to_logmel's first half):
 * the waveform peak-normalised, reflect-padded, its STFT magnitudes sqrt(re^2 + im^2 + 1e-9),
 * bin-major (bins x frames), float32. */
export function stftMagnitude(wav, mel, silence) {
  const x = peakNormalize(wav, mel.peak, silence);
  const pad = (mel.n_fft - mel.hop_length) / 2;
  const padded = new Float64Array(x.length + 2 * pad);
  for (let i = 0; i < padded.length; i++) {
    let j = i - pad;
    if (j < 0) j = -j;
    if (j >= x.length) j = 2 * (x.length - 1) - j;
    padded[i] = x[j];
  }
  const stft = new STFT(mel);
  const { re, im, frames } = stft.forward(padded);
  const out = new Float32Array(stft.bins * frames);
  for (let f = 0; f < frames; f++) {
    for (let k = 0; k < stft.bins; k++) {
      const i = f * stft.bins + k;
      out[k * frames + f] = Math.sqrt(re[i] * re[i] + im[i] * im[i] + 1e-9);
    }
  }
  return out;
}
