// torch's CPU random generator (a Mersenne Twister, mt19937), so that a seed draws here the
// numbers it draws in Python: rand() equals torch.rand bit for bit, randn() equals
// torch.randn to float32 rounding (torch's Box-Muller runs in float32, this one in float64).

const N = 624;
const M = 397;

export class TorchGenerator {
  /** @param {number} seed  an integer; like torch's generator, only its low 32 bits count */
  constructor(seed) {
    this.state = new Uint32Array(N);
    this.state[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.state[i - 1] ^ (this.state[i - 1] >>> 30);
      this.state[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = N;
  }

  /** The next 32-bit output of mt19937. */
  nextUint32() {
    const mt = this.state;
    if (this.index >= N) {
      for (let k = 0; k < N; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
        mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.index = 0;
    }
    let y = mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** n uniform floats in [0, 1), as torch.rand(n) in float32: 24 random bits each. */
  rand(n) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = (this.nextUint32() & 0xffffff) * 2 ** -24;
    return out;
  }

  /** n standard normal floats, as torch.randn(n) in float32 (n a multiple of 16): uniforms
   * first, then Box-Muller on each block of 16 (u1 from the first 8, u2 from the last 8). */
  randn(n) {
    if (n < 16 || n % 16) throw new Error(`randn(${n}): n must be a multiple of 16`);
    const u = this.rand(n);
    const out = new Float32Array(n);
    for (let start = 0; start < n; start += 16) {
      for (let j = start; j < start + 8; j++) {
        const radius = Math.sqrt(-2 * Math.log(1 - u[j]));
        const theta = 2 * Math.PI * u[j + 8];
        out[j] = radius * Math.cos(theta);
        out[j + 8] = radius * Math.sin(theta);
      }
    }
    return out;
  }
}
