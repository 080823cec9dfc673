/**
 * transformers' learning-rate schedules (`lr_scheduler_type` and `lr_scheduler_kwargs` of TrainingArguments, built by
 * get_scheduler as a LambdaLR): the lr of optimizer step `step` (0-based) is baseLr × factor(step). The factors are
 * transcriptions of transformers 5.17's lr lambdas (optimization.py), in float64 as Python computes them.
 */
import { UsageError } from '../errors';
import { linearScheduleFactor } from './schedule';

/** The schedules of `--lr-scheduler-type` (transformers' SchedulerType values). */
export const LR_SCHEDULER_TYPES = ['linear', 'cosine', 'cosine_with_restarts', 'polynomial', 'constant', 'constant_with_warmup'] as const;
/** One of LR_SCHEDULER_TYPES. */
export type LrSchedulerType = (typeof LR_SCHEDULER_TYPES)[number];

/** `lr_scheduler_kwargs`: the schedule's own parameters (num_cycles; lr_end, power). */
export type LrSchedulerKwargs = Record<string, number>;

/** The kwargs each schedule takes and their defaults (the keyword arguments of its transformers function). */
const KWARGS: Record<LrSchedulerType, Record<string, number>> = {
  linear: {},
  cosine: { num_cycles: 0.5 },
  cosine_with_restarts: { num_cycles: 1 },
  polynomial: { lr_end: 1e-7, power: 1.0 },
  // get_scheduler passes no kwargs to these two
  constant: {},
  constant_with_warmup: {},
};

/** A schedule with everything it needs: the lr of each 0-based optimizer step. */
export interface LrSchedule {
  type: LrSchedulerType;
  /** The kwargs in effect (defaults filled in). */
  kwargs: LrSchedulerKwargs;
  lr(step: number): number;
}

/**
 * `--lr-scheduler-kwargs` as given (a JSON object string or an object) checked against the schedule: unknown keys and
 * non-numbers are UsageErrors (transformers raises a TypeError for an unknown keyword).
 */
export function parseSchedulerKwargs(type: LrSchedulerType, given: LrSchedulerKwargs | string | undefined): LrSchedulerKwargs {
  let kw: unknown = given ?? {};
  if (typeof kw === 'string') {
    try {
      kw = JSON.parse(kw);
    } catch (e) {
      throw new UsageError(`lr scheduler kwargs must be a JSON object, e.g. '{"num_cycles": 2}': ${(e as Error).message}`);
    }
  }
  if (typeof kw !== 'object' || kw === null || Array.isArray(kw)) throw new UsageError(`lr scheduler kwargs must be a JSON object, got ${JSON.stringify(kw)}`);
  const allowed = KWARGS[type];
  const out: LrSchedulerKwargs = { ...allowed };
  for (const [key, v] of Object.entries(kw)) {
    if (!(key in allowed)) {
      const names = Object.keys(allowed);
      throw new UsageError(`lr scheduler kwargs: ${type} takes ${names.length ? names.join(', ') : 'no kwargs'}, got ${key}`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new UsageError(`lr scheduler kwargs: ${key} must be a finite number, got ${JSON.stringify(v)}`);
    out[key] = v;
  }
  if (type === 'cosine_with_restarts' && !Number.isInteger(out.num_cycles)) throw new UsageError(`lr scheduler kwargs: num_cycles of cosine_with_restarts must be an integer, got ${out.num_cycles}`);
  return out;
}

/** The multiplier of the base lr at 0-based step `step` (transformers' lr_lambda of the schedule). */
export function scheduleFactor(type: LrSchedulerType, step: number, totalSteps: number, warmupSteps: number, kw: LrSchedulerKwargs, baseLr: number): number {
  const warm = () => step / Math.max(1, warmupSteps);
  const progress = () => (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
  switch (type) {
    case 'linear':
      return linearScheduleFactor(step, totalSteps, warmupSteps);
    case 'constant':
      return 1;
    case 'constant_with_warmup':
      return step < warmupSteps ? step / Math.max(1.0, warmupSteps) : 1.0;
    case 'cosine':
      if (step < warmupSteps) return warm();
      return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * kw.num_cycles * 2.0 * progress())));
    case 'cosine_with_restarts': {
      if (step < warmupSteps) return warm();
      const p = progress();
      if (p >= 1.0) return 0.0;
      return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * ((kw.num_cycles * p) % 1.0)))); // p >= 0: JS % = Python %
    }
    case 'polynomial': {
      if (step < warmupSteps) return warm();
      if (step > totalSteps) return kw.lr_end / baseLr;
      const decaySteps = totalSteps - warmupSteps;
      const pctRemaining = 1 - (step - warmupSteps) / decaySteps;
      return ((baseLr - kw.lr_end) * pctRemaining ** kw.power + kw.lr_end) / baseLr;
    }
  }
}

/**
 * The kwargs of a schedule, checked (type, kwargs, and where transformers raises: polynomial's lr_end must be below the
 * learning rate); throws a UsageError naming the problem.
 */
export function checkSchedule(type: LrSchedulerType, baseLr: number, kwargs?: LrSchedulerKwargs | string): LrSchedulerKwargs {
  if (!LR_SCHEDULER_TYPES.includes(type)) throw new UsageError(`lr scheduler type must be ${LR_SCHEDULER_TYPES.join(', ').replace(/, ([^,]+)$/, ' or $1')}, got ${type}`);
  const kw = parseSchedulerKwargs(type, kwargs);
  if (type === 'polynomial' && !(baseLr > kw.lr_end)) throw new UsageError(`polynomial schedule: lr_end (${kw.lr_end}) must be smaller than the learning rate (${baseLr})`);
  return kw;
}

/** The schedule of a run: get_scheduler(type, optimizer(lr=baseLr), warmupSteps, totalSteps, kwargs). */
export function lrSchedule(type: LrSchedulerType, baseLr: number, totalSteps: number, warmupSteps: number, kwargs?: LrSchedulerKwargs | string): LrSchedule {
  const kw = checkSchedule(type, baseLr, kwargs);
  if (type === 'polynomial' && warmupSteps >= totalSteps)
    throw new UsageError(`polynomial schedule: the warm-up (${warmupSteps} steps) must be shorter than the run (${totalSteps} steps)`);
  // LambdaLR: lr = base_lr * lr_lambda(step)
  return { type, kwargs: kw, lr: (step) => baseLr * scheduleFactor(type, step, totalSteps, warmupSteps, kw, baseLr) };
}
