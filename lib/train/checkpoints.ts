/** Checkpoint folders of a run: find them, write one atomically (weights, optimizer, state files), rotate old ones. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../files';
import type { RadbertState, TrainerState } from './state';
import type { TrainTask } from './task';

/** Checkpoint folders `checkpoint-<step>` of a run folder, oldest first. */
export function listCheckpoints(outputDir: string): Array<{ dir: string; step: number }> {
  if (!fs.existsSync(outputDir)) return [];
  return fs
    .readdirSync(outputDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^checkpoint-\d+$/.test(e.name))
    .map((e) => ({ dir: path.join(outputDir, e.name), step: Number(e.name.slice('checkpoint-'.length)) }))
    .sort((a, b) => a.step - b.step);
}

/** The newest checkpoint that holds a complete resumable state (HF's get_last_checkpoint + our state file). */
export function lastCheckpoint(outputDir: string): string | undefined {
  const all = listCheckpoints(outputDir).reverse();
  return all.find((c) => fs.existsSync(path.join(c.dir, 'radbert_state.json')))?.dir;
}

/**
 * HF's rotate_checkpoints (transformers 5.17): keep at most `limit` checkpoints, never deleting the most recent one
 * nor the best; oldest go first. Returns the deleted folders.
 */
export function rotateCheckpoints(outputDir: string, limit: number, bestCheckpoint?: string | null): string[] {
  if (!limit || limit <= 0) return [];
  const all = listCheckpoints(outputDir).map((c) => c.dir);
  if (all.length <= limit) return [];
  const protectedSet = new Set([path.resolve(all[all.length - 1])]);
  if (bestCheckpoint) protectedSet.add(path.resolve(bestCheckpoint));
  const keep = Math.max(limit, protectedSet.size);
  let remaining = all.length;
  const deleted: string[] = [];
  for (const dir of all) {
    if (remaining <= keep) break;
    if (!protectedSet.has(path.resolve(dir))) {
      fs.rmSync(dir, { recursive: true, force: true });
      deleted.push(dir);
      remaining--;
    }
  }
  return deleted;
}

/** Write trainer_state.json and training_args.json into a folder (a checkpoint or the final model folder). */
export function writeRunFiles(dir: string, trainerState: TrainerState, trainingArgs: Record<string, unknown>): void {
  writeFileAtomic(path.join(dir, 'trainer_state.json'), JSON.stringify(trainerState, null, 2) + '\n');
  writeFileAtomic(path.join(dir, 'training_args.json'), JSON.stringify(trainingArgs, null, 2) + '\n');
}

/**
 * Write `<outputDir>/checkpoint-<step>`: the task's model folder, optimizer.safetensors, radbert_state.json,
 * trainer_state.json and training_args.json, built under a temporary name and renamed into place.
 */
export async function writeCheckpoint(
  outputDir: string,
  task: Pick<TrainTask, 'save' | 'model'>,
  state: RadbertState,
  trainerState: TrainerState,
  trainingArgs: Record<string, unknown>,
): Promise<string> {
  const dir = path.join(outputDir, `checkpoint-${state.global_step}`);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await task.save(tmp);
  await task.model.saveOptimizer(path.join(tmp, 'optimizer.safetensors'));
  writeFileAtomic(path.join(tmp, 'radbert_state.json'), JSON.stringify(state) + '\n');
  writeRunFiles(tmp, trainerState, trainingArgs);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}
