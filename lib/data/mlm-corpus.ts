/**
 * Text corpora for MLM training: one text column of a dataset folder or file (parquet / jsonl / csv, no label column
 * needed), a `.txt` file (one text per line), and the series corpus of issue 14 (roco-radiology train captions minus the
 * captions that the seed split puts in roco-radiology-mini's validation split, matched on image_id).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, listSourceFiles, readRecords, readRows, refuseRows } from './readers';
import { seedSplit, type SplitOptions } from './split';

/** One MLM text, with where it came from (for error messages and for matching). */
export interface TextRow {
  /** The text. */
  text: string;
  /** split it was read from ('train' for a single file or a .txt) */
  split: string;
  /** 0-based row index in its split (for .txt: the 0-based line index) */
  row: number;
  /** value of options.idColumn, when asked for */
  id?: string;
}

/** Options of readTexts. */
export interface TextOptions {
  /** column holding the text (default 'caption'); ignored for .txt */
  textColumn?: string;
  /** splits of a dataset folder to read (default ['train']) */
  splits?: string[];
  /** optional column copied into TextRow.id (e.g. 'image_id') */
  idColumn?: string;
  /** drop rows with a missing / non-string / blank text and report them instead of throwing (default false) */
  skipBadRows?: boolean;
}

/** What readTexts returns: the texts, and the rows that were dropped (with skipBadRows) as `file: train row 3: ...`. */
export interface TextResult {
  /** The texts read. */
  rows: TextRow[];
  /** The rows dropped (skipBadRows), each as `file: train row 3: reason`. */
  skipped: string[];
}

/** Reads a `.txt` corpus: one text per line (LF or CRLF), blank lines skipped, invalid UTF-8 reported by line number. */
export function readTextFile(file: string): TextRow[] {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    throw new DataError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const rows: TextRow[] = [];
  const bad: string[] = [];
  let start = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0; // BOM
  for (let line = 0; start <= raw.length; line++) {
    let end = raw.indexOf(0x0a, start);
    if (end < 0) end = raw.length;
    const stop = end > start && raw[end - 1] === 0x0d ? end - 1 : end;
    let text: string | undefined;
    try {
      text = decoder.decode(raw.subarray(start, stop));
    } catch {
      bad.push(`line ${line + 1}: invalid UTF-8`);
    }
    if (text !== undefined && text.trim()) rows.push({ text, split: 'train', row: line });
    start = end + 1;
  }
  if (bad.length) refuseRows(file, bad, ' (the file must be UTF-8)');
  if (!rows.length) throw new DataError(`${file}: no text (every line is blank)`);
  return rows;
}

/** Reads MLM texts from a `.txt` file, a dataset file (= split 'train') or a dataset folder (the chosen splits). */
export async function readTexts(source: string, options: TextOptions = {}): Promise<TextResult> {
  if (path.extname(source).toLowerCase() === '.txt') return { rows: readTextFile(source), skipped: [] };
  const { textColumn = 'caption', idColumn, skipBadRows = false } = options;
  const wanted = options.splits ?? ['train'];
  const files = listSourceFiles(source);
  const have = [...new Set(files.map((f) => f.split))];
  const absent = wanted.filter((s) => !have.includes(s));
  if (absent.length) throw new DataError(`${source}: no split ${absent.map((s) => `'${s}'`).join(', ')} (have: ${have.join(', ')})`);
  const rows: TextRow[] = [];
  const bad: string[] = [];
  const next: Record<string, number> = {};
  for (const f of files.filter((e) => wanted.includes(e.split))) {
    const { records } = await readRecords(f.file, f.format, [textColumn, ...(idColumn ? [idColumn] : [])], [textColumn]);
    for (const r of records) {
      const row = (next[f.split] = (next[f.split] ?? -1) + 1);
      const where = `${f.split} row ${row}`;
      const rec = r.ok ? r.value : {};
      if (!r.ok) bad.push(`${where}: ${r.reason}`);
      else if (rec[textColumn] === undefined || rec[textColumn] === null) bad.push(`${where}: missing ${textColumn}`);
      else if (typeof rec[textColumn] !== 'string') bad.push(`${where}: ${textColumn} is not a string`);
      else if (!(rec[textColumn] as string).trim()) bad.push(`${where}: empty ${textColumn}`);
      else {
        const out: TextRow = { text: rec[textColumn] as string, split: f.split, row };
        const id = idColumn ? rec[idColumn] : undefined;
        if (id !== undefined && id !== null) out.id = String(id);
        rows.push(out);
      }
    }
  }
  if (bad.length && !skipBadRows) refuseRows(source, bad, ' (pass skipBadRows to drop them)');
  if (!rows.length) throw new DataError(`${source}: no texts in ${wanted.join(', ')}`);
  return { rows, skipped: bad };
}

/** The series corpus and what was held out of it. */
export interface SeriesCorpus {
  /** MLM texts: the big train split's captions in file order, without the held-out ones */
  rows: TextRow[];
  /** image_ids removed because the seed split puts them in the small dataset's validation split */
  removedIds: string[];
  /** validation image_ids of the small dataset that are not in the big train split (nothing to remove) */
  validationNotFound: string[];
  /** of the removed rows, how many have a caption different from the small dataset's (0 expected) */
  removedCaptionMismatches: number;
  /** small-dataset test image_ids present in the big train split (none expected) */
  testIdsInCorpus: string[];
  /** corpus rows whose caption text equals a validation / test caption of the small dataset under another image_id */
  textDuplicates: {
    /** Rows equal to a validation caption. */
    validation: number;
    /** Rows equal to a test caption. */
    test: number;
  };
}

/** Options of seriesCorpus. */
export interface SeriesOptions extends SplitOptions {
  /** column of the image ids both datasets share (default 'image_id') */
  idColumn?: string;
  /** column of the captions (default 'caption') */
  textColumn?: string;
}

/**
 * The radiology series' MLM corpus: `big` (roco-radiology) train captions minus the rows whose id is in `small`'s
 * (roco-radiology-mini) validation split under the seed split (seedSplit: shuffle(seed=42), 15 %), with overlap facts.
 */
export async function seriesCorpus(big: string, small: string, options: SeriesOptions = {}): Promise<SeriesCorpus> {
  const { idColumn = 'image_id', textColumn = 'caption', ...split } = options;
  const { validation, test } = seedSplit((await readRows(small, { idColumn, textColumn })).splits, split);
  const corpus = (await readTexts(big, { textColumn, idColumn, splits: ['train'] })).rows;
  const missingId = corpus.find((r) => r.id === undefined);
  if (missingId) throw new DataError(`${big}: train row ${missingId.row} has no ${idColumn}`);
  const held = new Map(validation.map((r) => [r.id!, r.text]));
  const testIds = new Set(test.map((r) => r.id!));
  const rows: TextRow[] = [];
  const removedIds: string[] = [];
  let removedCaptionMismatches = 0;
  for (const r of corpus) {
    const caption = held.get(r.id!);
    if (caption === undefined) rows.push(r);
    else {
      removedIds.push(r.id!);
      if (caption !== r.text) removedCaptionMismatches++;
    }
  }
  const found = new Set(removedIds);
  const valTexts = new Set(validation.map((r) => r.text));
  const testTexts = new Set(test.map((r) => r.text));
  return {
    rows,
    removedIds,
    validationNotFound: validation.map((r) => r.id!).filter((id) => !found.has(id)),
    removedCaptionMismatches,
    testIdsInCorpus: rows.filter((r) => testIds.has(r.id!)).map((r) => r.id!),
    textDuplicates: { validation: rows.filter((r) => valTexts.has(r.text)).length, test: rows.filter((r) => testTexts.has(r.text)).length },
  };
}
