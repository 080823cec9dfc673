/**
 * One-vs-rest L2-regularised logistic regression on a feature matrix, as scikit-learn's
 * `OneVsRestClassifier(LogisticRegression(C))` fits it: per label, minimise mean BCE + (1 / (2 C n)) |w|^2 (the intercept
 * is not penalised; features unscaled; start at zero), i.e. sklearn's 0.5 |w|^2 + C Σ BCE divided by C n. Each label
 * has its own L-BFGS (history 10, backtracking Armijo line search); the labels still running are evaluated together,
 * one pass over the rows per iteration, and a label stops when max |gradient| ≤ tol (sklearn's gtol) or at maxIter.
 */

/** Options of fitLogisticOvR. */
export interface LogisticOptions {
  /** Inverse regularisation strength (sklearn's C; default 1). */
  C?: number;
  /** L-BFGS iterations per label at most (default 1000, bench/hf_probe.py's max_iter). */
  maxIter?: number;
  /** Stop a label when max |gradient| ≤ tol (default 1e-4, sklearn's tol). */
  tol?: number;
  /** L-BFGS history (default 10, scipy's maxcor). */
  memory?: number;
}

/** The fitted classifiers: weight [labels, dims] row-major, bias [labels], and how the fits ended. */
export interface LogisticFit {
  /** The coefficients, [labels, dims] row-major. */
  weight: Float32Array;
  /** The intercepts, one per label. */
  bias: Float32Array;
  /** Iterations each label ran. */
  iterations: Int32Array;
  /** Labels that hit maxIter before max |gradient| ≤ tol. */
  unconverged: number;
}

function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/**
 * Objective and gradient of the labels in `active` at parameters `theta` (per label dims + 1, bias last), into f and g.
 * One pass over the rows: z = x·w + b for every active label, then the gradient accumulation.
 */
function evaluate(
  x: Float64Array, n: number, d: number, y: ArrayLike<number>, numLabels: number, lambda: number,
  active: number[], theta: Float64Array[], f: Float64Array, g: Float64Array[],
): void {
  const k = active.length;
  const z = new Float64Array(k);
  for (let a = 0; a < k; a++) {
    f[a] = 0;
    g[a].fill(0);
  }
  for (let i = 0; i < n; i++) {
    const xi = x.subarray(i * d, (i + 1) * d);
    for (let a = 0; a < k; a++) {
      const w = theta[a];
      let s = w[d];
      for (let j = 0; j < d; j++) s += xi[j] * w[j];
      z[a] = s;
    }
    for (let a = 0; a < k; a++) {
      const yi = y[i * numLabels + active[a]] > 0.5 ? 1 : 0;
      f[a] += softplus(z[a]) - yi * z[a];
      const r = sigmoid(z[a]) - yi;
      const ga = g[a];
      for (let j = 0; j < d; j++) ga[j] += r * xi[j];
      ga[d] += r;
    }
  }
  for (let a = 0; a < k; a++) {
    const w = theta[a];
    const ga = g[a];
    let reg = 0;
    for (let j = 0; j < d; j++) {
      reg += w[j] * w[j];
      ga[j] = ga[j] / n + lambda * w[j];
    }
    ga[d] /= n;
    f[a] = f[a] / n + 0.5 * lambda * reg;
  }
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Per-label L-BFGS state. */
interface LabelState {
  w: Float64Array;
  g: Float64Array;
  f: number;
  s: Float64Array[];
  yv: Float64Array[];
  rho: number[];
  iter: number;
  done: boolean;
}

/** The L-BFGS direction -H g by the two-loop recursion. */
function direction(st: LabelState): Float64Array {
  const q = Float64Array.from(st.g);
  const m = st.s.length;
  const alpha = new Array<number>(m);
  for (let i = m - 1; i >= 0; i--) {
    alpha[i] = st.rho[i] * dot(st.s[i], q);
    const yi = st.yv[i];
    for (let j = 0; j < q.length; j++) q[j] -= alpha[i] * yi[j];
  }
  const gamma = m ? dot(st.s[m - 1], st.yv[m - 1]) / dot(st.yv[m - 1], st.yv[m - 1]) : 1 / Math.max(1, Math.sqrt(dot(st.g, st.g)));
  for (let j = 0; j < q.length; j++) q[j] *= gamma;
  for (let i = 0; i < m; i++) {
    const beta = st.rho[i] * dot(st.yv[i], q);
    const si = st.s[i];
    for (let j = 0; j < q.length; j++) q[j] += (alpha[i] - beta) * si[j];
  }
  for (let j = 0; j < q.length; j++) q[j] = -q[j];
  return q;
}

/**
 * Fit one logistic regression per label column of `y` ([n, numLabels], multi-hot) on `x` ([n, dims] row-major).
 * Returns weight [numLabels, dims], bias [numLabels].
 */
export function fitLogisticOvR(x: ArrayLike<number>, n: number, d: number, y: ArrayLike<number>, numLabels: number, options: LogisticOptions = {}): LogisticFit {
  const { C = 1, maxIter = 1000, tol = 1e-4, memory = 10 } = options;
  if (x.length !== n * d) throw new Error(`fitLogisticOvR: x has ${x.length} values for ${n} x ${d}`);
  if (y.length !== n * numLabels) throw new Error(`fitLogisticOvR: y has ${y.length} values for ${n} x ${numLabels}`);
  if (!(C > 0)) throw new Error(`fitLogisticOvR: C must be > 0, got ${C}`);
  const X = Float64Array.from(x);
  const lambda = 1 / (C * n);
  const p = d + 1;
  const states: LabelState[] = Array.from({ length: numLabels }, () => ({ w: new Float64Array(p), g: new Float64Array(p), f: 0, s: [], yv: [], rho: [], iter: 0, done: false }));
  // initial objective and gradient of every label
  for (let start = 0; start < numLabels; start += 256) {
    const active = Array.from({ length: Math.min(256, numLabels - start) }, (_, i) => start + i);
    const f = new Float64Array(active.length);
    evaluate(X, n, d, y, numLabels, lambda, active, active.map((l) => states[l].w), f, active.map((l) => states[l].g));
    active.forEach((l, a) => {
      states[l].f = f[a];
      if (maxAbs(states[l].g) <= tol) states[l].done = true;
    });
  }
  for (;;) {
    const running = states.flatMap((st, l) => (st.done ? [] : [l]));
    if (!running.length) break;
    const dirs = new Map<number, Float64Array>();
    for (const l of running) {
      let dvec = direction(states[l]);
      if (dot(dvec, states[l].g) >= 0) {
        // not a descent direction (numerical trouble): restart from steepest descent
        states[l].s = [];
        states[l].yv = [];
        states[l].rho = [];
        dvec = direction(states[l]);
      }
      dirs.set(l, dvec);
    }
    const step = new Map<number, number>(running.map((l) => [l, 1]));
    let pending = running;
    const accepted = new Map<number, { w: Float64Array; g: Float64Array; f: number }>();
    for (let tries = 0; tries < 40 && pending.length; tries++) {
      const trial = pending.map((l) => {
        const st = states[l];
        const dv = dirs.get(l)!;
        const t = step.get(l)!;
        const w = new Float64Array(p);
        for (let j = 0; j < p; j++) w[j] = st.w[j] + t * dv[j];
        return w;
      });
      const f = new Float64Array(pending.length);
      const g = pending.map(() => new Float64Array(p));
      evaluate(X, n, d, y, numLabels, lambda, pending, trial, f, g);
      const still: number[] = [];
      pending.forEach((l, a) => {
        const st = states[l];
        const t = step.get(l)!;
        if (f[a] <= st.f + 1e-4 * t * dot(dirs.get(l)!, st.g) || tries === 39) accepted.set(l, { w: trial[a], g: g[a], f: f[a] });
        else {
          step.set(l, t * 0.5);
          still.push(l);
        }
      });
      pending = still;
    }
    for (const l of running) {
      const st = states[l];
      const next = accepted.get(l)!;
      const s = new Float64Array(p);
      const yv = new Float64Array(p);
      for (let j = 0; j < p; j++) {
        s[j] = next.w[j] - st.w[j];
        yv[j] = next.g[j] - st.g[j];
      }
      const sy = dot(s, yv);
      if (sy > 1e-12) {
        st.s.push(s);
        st.yv.push(yv);
        st.rho.push(1 / sy);
        if (st.s.length > memory) {
          st.s.shift();
          st.yv.shift();
          st.rho.shift();
        }
      }
      const fPrev = st.f;
      st.w = next.w;
      st.g = next.g;
      st.f = next.f;
      st.iter++;
      // scipy's L-BFGS-B stops on the projected gradient (gtol) or a negligible relative decrease (factr · eps)
      if (maxAbs(st.g) <= tol || st.iter >= maxIter || (fPrev - st.f) / Math.max(Math.abs(fPrev), Math.abs(st.f), 1) <= 1e7 * 2.220446049250313e-16) st.done = true;
    }
  }
  const weight = new Float32Array(numLabels * d);
  const bias = new Float32Array(numLabels);
  const iterations = new Int32Array(numLabels);
  let unconverged = 0;
  states.forEach((st, l) => {
    for (let j = 0; j < d; j++) weight[l * d + j] = st.w[j];
    bias[l] = st.w[d];
    iterations[l] = st.iter;
    if (maxAbs(st.g) > tol && st.iter >= maxIter) unconverged++;
  });
  return { weight, bias, iterations, unconverged };
}
