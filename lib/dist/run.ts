/**
 * Distributed is a property of a run, not a second trainer: train() and trainMlm() run their job through
 * withDistributed(), which joins the process group when the environment describes a data-parallel run (WORLD_SIZE > 1,
 * torchrun's contract; or WORLD_SIZE 1 with an explicit --ddp-backend) and otherwise runs the job alone. Rank roles:
 * rank 0 prints, logs and writes; the others are quiet and wait for it at barriers. A failure on this rank is left in
 * the store for the others' messages; a failure caused by another rank is rethrown naming that rank and its host.
 */
import { UsageError } from '../errors';
import { native } from '../native';
import { distEnv } from './env';
import { Dist, type JoinOptions } from './group';

/** The data-parallel options of a run (TrainingArguments' ddp_backend and ddp_timeout). */
export interface DistributedOptions {
  /** Process group backend: nccl on CUDA (when built with it), gloo otherwise; giving it also makes WORLD_SIZE=1 distributed. */
  ddpBackend?: 'gloo' | 'nccl';
  /** Seconds before the rendezvous or a collective gives up (TRAIN_DEFAULTS: HF's 1800). */
  ddpTimeout: number;
}

/** Whether this process is rank 0 of its run, or runs alone (reads the environment only). */
export function isMainProcess(env: NodeJS.ProcessEnv = process.env): boolean {
  return (distEnv(env)?.rank ?? 0) === 0;
}

/** The backend a run on `device` gets: the one asked for, else NCCL on CUDA where built with it, else Gloo. */
function chooseBackend(asked: 'gloo' | 'nccl' | undefined, device: 'cpu' | 'cuda'): JoinOptions['backend'] {
  const built = native().version().distributed;
  const backend = asked ?? (device === 'cuda' && built.backends.includes('nccl') ? 'nccl' : 'gloo');
  if (backend === 'nccl' && device !== 'cuda') throw new UsageError('--ddp-backend nccl runs on CUDA devices: pass --device cuda, or use --ddp-backend gloo');
  if (!built.backends.includes(backend))
    throw new UsageError(built.reason ?? `this build of radbert-native has no ${backend} backend (it has ${built.backends.join(', ')}): use --ddp-backend ${built.backends[0]}`);
  return backend;
}

/**
 * Run `job` as this process's part of the data-parallel run the environment describes (with its Dist), or alone
 * (undefined). The group is joined before the job and closed (a last barrier) after it on every rank.
 */
export async function withDistributed<T>(o: DistributedOptions, device: 'cpu' | 'cuda', job: (dist: Dist | undefined) => Promise<T>): Promise<T> {
  const env = distEnv();
  if (!env || (env.worldSize === 1 && o.ddpBackend === undefined)) return job(undefined);
  // DDP's Reducer (buckets all-reduced while backward runs) by default: measured faster on base (bench/ddp.js);
  // RADBERT_DDP_GRAD_SYNC=flat: one persistent flattened buffer all-reduced after backward
  const gradSync = process.env.RADBERT_DDP_GRAD_SYNC ?? 'reducer';
  if (gradSync !== 'reducer' && gradSync !== 'flat') throw new UsageError(`RADBERT_DDP_GRAD_SYNC=${gradSync} must be reducer or flat`);
  const dist = await Dist.join(env, { backend: chooseBackend(o.ddpBackend, device), timeoutSeconds: o.ddpTimeout, gradSync });
  let result: T;
  try {
    result = await job(dist);
  } catch (err) {
    dist.reportFailure(err);
    const explained = await dist.explain(err);
    dist.abandon();
    throw explained;
  }
  await dist.close();
  return result;
}
