#!/usr/bin/env node
/**
 * The `radbert-native` command: train, mlm, fill-mask, predict, eval, push, serve (one module each in cli/, flags from one option table per
 * command on yargs, cli/options.ts), and `completion` for shells.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage, 130 interrupted (Ctrl-C; a resumable checkpoint is saved).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { HubError } from '../hub/errors';
import { err, out } from './common';
import { EVAL, evalCommand } from './eval';
import { parseCommand, programParser, type CommandSpec, type Parsed } from './options';
import { PREDICT, predictCommand } from './predict';
import { PUSH, pushCommand } from './push';
import { SERVE, serveCommand } from './serve';
import { TRAIN, trainCommand } from './train';
import { MLM, mlmCommand } from './mlm';
import { FILL_MASK, fillMaskCommand } from './fill-mask';

type Command = CommandSpec & { summary: string; run: (parsed: Parsed, args: string[]) => Promise<number> };

const COMMANDS: Command[] = [
  { ...TRAIN, summary: "fine-tune (no options: the seed's model + dataset from the HF cache, else a demo)", run: trainCommand },
  { ...MLM, summary: 'masked-language-model training (domain adaptation) with the same recipe flags', run: mlmCommand },
  { ...FILL_MASK, summary: 'fill [MASK] with a masked LM (transformers fill-mask pipeline)', run: fillMaskCommand },
  { ...PREDICT, summary: 'predict CUIs with a trained model', run: predictCommand },
  { ...EVAL, summary: 'metrics of a trained model on a split', run: evalCommand },
  { ...PUSH, summary: 'upload a trained model (with a model card) to the Hugging Face Hub', run: pushCommand },
  { ...SERVE, summary: 'an HTTP server (TEI endpoints) with dynamic batching of concurrent requests', run: serveCommand },
];

const USAGE = `radbert-native: fine-tune and run ModernBERT CUI classifiers (libtorch, no Python)

usage: npx radbert-native <command> [options]`;
const EPILOG = 'Run `npx radbert-native <command> --help` for the options of a command.\nExit codes: 0 ok, 1 failure, 2 bad usage, 130 interrupted.';

/** The top-level parser's output for these arguments (help text, completion script, or completions). */
async function programOutput(argv: string[]): Promise<string> {
  // yargs may call back more than once (completions arrive in a later call): collect every non-empty output
  const outputs: string[] = [];
  let error: Error | undefined;
  programParser(COMMANDS, USAGE, EPILOG).parse(argv, {}, (e, _args, output) => {
    if (e) error ??= e;
    if (output) outputs.push(output);
  });
  await new Promise((resolve) => setImmediate(resolve));
  if (error) throw new UsageError(error.message);
  return outputs.join('\n');
}

/** API option names in library messages → the flags a CLI user types. */
const FLAG_WORDS: Array<[RegExp, string]> = [
  [/\bpass skipBadRows\b/g, 'pass --skip-bad-rows'],
  [/\bpass options\.tokenizer\b/g, 'pass --tokenizer'],
];

/** A library error message in the CLI's words (flags instead of API options). */
export function inFlagWords(message: string): string {
  return FLAG_WORDS.reduce((m, [re, flag]) => m.replace(re, flag), message);
}

/** Run the CLI with these arguments (without `node cli.js`); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined || ['help', '--help', '-h'].includes(command)) {
      out(await programOutput(['--help']));
      return command === undefined ? 2 : 0;
    }
    if (command === '--version' || command === '-v') {
      out(JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version);
      return 0;
    }
    if (command === 'completion' || argv.includes('--get-yargs-completions')) {
      out(await programOutput(argv));
      return 0;
    }
    const cmd = COMMANDS.find((c) => c.name === command || (command === 'evaluate' && c.name === 'eval'));
    if (!cmd) {
      err(`unknown command "${command}" (${COMMANDS.map((c) => c.name).join(', ')}); run \`npx radbert-native --help\``);
      return 2;
    }
    const parsed = parseCommand(cmd, rest);
    if (parsed.help !== undefined) {
      out(parsed.help);
      return 0;
    }
    return await cmd.run(parsed, rest);
  } catch (e) {
    const error = e as Error;
    err(`radbert-native: ${inFlagWords(error.message)}`);
    if (error instanceof UsageError) return 2;
    if (!(error instanceof HubError) && process.env.RADBERT_DEBUG && error.stack) err(error.stack);
    return 1;
  }
}

/** Runs the command line and sets the process exit code (what bin/radbert-native.js calls). */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      err(`radbert-native: ${(e as Error).message}`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) run(process.argv.slice(2));
