/** `predict --input/--output`: texts from a .txt/.jsonl/.csv file or stdin, predictions as JSONL or CSV, a progress bar. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors';
import { csvField, DataError, parseCsv } from '../data/readers';
import { formatDuration } from '../train/progress';

/** Text columns tried, in order, when --text-column is not given. */
const TEXT_COLUMNS = ['text', 'caption'];

/** Which column holds the text: the named one, else the first of text/caption that the columns have. */
function pickColumn(source: string, columns: string[], named: string | undefined): string {
  const col = named ?? TEXT_COLUMNS.find((c) => columns.includes(c));
  if (!col || !columns.includes(col))
    throw new DataError(`${source}: no column ${col ? `'${col}'` : TEXT_COLUMNS.map((c) => `'${c}'`).join(' or ')} (columns: ${columns.join(', ')}); pass --text-column`);
  return col;
}

/**
 * The texts of an --input: a .jsonl (one object per line, the text column), a .csv (header row, the text column), or
 * anything else (a .txt, or `-` for stdin) as one text per non-empty line.
 */
export function readInputTexts(input: string, textColumn?: string): string[] {
  const stdin = input === '-';
  if (!stdin && !fs.existsSync(input)) throw new UsageError(`--input ${input}: no such file`);
  const text = fs.readFileSync(stdin ? 0 : input, 'utf8').replace(/^\uFEFF/, '');
  const source = stdin ? 'stdin' : input;
  const ext = stdin ? '' : path.extname(input).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') {
    const rows = text.split(/\r?\n/).map((line, i) => ({ line: line.trim(), n: i + 1 })).filter((r) => r.line);
    const objects = rows.map(({ line, n }) => {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new DataError(`${source} line ${n}: not valid JSON`);
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError(`${source} line ${n}: not a JSON object`);
      return { v: v as Record<string, unknown>, n };
    });
    if (!objects.length) return [];
    const col = pickColumn(source, [...new Set(objects.flatMap((o) => Object.keys(o.v)))], textColumn);
    return objects.map(({ v, n }) => {
      if (typeof v[col] !== 'string') throw new DataError(`${source} line ${n}: '${col}' is not a string`);
      return v[col] as string;
    });
  }
  if (ext === '.csv') {
    const records = parseCsv(text);
    if (!records.length) return [];
    const col = pickColumn(source, records[0].fields, textColumn);
    const i = records[0].fields.indexOf(col);
    return records.slice(1).map(({ fields, line }) => {
      if (fields[i] === undefined) throw new DataError(`${source} line ${line}: no '${col}' field`);
      return fields[i];
    });
  }
  if (textColumn) throw new UsageError(`--text-column applies to a .jsonl or .csv --input, not ${source}`);
  return text.split(/\r?\n/).filter((l) => l.trim());
}

/** One predicted label, as written by --json and --output. */
export interface LabelOut {
  label: string;
  name?: string;
  probability: number;
}

/** Writes predictions as JSONL ({text, labels}) or CSV (text, labels, probabilities; ';'-separated) to a file or stdout. */
export class PredictionWriter {
  private readonly fd: number;
  private readonly csv: boolean;

  constructor(output: string | undefined) {
    this.csv = output !== undefined && path.extname(output).toLowerCase() === '.csv';
    this.fd = output === undefined || output === '-' ? 1 : fs.openSync(output, 'w');
    if (this.csv) this.write('text,labels,probabilities\n');
  }

  private write(s: string): void {
    fs.writeSync(this.fd, s);
  }

  /** Add one text's prediction. */
  add(text: string, labels: LabelOut[]): void {
    if (this.csv) this.write([text, labels.map((l) => l.label).join(';'), labels.map((l) => l.probability.toFixed(6)).join(';')].map(csvField).join(',') + '\n');
    else this.write(JSON.stringify({ text, labels }) + '\n');
  }

  /** Close the file (not stdout). */
  close(): void {
    if (this.fd !== 1) fs.closeSync(this.fd);
  }
}

/** A one-line progress bar on stderr when it is a TTY (nothing otherwise). */
export class RowProgress {
  private readonly tty = process.stderr.isTTY === true;
  private readonly start = Date.now();

  constructor(private readonly total: number) {}

  /** Show `done` of total. */
  update(done: number): void {
    if (!this.tty) return;
    const f = this.total ? done / this.total : 1;
    const w = 24;
    const fill = Math.round(f * w);
    const s = (Date.now() - this.start) / 1000;
    const eta = done ? (s / done) * (this.total - done) : NaN;
    process.stderr.write(`\rpredict [${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${done}/${this.total} rows, ${formatDuration(s)} elapsed, ETA ${formatDuration(eta)}\x1b[K`);
  }

  /** Clear the bar. */
  done(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }
}
