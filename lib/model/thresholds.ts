/**
 * thresholds.json in a model folder: the decision thresholds tuned on the validation split (train / eval
 * --tune-thresholds), which load(), predict(), serve, `predict` and `eval` use unless a threshold is given.
 * transformers ignores the file (from_pretrained reads config.json and the weights only).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileError } from '../errors';
import { readJsonFile, writeFileAtomic } from '../files';
import type { TunedThresholds, TuneMethod } from '../eval/thresholds';

/** The file's name in a model folder. */
export const THRESHOLDS_FILE = 'thresholds.json';

/** thresholds.json as written (snake_case, as the other files of an HF folder). */
export interface ThresholdsJson {
  /** Identifies the file. */
  format: 'radbert-thresholds';
  /** The format's version. */
  version: 1;
  /** 'global': one threshold for every label; 'per-label': `per_label` for the labels tuned on their own, `global` for the rest. */
  method: TuneMethod;
  /** The global threshold: every label's cut, except those in `per_label`. */
  global: number;
  /** Label → threshold, for the labels tuned on their own (per-label); empty for global. */
  per_label: Record<string, number>;
  /** per-label: labels with fewer validation positives kept the global threshold. */
  min_threshold_support: number;
  /** What it was tuned on. */
  tuned_on: {
    /** The split's name ('validation'). */
    split: string;
    /** Its number of rows. */
    rows: number;
  };
  /** The rule it replaces (p > 0.5). */
  baseline_threshold: number;
  /** Micro-F1 of the tuning split before (at the baseline) and after (at these thresholds); `global` at the global threshold alone. */
  validation_micro_f1: {
    /** At the baseline threshold. */
    before: number;
    /** At these thresholds (in-sample). */
    after: number;
    /** At the global threshold alone. */
    global: number;
  };
  /** Out-of-fold micro-F1 on the tuning split (tuned on the other folds): what each rule is worth on rows it was not tuned on. */
  cross_validated_micro_f1?: {
    /** Number of folds (5). */
    folds: number;
    /** At the baseline threshold. */
    baseline: number;
    /** Tuned globally on the other folds. */
    global: number;
    /** Tuned per label on the other folds. */
    per_label: number;
  };
  /** per-label: coordinate-ascent sweeps until no threshold moved. */
  sweeps?: number;
  /** per-label: whether the sweeps stopped because no threshold moved (rather than at the sweep limit). */
  converged?: boolean;
}

/** The thresholds of a model: the file's content and one threshold per label, in the model's label order. */
export interface ModelThresholds {
  /** The thresholds.json it was read from. */
  file: string;
  /** The file's content. */
  json: ThresholdsJson;
  /** One threshold per label (config.json's id2label order). */
  perLabel: Float64Array;
}

/** The JSON of tuned thresholds (labels in the model's order). */
export function thresholdsJson(t: TunedThresholds, labels: string[], tunedOn: { split: string }): ThresholdsJson {
  if (t.perLabel.length !== labels.length) throw new Error(`thresholdsJson: ${t.perLabel.length} thresholds for ${labels.length} labels`);
  const json: ThresholdsJson = {
    format: 'radbert-thresholds',
    version: 1,
    method: t.method,
    global: t.global,
    per_label: t.method === 'per-label' ? Object.fromEntries(t.tunedLabels.map((c) => [labels[c], t.perLabel[c]])) : {},
    min_threshold_support: t.minSupport,
    tuned_on: { split: tunedOn.split, rows: t.rows },
    baseline_threshold: t.baseline,
    validation_micro_f1: { before: t.f1Baseline, after: t.f1Tuned, global: t.f1Global },
  };
  const cv = t.crossValidated;
  if (cv) json.cross_validated_micro_f1 = { folds: cv.folds, baseline: cv.baseline, global: cv.global, per_label: cv.perLabel };
  if (t.sweeps !== undefined) Object.assign(json, { sweeps: t.sweeps, converged: t.converged });
  return json;
}

/** Write thresholds.json into a model folder (atomically). */
export function writeThresholds(dir: string, json: ThresholdsJson): string {
  const file = path.join(dir, THRESHOLDS_FILE);
  writeFileAtomic(file, JSON.stringify(json, null, 2) + '\n');
  return file;
}

/** Remove a model folder's thresholds.json (new weights make old thresholds wrong). */
export function removeThresholds(dir: string): void {
  fs.rmSync(path.join(dir, THRESHOLDS_FILE), { force: true });
}

const isProbability = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;

/** Read and check a thresholds.json against the model's labels; errors name the file and key. */
export function readThresholds(file: string, labels: string[]): ModelThresholds {
  const j = readJsonFile<Record<string, unknown>>(file);
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new FileError(file, 'must be a JSON object');
  if (j.method !== 'global' && j.method !== 'per-label') throw new FileError(file, `must be "global" or "per-label", got ${JSON.stringify(j.method)}`, 'method');
  if (!isProbability(j.global)) throw new FileError(file, `must be a number in [0, 1], got ${JSON.stringify(j.global)}`, 'global');
  const per = j.per_label ?? {};
  if (typeof per !== 'object' || per === null || Array.isArray(per)) throw new FileError(file, 'must be an object {"label": threshold}', 'per_label');
  const index = new Map(labels.map((l, i) => [l, i]));
  const perLabel = new Float64Array(labels.length).fill(j.global);
  for (const [label, v] of Object.entries(per as Record<string, unknown>)) {
    const i = index.get(label);
    if (i === undefined) throw new FileError(file, `${JSON.stringify(label)} is not a label of this model (config.json's id2label)`, `per_label.${label}`);
    if (!isProbability(v)) throw new FileError(file, `must be a number in [0, 1], got ${JSON.stringify(v)}`, `per_label.${label}`);
    perLabel[i] = v;
  }
  return { file, json: j as unknown as ThresholdsJson, perLabel };
}

/** The thresholds of a model folder, when it has a thresholds.json. */
export function folderThresholds(dir: string, labels: string[]): ModelThresholds | undefined {
  const file = path.join(dir, THRESHOLDS_FILE);
  return fs.existsSync(file) ? readThresholds(file, labels) : undefined;
}

/** "global 0.273" or "per-label (412 labels; 0.273 for the rest)": how a rule is shown in tables and notices. */
export function describeThresholds(json: Pick<ThresholdsJson, 'method' | 'global' | 'per_label'>): string {
  const g = json.global.toFixed(4);
  return json.method === 'global' ? `global ${g}` : `per-label (${Object.keys(json.per_label).length} labels; ${g} for the rest)`;
}
