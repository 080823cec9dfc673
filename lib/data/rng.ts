/**
 * Bit-exact port of the parts of NumPy's random module that Hugging Face `datasets` uses for
 * `Dataset.shuffle(seed=...)`: `np.random.default_rng(seed)` (SeedSequence -> PCG64, the XSL-RR
 * 128-bit LCG) and `Generator.permutation(n)` / `Generator.shuffle` (Fisher-Yates from the end
 * with masked rejection sampling, `random_interval`). Verified against NumPy 2.4 in test/data.test.ts.
 *
 * References: numpy/random/bit_generator.pyx (SeedSequence), numpy/random/src/pcg64/pcg64.{h,c},
 * numpy/random/src/distributions/distributions.c (random_interval), numpy/random/_generator.pyx
 * (`shuffle` -> `_shuffle_raw(bitgen, n, first=1, ...)`).
 */

const MASK32 = 0xffffffff;
const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
/** PCG_DEFAULT_MULTIPLIER_128 */
const PCG_MULT = (2549297995355413924n << 64n) + 4865540595714422341n;

// SeedSequence constants (numpy/random/bit_generator.pyx)
const INIT_A = 0x43b0d7e5;
const MULT_A = 0x931e8875;
const INIT_B = 0x8b51f9dd;
const MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd;
const MIX_MULT_R = 0x4973f715;
const XSHIFT = 16;
const POOL_SIZE = 4;

/** Splits a non-negative integer into little-endian 32-bit words, like numpy's `_coerce_to_uint32_array`. */
function toUint32Words(seed: number | bigint): number[] {
  let v = BigInt(seed);
  if (v < 0n) throw new RangeError(`seed must be non-negative, got ${seed}`);
  if (v === 0n) return [0];
  const words: number[] = [];
  while (v > 0n) {
    words.push(Number(v & 0xffffffffn));
    v >>= 32n;
  }
  return words;
}

/** NumPy's `SeedSequence(entropy).generate_state(nWords, uint32)` (no spawn key). */
export function seedSequenceState(entropy: number | bigint, nWords: number): Uint32Array {
  const entropyWords = toUint32Words(entropy);
  let hashConst = INIT_A;
  const hashmix = (value: number): number => {
    value = (value ^ hashConst) >>> 0;
    hashConst = Math.imul(hashConst, MULT_A) >>> 0;
    value = Math.imul(value, hashConst) >>> 0;
    return (value ^ (value >>> XSHIFT)) >>> 0;
  };
  const mix = (x: number, y: number): number => {
    const r = (Math.imul(MIX_MULT_L, x) - Math.imul(MIX_MULT_R, y)) >>> 0;
    return (r ^ (r >>> XSHIFT)) >>> 0;
  };
  const pool = new Array<number>(POOL_SIZE);
  for (let i = 0; i < POOL_SIZE; i++) pool[i] = hashmix(i < entropyWords.length ? entropyWords[i] : 0);
  for (let src = 0; src < POOL_SIZE; src++) {
    for (let dst = 0; dst < POOL_SIZE; dst++) {
      if (src !== dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
    }
  }
  for (let src = POOL_SIZE; src < entropyWords.length; src++) {
    for (let dst = 0; dst < POOL_SIZE; dst++) pool[dst] = mix(pool[dst], hashmix(entropyWords[src]));
  }
  const out = new Uint32Array(nWords);
  let hb = INIT_B;
  for (let i = 0; i < nWords; i++) {
    let v = (pool[i % POOL_SIZE] ^ hb) >>> 0;
    hb = Math.imul(hb, MULT_B) >>> 0;
    v = Math.imul(v, hb) >>> 0;
    out[i] = (v ^ (v >>> XSHIFT)) >>> 0;
  }
  return out;
}

/** NumPy's PCG64 bit generator (the default of `np.random.default_rng`), including its buffered 32-bit draws. */
export class PCG64 {
  private state = 0n;
  private inc = 0n;
  private hasUint32 = false;
  private uinteger = 0;

  /** Seeds like `np.random.PCG64(seed)`: SeedSequence(seed).generate_state(4, uint64) -> state, increment. */
  constructor(seed: number | bigint) {
    const w = seedSequenceState(seed, 8);
    const u64 = (k: number): bigint => (BigInt(w[2 * k + 1]) << 32n) | BigInt(w[2 * k]);
    const initState = (u64(0) << 64n) | u64(1);
    const initSeq = (u64(2) << 64n) | u64(3);
    // pcg_setseq_128_srandom_r
    this.inc = ((initSeq << 1n) | 1n) & MASK128;
    this.step();
    this.state = (this.state + initState) & MASK128;
    this.step();
  }

  private step(): void {
    this.state = (this.state * PCG_MULT + this.inc) & MASK128;
  }

  /** Next raw 64-bit output (XSL-RR), as `next_uint64`. */
  nextUint64(): bigint {
    this.step();
    const s = this.state;
    const x = ((s >> 64n) ^ s) & MASK64;
    const rot = s >> 122n;
    return ((x >> rot) | (x << ((64n - rot) & 63n))) & MASK64;
  }

  /** Next 32-bit output, as `next_uint32` (low half of a 64-bit draw, then the buffered high half). */
  nextUint32(): number {
    if (this.hasUint32) {
      this.hasUint32 = false;
      return this.uinteger;
    }
    const next = this.nextUint64();
    this.hasUint32 = true;
    this.uinteger = Number(next >> 32n);
    return Number(next & 0xffffffffn);
  }

  /** Uniform double in [0, 1), as `next_double` / `Generator.random()`. */
  nextDouble(): number {
    return Number(this.nextUint64() >> 11n) * (1.0 / 9007199254740992.0);
  }

  /** Uniform integer in [0, max] by masked rejection sampling, as numpy's `random_interval`. */
  randomInterval(max: number): number {
    if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`bad interval max ${max}`);
    if (max === 0) return 0;
    if (max <= MASK32) {
      let mask = max;
      mask |= mask >>> 1;
      mask |= mask >>> 2;
      mask |= mask >>> 4;
      mask |= mask >>> 8;
      mask |= mask >>> 16;
      mask >>>= 0;
      let value: number;
      while ((value = (this.nextUint32() & mask) >>> 0) > max);
      return value;
    }
    let mask = BigInt(max);
    for (const s of [1n, 2n, 4n, 8n, 16n, 32n]) mask |= mask >> s;
    const bmax = BigInt(max);
    let value: bigint;
    while ((value = this.nextUint64() & mask) > bmax);
    return Number(value);
  }

  /** In-place shuffle of an array, as `Generator.shuffle` on a 1-D array (Fisher-Yates from the end). */
  shuffle<T>(arr: T[] | { length: number; [i: number]: T }): void {
    for (let i = arr.length - 1; i >= 1; i--) {
      const j = this.randomInterval(i);
      const tmp = arr[j];
      arr[j] = arr[i];
      arr[i] = tmp;
    }
  }

  /** `Generator.permutation(n)`: a shuffled `arange(n)`. */
  permutation(n: number): number[] {
    const arr = Array.from({ length: n }, (_, i) => i);
    this.shuffle(arr);
    return arr;
  }
}

/** `np.random.default_rng(seed).permutation(n)` — the row order of HF `Dataset.shuffle(seed=seed)`. */
export function permutation(n: number, seed: number | bigint): number[] {
  return new PCG64(seed).permutation(n);
}
