/** What the commands share: defaults, output, quoting, and loading the model a command names. */
import * as fs from 'node:fs';
import * as path from 'node:path';
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
 * checkpoint), a second one exits 130 at once.
 */
export async function withInterrupt<T>(job: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints === 1) {
      err('\nCtrl-C: finishing the current step and saving a checkpoint (Ctrl-C again to quit without saving)');
      controller.abort();
    } else process.exit(130);
  };
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
