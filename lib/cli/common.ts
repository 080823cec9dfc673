/** What the commands share: defaults, output, quoting, and loading the model a command names. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { followLauncher, launch, LAUNCH_FLAGS } from '../dist/launcher';
import { isMainProcess } from '../dist/run';
import { UsageError } from '../errors';
import { load, type Classifier } from '../model/classifier';
import { sourceOf } from '../hub/ids';
import type { OptionSpec, Parsed } from './options';

/** The seed's model, dataset and output folder. */
export const DEFAULT_MODEL = 'answerdotai/ModernBERT-base';
export const DEFAULT_DATASET = 'unsloth/Radiology_mini';
export const DEFAULT_OUTPUT = 'ModernRadBERT-cui-classifier';

/** Write a line to stdout. */
export function out(line: string): void {
  process.stdout.write(line.endsWith('\n') ? line : `${line}\n`);
}

/** Write a line to stderr. */
export function err(line: string): void {
  process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
}

/** An argument quoted for a POSIX shell (only when needed). */
export function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** --device, shared by the commands that run a model. */
export const DEVICE_OPTION: OptionSpec = { type: 'string', desc: 'where to run', choices: ['auto', 'cpu', 'cuda'], default: 'auto' };

/** A string flag's value, if given. */
export function str(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A number flag's value (already checked by its table), if given. */
export function num(values: Parsed['values'], name: string): number | undefined {
  const v = values[name];
  return typeof v === 'number' ? v : undefined;
}

/** Load the model that --model (a folder or Hub id), $RADBERT_MODEL or ./ModernRadBERT-cui-classifier names. */
export async function loadModel(values: Parsed['values'], options: { batchSize?: number; maxLength?: number } = {}): Promise<Classifier> {
  const arg = str(values, 'model') ?? process.env.RADBERT_MODEL;
  const hub = arg !== undefined && sourceOf(arg)?.kind === 'hub';
  const dir = hub ? arg : path.resolve(arg ?? DEFAULT_OUTPUT);
  if (!hub && !fs.existsSync(dir)) throw new Error(`${dir}: no model here; train one with \`npx radbert-native train\` or pass --model DIR (or a Hub id org/name)`);
  return load(dir, {
    revision: str(values, 'revision'),
    maxLength: options.maxLength ?? num(values, 'max-length'),
    tokenizer: str(values, 'tokenizer'),
    device: str(values, 'device') as 'auto' | 'cpu' | 'cuda' | undefined,
    batchSize: options.batchSize,
    dtype: values.bf16 === true ? 'bfloat16' : 'float32',
  });
}

/**
 * Run a training job with Ctrl-C handling: the first Ctrl-C aborts `signal` (the loop finishes the step and saves a
 * checkpoint), a second one exits 130 at once. A worker of the built-in launcher treats its launcher's disappearance
 * as a Ctrl-C.
 */
export async function withInterrupt<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints === 1) {
      if (isMainProcess()) err('\nCtrl-C: finishing the current step and saving a checkpoint (Ctrl-C again to quit without saving)');
      controller.abort();
    } else process.exit(130);
  };
  followLauncher(() => {
    err(`radbert-native: the launcher is gone: finishing the current step and saving a checkpoint`);
    controller.abort();
  });
  process.on('SIGINT', onSigint);
  try {
    return await job(controller.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** The arguments to repeat to resume an interrupted run: `args` without the resume / overwrite flags, plus --resume. */
export function resumeArgs(args: string[]): string[] {
  const kept = args.filter(
    (a, i) => !['--resume', '--overwrite-output-dir'].includes(a) && a !== '--resume-from-checkpoint' && args[i - 1] !== '--resume-from-checkpoint' && !a.startsWith('--resume-from-checkpoint='),
  );
  return [...kept, '--resume'];
}

/** The data-parallel flags of train and mlm: the built-in launcher's (torchrun's names) and TrainingArguments' ddp_*. */
export const DISTRIBUTED_OPTIONS: Record<string, OptionSpec> = {
  'nproc-per-node': { group: 'distributed', type: 'integer', desc: 'launch N data-parallel workers on this node (torchrun\'s contract: RANK, WORLD_SIZE, ... set for each)', min: 1 },
  nnodes: { group: 'distributed', type: 'integer', desc: 'nodes of the run (start the same command with --node-rank on each)', default: 1, min: 1 },
  'node-rank': { group: 'distributed', type: 'integer', desc: 'this node\'s rank among --nnodes', default: 0, min: 0 },
  'master-addr': { group: 'distributed', type: 'string', desc: 'host of node rank 0, where rank 0 hosts the rendezvous store (default 127.0.0.1 on one node)' },
  'master-port': { group: 'distributed', type: 'integer', desc: 'port of the rendezvous store (default: a free one on one node, 29500 with several)', min: 1, max: 65535 },
  'ddp-backend': { group: 'distributed', type: 'string', desc: 'process group backend (default: nccl on CUDA when built with it, else gloo)', choices: ['gloo', 'nccl'] },
  'ddp-timeout': { group: 'distributed', type: 'number', desc: 'seconds before the rendezvous or a collective gives up', default: 1800, min: 0, minExclusive: true },
};

/** With --nproc-per-node: run `command` as that many workers of this node (lib/dist/launcher.ts); else undefined. */
export function launchIfAsked(command: string, values: Parsed['values'], args: string[]): Promise<number> | undefined {
  const nproc = num(values, 'nproc-per-node');
  if (nproc === undefined) {
    const stray = LAUNCH_FLAGS.find((f) => f !== '--nproc-per-node' && args.some((a) => a === f || a.startsWith(`${f}=`)));
    if (stray) throw new UsageError(`${stray} is a flag of the built-in launcher: pass --nproc-per-node too (under torchrun, Slurm or Kubernetes the launcher sets the environment instead)`);
    return undefined;
  }
  return launch(command, args, {
    nprocPerNode: nproc,
    nnodes: num(values, 'nnodes') ?? 1,
    nodeRank: num(values, 'node-rank') ?? 0,
    masterAddr: str(values, 'master-addr'),
    masterPort: num(values, 'master-port'),
  });
}
