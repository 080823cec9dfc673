/**
 * Learning-rate schedule of Hugging Face Trainer's default (`lr_scheduler_type="linear"`), i.e.
 * transformers.get_linear_schedule_with_warmup, and the step arithmetic of Trainer (steps per epoch, max_steps), and the batch order of each epoch.
 */
import { PCG64 } from '../data/rng';

/** Warmup steps as TrainingArguments.get_warmup_steps: warmupSteps if > 0, else ceil(totalSteps * warmupRatio). */
export function warmupStepsFor(totalSteps: number, warmupRatio = 0, warmupSteps = 0): number {
  if (warmupSteps > 0) return Math.floor(warmupSteps);
  return Math.ceil(totalSteps * warmupRatio);
}

/** Multiplier of the base lr for optimizer step `step` (0-based): HF's lr_lambda of get_linear_schedule_with_warmup. */
export function linearScheduleFactor(step: number, totalSteps: number, warmupSteps = 0): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}

/** The lr used for optimizer step `step` (0-based); the lr HF logs at global_step g is linearScheduleLr(g, ...). */
export function linearScheduleLr(baseLr: number, step: number, totalSteps: number, warmupSteps = 0): number {
  return baseLr * linearScheduleFactor(step, totalSteps, warmupSteps);
}

/** Trainer's plan: steps per epoch = ceil(rows / batch); max_steps > 0 overrides epochs (epochs = ceil(max_steps / per epoch)). */
export function planSteps(rows: number, batchSize: number, epochs: number, maxSteps = -1): { stepsPerEpoch: number; totalSteps: number; epochs: number } {
  const stepsPerEpoch = Math.ceil(rows / batchSize);
  if (stepsPerEpoch <= 0) throw new Error('the training split is empty');
  if (maxSteps > 0) return { stepsPerEpoch, totalSteps: maxSteps, epochs: Math.ceil(maxSteps / stepsPerEpoch) };
  // HF: max_steps = ceil(num_train_epochs * steps_per_epoch); a fractional epoch count ends mid-epoch
  return { stepsPerEpoch, totalSteps: Math.ceil(epochs * stepsPerEpoch), epochs: Math.ceil(epochs) };
}

/** Row order of epoch `epoch`: NumPy PCG64 seeded with (seed << 32) + epoch, permutation of the rows. */
export function epochOrder(rows: number, seed: number, epoch: number): number[] {
  return new PCG64(epochSeed(seed, epoch)).permutation(rows);
}

/** The PCG64 seed of an epoch's batch order: (seed << 32) + epoch. */
export function epochSeed(seed: number, epoch: number): bigint {
  return (BigInt(seed >>> 0) << 32n) + BigInt(epoch);
}
