/**
 * One option table per command generates everything about its flags: the yargs parser (strict: unknown flags are
 * errors), the `--help` text, type and range validation, and shell completion. Errors become UsageError (exit 2)
 * naming the flag and pointing at `<command> --help`.
 */
import yargs from 'yargs/yargs';
import type { Argv, Options } from 'yargs';
import { UsageError } from '../errors';
import { numberProblem } from '../train/options';

/** One flag: its type, help line, group, aliases, and the values or range it accepts. */
export interface OptionSpec {
  type: 'string' | 'boolean' | 'number' | 'integer';
  /** Help text (the default and accepted values are appended from the fields below). */
  desc: string;
  /** Help section ('data', 'model', 'recipe', 'output', ...). */
  group?: string;
  /** Other names (e.g. learning-rate for lr). */
  alias?: string[];
  /** Accepted values of a string flag. */
  choices?: readonly string[];
  /** Shown as the default in --help (the code that uses the flag applies it). */
  default?: string | number;
  /** Numbers: smallest accepted value, and whether it is excluded (> rather than >=). */
  min?: number;
  minExclusive?: boolean;
  /** Numbers: largest accepted value, and whether it is excluded (< rather than <=). */
  max?: number;
  maxExclusive?: boolean;
}

/** A command's option table: flag name → spec. */
export type OptionTable = Record<string, OptionSpec>;

/** The parsed flags of a command: flag name → value (numbers as numbers), and the positional arguments. */
export interface Parsed {
  values: Record<string, string | number | boolean | undefined>;
  positionals: string[];
  /** The --help text when --help / -h was given. */
  help?: string;
}

/** What a command declares: its name, usage line (and text under it), its table, and whether it takes positionals. */
export interface CommandSpec {
  name: string;
  usage: string;
  /** Text after the options (notes, exit codes). */
  epilog?: string;
  options: OptionTable;
  positionals?: boolean;
}

function describe(spec: OptionSpec): string {
  const parts = [spec.desc];
  if (spec.choices) parts.push(`(${spec.choices.join('|')})`);
  if (spec.default !== undefined) parts.push(`(default ${spec.default})`);
  return parts.join(' ');
}

/** The yargs options of a table (numbers are parsed as strings so a bad value can be quoted back). */
function yargsOptions(table: OptionTable): Record<string, Options> {
  const out: Record<string, Options> = {};
  for (const [name, spec] of Object.entries(table)) {
    out[name] = {
      type: spec.type === 'boolean' ? 'boolean' : 'string',
      describe: describe(spec),
      alias: spec.alias,
      group: spec.group ? `${spec.group}:` : undefined,
      requiresArg: spec.type !== 'boolean',
    };
  }
  return out;
}

/** yargs 17.7's usageConfiguration({'hide-types'}) (not in @types/yargs 17): types and choices are in our help text instead. */
function hideTypes(y: Argv): Argv {
  return (y as Argv & { usageConfiguration(c: Record<string, boolean>): Argv }).usageConfiguration({ 'hide-types': true });
}

/** A yargs instance for a command: strict, no process exit, no output of its own, errors thrown as UsageError. */
export function commandParser(cmd: CommandSpec, args: string[] = []): Argv {
  const y = hideTypes(
    yargs()
      .scriptName(`radbert-native ${cmd.name}`)
      .usage(cmd.usage)
      .options(yargsOptions(cmd.options))
      .parserConfiguration({ 'camel-case-expansion': false, 'boolean-negation': false, 'dot-notation': false, 'duplicate-arguments-array': false }),
  )
    .help('help')
    .alias('help', 'h')
    .version(false)
    .exitProcess(false)
    .wrap(Math.min(120, process.stdout.columns || 120))
    .fail((msg: string | undefined, err: Error | undefined) => {
      throw usageError(cmd.name, msg ?? err?.message ?? 'bad usage', args);
    });
  if (cmd.epilog) y.epilog(cmd.epilog);
  return cmd.positionals ? y.strictOptions() : y.strict();
}

/** yargs' message, in our words: the flag as it is typed, and where to look. */
function usageError(command: string, msg: string, args: string[]): UsageError {
  let m = msg;
  let r = /^Unknown arguments?: (.+)$/.exec(msg);
  if (r) m = r[1].split(', ').map((a) => (args.includes(a) ? `unexpected argument ${a}` : `unknown option ${a.length === 1 ? `-${a}` : `--${a}`}`)).join('; ');
  else if ((r = /^Not enough arguments following: (.+)$/.exec(msg))) m = `--${r[1]} expects a value`;
  else if ((r = /Argument: (.+), Given: (.+), Choices: (.+)$/s.exec(msg))) m = `--${r[1]} must be one of ${r[3]}, got ${r[2]}`;
  return new UsageError(`${command}: ${m}\nRun \`npx radbert-native ${command} --help\` for the options.`);
}

/** The flag name as the user typed it (one of its aliases), for messages. */
function typedName(args: string[], name: string, spec: OptionSpec): string {
  for (const n of [name, ...(spec.alias ?? [])]) if (args.some((a) => a === `--${n}` || a.startsWith(`--${n}=`))) return n;
  return name;
}

/** Check a value against its spec: numbers parsed, integers whole, ranges and choices respected. */
function checkValue(args: string[], name: string, spec: OptionSpec, v: unknown): string | number | boolean | undefined {
  if (v === undefined || spec.type === 'boolean') return v as boolean | undefined;
  const flag = `--${typedName(args, name, spec)}`;
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(String(v))) throw new UsageError(`${flag} must be ${spec.choices.join(', ').replace(/, ([^,]+)$/, ' or $1')}, got ${v}`);
    return String(v);
  }
  const x = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(x)) throw new UsageError(`${flag} expects a number, got ${JSON.stringify(v)}`);
  // the same rule train()'s options are checked with (lib/train/options.ts)
  const problem = numberProblem(x, { type: spec.type, min: spec.min, minExclusive: spec.minExclusive, max: spec.max, maxExclusive: spec.maxExclusive });
  if (problem) throw new UsageError(`${flag} ${problem.replace(/, got .*$/s, '')}, got ${v}`);
  return x;
}

/** Parse a command's arguments by its table: help text, or the checked values and positionals. */
export function parseCommand(cmd: CommandSpec, args: string[]): Parsed {
  let parsed: Record<string, unknown> = {};
  let help: string | undefined;
  commandParser(cmd, args).parse(args, {}, (err, argv, output) => {
    if (err) throw err instanceof UsageError ? err : usageError(cmd.name, err.message, args);
    parsed = argv as Record<string, unknown>;
    if (argv.help) help = output;
  });
  if (help !== undefined) return { values: {}, positionals: [], help };
  const values: Parsed['values'] = {};
  for (const [name, spec] of Object.entries(cmd.options)) values[name] = checkValue(args, name, spec, parsed[name]);
  const positionals = ((parsed._ as unknown[]) ?? []).map(String);
  return { values, positionals };
}

/** The top-level parser (every command and its flags), for `--help` and shell completion. */
export function programParser(commands: Array<CommandSpec & { summary: string }>, usage: string, epilog: string): Argv {
  let y = hideTypes(yargs().scriptName('radbert-native').usage(usage).epilog(epilog).parserConfiguration({ 'camel-case-expansion': false, 'boolean-negation': false }))
    .help('help')
    .alias('help', 'h')
    .version(false)
    .exitProcess(false)
    .completion('completion', 'print a bash/zsh completion script (source it, e.g. `npx radbert-native completion >> ~/.bashrc`)')
    .wrap(Math.min(120, process.stdout.columns || 120));
  for (const c of commands) y = y.command(c.name, c.summary, (sub: Argv) => sub.options(yargsOptions(c.options)));
  return y;
}
