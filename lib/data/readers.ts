/**
 * Training data: read captions + CUI lists from a Hub-style parquet folder or a single parquet / jsonl / csv
 * file, check every row, re-split train like the seed (HF `shuffle(seed=42)`, 15% validation), and turn label
 * lists into a multi-hot matrix (sklearn MultiLabelBinarizer semantics).
 */
import * as fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import * as path from 'node:path';

/** One example: its text, its labels, and its 0-based row index in its source split. */
export interface Row {
  /** The text (the caption). */
  text: string;
  /** Its labels (CUIs), as the file lists them. */
  labels: string[];
  /** 0-based index in the source split (across shards, in shard order) */
  row: number;
  /** value of options.idColumn, when one was asked for */
  id?: string;
}

/** Rows by split name ('train', 'test', 'validation', ...). */
export type Splits = Record<string, Row[]>;

/** A row that failed the checks: `train row 17: empty caption`. */
export interface BadRow {
  /** The split it is in. */
  split: string;
  /** Its 0-based row index in the split. */
  row: number;
  /** What is wrong with it ('empty caption'). */
  reason: string;
  /** The file it came from. */
  file: string;
}

/** Options of readRows. */
export interface ReadOptions {
  /** column holding the text (default 'caption') */
  textColumn?: string;
  /** column holding the labels: a list of strings (parquet, jsonl) or a ';'-separated string (csv) (default 'cui') */
  labelColumn?: string;
  /** optional column copied into Row.id (e.g. 'image_id') */
  idColumn?: string;
  /** drop bad rows and report them in `skipped` instead of throwing (default false) */
  skipBadRows?: boolean;
  /** separator of labels in a csv label cell (default ';') */
  csvLabelSeparator?: string;
}

/** One file that was read. */
export interface SourceFile {
  /** The file's path. */
  file: string;
  /** The split it belongs to. */
  split: string;
  /** Rows read from it. */
  rows: number;
  /** bytes read from disk (parquet reads only the needed column chunks) */
  bytesRead: number;
}

/** What readRows returns: the rows by split, the rows that were skipped, and the files read. */
export interface ReadResult {
  /** The good rows by split. */
  splits: Splits;
  /** The bad rows dropped (skipBadRows), empty otherwise. */
  skipped: BadRow[];
  /** The files read, in order. */
  files: SourceFile[];
}

/** Thrown when rows fail the checks (and skipBadRows is off), or a file cannot be parsed. */
export class DataError extends Error {
  constructor(
    message: string,
    /** The rows that failed the checks (empty when a file could not be parsed). */
    readonly badRows: BadRow[] = [],
  ) {
    super(message);
    this.name = 'DataError';
  }
}

const FORMATS = ['parquet', 'jsonl', 'csv'] as const;
/** Supported file formats (.ndjson counts as jsonl). */
export type Format = (typeof FORMATS)[number];
const MAX_LISTED = 10;

/** `train row 17: empty caption` */
export function formatBadRow(b: BadRow): string {
  return `${b.split} row ${b.row}: ${b.reason}`;
}

/** Reads a dataset folder (Hub parquet layout `data/<split>-*.parquet`, or jsonl/csv per split) or one file (= split 'train'). */
export async function readRows(source: string, options: ReadOptions = {}): Promise<ReadResult> {
  const files = listSourceFiles(source);
  const splits: Splits = {};
  const bad: BadRow[] = [];
  const read: SourceFile[] = [];
  const next: Record<string, number> = {}; // next row index per split, across shards
  const columns = [options.textColumn ?? 'caption', options.labelColumn ?? 'cui', ...(options.idColumn ? [options.idColumn] : [])];
  for (const f of files) {
    const rows = (splits[f.split] ??= []);
    const { records, bytesRead } = await readRecords(f.file, f.format, columns, columns.slice(0, 2));
    for (const rec of records) {
      const rowIndex = (next[f.split] = (next[f.split] ?? -1) + 1);
      const checked = checkRecord(rec, rowIndex, f, options);
      if ('reason' in checked) bad.push(checked);
      else rows.push(checked);
    }
    read.push({ file: f.file, split: f.split, rows: records.length, bytesRead });
  }
  if (bad.length && !options.skipBadRows) refuseRows(source, bad.map(formatBadRow), ' (pass skipBadRows to drop them)', bad);
  return { splits, skipped: bad, files: read };
}

/** Throws a DataError naming `source`, the number of bad rows and the first ten (`lines`: one description per row). */
export function refuseRows(source: string, lines: string[], hint: string, bad?: BadRow[]): never {
  const listed = lines.slice(0, MAX_LISTED).map((b) => `  ${b}`);
  if (lines.length > MAX_LISTED) listed.push(`  ... and ${lines.length - MAX_LISTED} more`);
  throw new DataError(`${source}: ${lines.length} bad row${lines.length > 1 ? 's' : ''}${hint}:\n${listed.join('\n')}`, bad);
}

/** A file of a source, with its split and format. */
export interface SourceEntry {
  file: string;
  split: string;
  format: Format;
}

function formatOf(file: string): Format | undefined {
  const ext = path.extname(file).toLowerCase().slice(1);
  if (ext === 'ndjson') return 'jsonl';
  return (FORMATS as readonly string[]).includes(ext) ? (ext as Format) : undefined;
}

/** Files of a source in read order: one file = split 'train'; a folder = `[data/]<split>[-shard].<ext>`, shards sorted by name. */
export function listSourceFiles(source: string): SourceEntry[] {
  const stat = fs.statSync(source, { throwIfNoEntry: false });
  if (!stat) throw new DataError(`${source}: no such file or folder`);
  if (stat.isFile()) {
    const format = formatOf(source);
    if (!format) throw new DataError(`${source}: unsupported file type (expected .parquet, .jsonl or .csv)`);
    return [{ file: source, split: 'train', format }];
  }
  const dir = fs.existsSync(path.join(source, 'data')) ? path.join(source, 'data') : source;
  const entries: SourceEntry[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const format = formatOf(name);
    const m = /^([A-Za-z0-9_]+?)(?:[-.].*)?\.[A-Za-z]+$/.exec(name);
    if (format && m) entries.push({ file: path.join(dir, name), split: m[1], format });
  }
  if (!entries.length) throw new DataError(`${dir}: no <split>-*.parquet / .jsonl / .csv files`);
  const formats = new Set(entries.map((e) => e.format));
  if (formats.size > 1) throw new DataError(`${dir}: mixes file types (${[...formats].join(', ')}); keep one`);
  return entries;
}

/** A parsed record before the checks, or why it could not be parsed. */
export type RawRecord = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string };

/**
 * The records of one dataset file with `columns` read (parquet reads only those; csv must have them in its header;
 * jsonl must have each of `required` in some row). Invalid UTF-8 names its line (jsonl: that row is bad; csv: refused).
 */
export async function readRecords(file: string, format: Format, columns: string[], required: string[] = columns): Promise<{ records: RawRecord[]; bytesRead: number }> {
  if (format === 'parquet') return readParquet(file, columns);
  const raw = fs.readFileSync(file);
  const bytesRead = raw.length;
  const text = raw.toString('utf8').replace(/^\uFEFF/, '');
  // invalid UTF-8 would be replaced by U+FFFD silently: say which line instead
  const badLines = invalidUtf8Lines(raw);
  if (format === 'jsonl') return { records: checkJsonlColumns(file, parseJsonl(text, badLines), required), bytesRead };
  if (badLines.size) throw new DataError(`${file}: line ${[...badLines][0]} is not valid UTF-8`);
  return { records: csvRecords(file, text, columns), bytesRead };
}

/** Reads only `columns` of a parquet file (hyparquet, all codecs incl. ZSTD); image bytes are never loaded. */
export async function readParquet(file: string, columns: string[]): Promise<{ records: RawRecord[]; bytesRead: number }> {
  const { parquetMetadataAsync, parquetSchema, parquetReadObjects } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  const fd = fs.openSync(file, 'r');
  let bytesRead = 0;
  try {
    const size = fs.fstatSync(fd).size;
    const buffer = {
      byteLength: size,
      async slice(start: number, end?: number): Promise<ArrayBuffer> {
        const stop = Math.min(end ?? size, size);
        const out = Buffer.alloc(Math.max(0, stop - start));
        let done = 0;
        while (done < out.length) {
          const n = fs.readSync(fd, out, done, out.length - done, start + done);
          if (n === 0) break;
          done += n;
        }
        bytesRead += done;
        return out.buffer.slice(out.byteOffset, out.byteOffset + done) as ArrayBuffer;
      },
    };
    const metadata = await parquetMetadataAsync(buffer, { initialFetchSize: 1 << 16 });
    const have = parquetSchema(metadata).children.map((c) => c.element.name);
    const missing = columns.filter((c) => !have.includes(c));
    if (missing.length) throw new DataError(`${file}: no column ${missing.map((c) => `'${c}'`).join(', ')} (columns: ${have.join(', ')})`);
    const rows = await parquetReadObjects({ file: buffer, metadata, columns, compressors });
    return { records: rows.map((value) => ({ ok: true as const, value })), bytesRead };
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(`${file}: cannot read parquet: ${(err as Error).message}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** 1-based numbers of the lines (split at LF bytes) that are not valid UTF-8; empty for a valid file (one fast check). */
export function invalidUtf8Lines(raw: Buffer): Set<number> {
  const bad = new Set<number>();
  if (isUtf8(raw)) return bad;
  let start = 0;
  for (let line = 1; start <= raw.length; line++) {
    let end = raw.indexOf(0x0a, start);
    if (end < 0) end = raw.length;
    if (!isUtf8(raw.subarray(start, end))) bad.add(line);
    start = end + 1;
  }
  return bad;
}

/** One JSON object per non-blank line; a line that is not a JSON object becomes a bad row. */
function parseJsonl(text: string, badLines: Set<number> = new Set()): RawRecord[] {
  const out: RawRecord[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (badLines.has(i + 1)) return void out.push({ ok: false, reason: `line ${i + 1} is not valid UTF-8` });
    if (!line.trim()) return;
    try {
      const v = JSON.parse(line);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) out.push({ ok: false, reason: `line ${i + 1} is not a JSON object` });
      else out.push({ ok: true, value: v });
    } catch {
      out.push({ ok: false, reason: `line ${i + 1} is not valid JSON` });
    }
  });
  return out;
}

/** A CSV field, quoted when needed (the quoting parseCsv reads back). */
export function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * RFC 4180 csv: `,` between fields, CRLF or LF between records, `"..."` quoting with `""` for a quote, newlines
 * allowed inside quotes. Lenient like Python's csv: a quote inside an unquoted field is kept, text after a closing
 * quote is appended. Blank lines are skipped; a leading BOM is dropped. Returns records with their 1-based line.
 */
export function parseCsv(text: string): { fields: string[]; line: number }[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: { fields: string[]; line: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let quoted = false; // inside a quoted section
  let touched = false; // current record has any content (to skip blank lines)
  const endRecord = () => {
    fields.push(field);
    if (touched || fields.length > 1) records.push({ fields, line: recordLine });
    fields = [];
    field = '';
    touched = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      continue;
    }
    if (ch === '"' && field === '') {
      quoted = true;
      touched = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      touched = true;
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      endRecord();
      line++;
      recordLine = line;
    } else {
      field += ch;
      touched = true;
    }
  }
  if (quoted) throw new DataError(`unterminated quoted field starting in the record on line ${recordLine}`);
  if (touched || fields.length) endRecord();
  return records;
}

function csvRecords(file: string, text: string, columns: string[]): RawRecord[] {
  let records;
  try {
    records = parseCsv(text);
  } catch (err) {
    throw new DataError(`${file}: ${(err as Error).message}`);
  }
  if (!records.length) return [];
  const header = records[0].fields;
  const missing = columns.filter((c) => !header.includes(c));
  if (missing.length) throw new DataError(`${file}: no column ${missing.map((c) => `'${c}'`).join(', ')} in the header (columns: ${header.join(', ')})`);
  return records.slice(1).map(({ fields, line }) => {
    if (fields.length !== header.length) return { ok: false, reason: `line ${line} has ${fields.length} fields, the header has ${header.length}` };
    const value: Record<string, unknown> = {};
    header.forEach((h, i) => (value[h] = fields[i]));
    return { ok: true, value };
  });
}

/** A column that no JSONL row has is a wrong column name, not a file of bad rows: say so and list the columns. */
function checkJsonlColumns(file: string, records: RawRecord[], columns: string[]): RawRecord[] {
  const objects = records.flatMap((r) => (r.ok ? [r.value] : []));
  if (!objects.length) return records;
  const missing = columns.filter((c) => !objects.some((v) => c in v));
  if (!missing.length) return records;
  const have = [...new Set(objects.flatMap((v) => Object.keys(v)))];
  throw new DataError(`${file}: no row has column ${missing.map((c) => `'${c}'`).join(', ')} (columns: ${have.join(', ')})`);
}

/** Checks one record and turns it into a Row, or says why it is bad. */
function checkRecord(rec: RawRecord, row: number, f: SourceEntry, o: ReadOptions): Row | BadRow {
  const bad = (reason: string): BadRow => ({ split: f.split, row, reason, file: f.file });
  if (!rec.ok) return bad(rec.reason);
  const textColumn = o.textColumn ?? 'caption';
  const labelColumn = o.labelColumn ?? 'cui';
  const text = rec.value[textColumn];
  if (text === undefined || text === null) return bad(`missing ${textColumn}`);
  if (typeof text !== 'string') return bad(`${textColumn} is not a string`);
  if (!text.trim()) return bad(`empty ${textColumn}`);
  const labels = f.format === 'csv' ? csvLabels(rec.value[labelColumn], o.csvLabelSeparator ?? ';') : listLabels(rec.value[labelColumn]);
  if (typeof labels === 'string') return bad(`${labelColumn} ${labels}`);
  const out: Row = { text, labels, row };
  if (o.idColumn) {
    const id = rec.value[o.idColumn];
    if (id !== undefined && id !== null) out.id = String(id);
  }
  return out;
}

/** A list-of-strings label cell, or why it is malformed. */
function listLabels(v: unknown): string[] | string {
  if (v === undefined || v === null) return 'is missing';
  if (!Array.isArray(v)) return `is not a list of strings (got ${typeof v === 'string' ? 'a string' : typeof v})`;
  for (let i = 0; i < v.length; i++) {
    if (v[i] === null || v[i] === undefined) return `has a null entry at position ${i}`;
    if (typeof v[i] !== 'string') return `has a non-string entry at position ${i}`;
    if (!v[i].trim()) return `has an empty entry at position ${i}`;
  }
  return v as string[];
}

/** A `;`-separated csv label cell (empty = no labels), or why it is malformed. */
function csvLabels(v: unknown, sep: string): string[] | string {
  if (typeof v !== 'string') return 'is missing';
  const cell = v.trim();
  if (!cell) return [];
  if (cell.startsWith('[')) return `looks like a list literal (${cell.slice(0, 30)}); write labels '${sep}'-separated`;
  return cell
    .split(sep)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
