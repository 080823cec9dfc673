/** The per-epoch table printed during training (the HF notebook table of the seed) and the test / eval tables. */
import type { Metrics } from '../eval/metrics';
import type { MetricColumn } from './task';

/** The classification metrics in table order, with their column titles. */
export const CLASSIFICATION_METRICS: ReadonlyArray<MetricColumn<keyof Metrics>> = [
  { key: 'precision_micro', title: 'Precision Micro' },
  { key: 'recall_micro', title: 'Recall Micro' },
  { key: 'f1', title: 'F1' },
  { key: 'precision_macro', title: 'Precision Macro' },
  { key: 'recall_macro', title: 'Recall Macro' },
  { key: 'f1_macro', title: 'F1 Macro' },
  { key: 'exact_match', title: 'Exact Match' },
  { key: 'hamming_loss', title: 'Hamming Loss' },
  { key: 'label_accuracy', title: 'Label Accuracy' },
];

/** Column titles of the per-epoch table of a task with these metrics. */
export function epochColumns(metrics: ReadonlyArray<MetricColumn> = CLASSIFICATION_METRICS): string[] {
  return ['Training Loss', 'Epoch', 'Step', 'Validation Loss', ...metrics.map((m) => m.title)];
}

/** Column titles of the per-epoch table of classification (HF notebook table of the seed). */
export const TABLE_COLUMNS = epochColumns();

function colWidth(title: string): number {
  return Math.max(title.length, 8);
}

/** The table header line (and its rule). */
export function tableHeader(columns: readonly string[] = TABLE_COLUMNS): string {
  return `| ${columns.map((c) => c.padEnd(colWidth(c))).join(' | ')} |\n|${columns.map((c) => '-'.repeat(colWidth(c) + 2)).join('|')}|`;
}

/** One table row, each cell padded to its column title. */
export function tableRow(cells: Array<string | number>, columns: readonly string[] = TABLE_COLUMNS): string {
  return `| ${cells.map((c, i) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(6)) : c).padEnd(colWidth(columns[i] ?? ''))).join(' | ')} |`;
}

/** The metric cells of a row, in the columns' order. */
function metricCells(metrics: Readonly<Record<string, number>>, columns: ReadonlyArray<MetricColumn>): number[] {
  return columns.map((c) => metrics[c.key]);
}

/** The epoch table row of an evaluation: training loss (or "No log"), epoch, step, loss and the task's metrics. */
export function metricsRow(
  trainingLoss: number | undefined,
  epoch: number,
  step: number,
  loss: number,
  m: Readonly<Record<string, number>>,
  metrics: ReadonlyArray<MetricColumn> = CLASSIFICATION_METRICS,
): string {
  const ep = Number.isInteger(epoch) ? String(epoch) : String(Number(epoch.toFixed(4)));
  return tableRow([trainingLoss === undefined ? 'No log' : trainingLoss, ep, step, loss, ...metricCells(m, metrics)], epochColumns(metrics));
}

/** One row of a split table: its name (the split, and the rule when there are several), loss and metrics. */
export interface SplitRow {
  split: string;
  loss: number;
  metrics: Readonly<Record<string, number>>;
}

/** The table of a split's evaluation (test at the end of training, and the eval command): header, rule, one row per decision rule. */
export function splitRowsTable(rows: SplitRow[], metrics: ReadonlyArray<MetricColumn> = CLASSIFICATION_METRICS): string[] {
  const cols = ['Split', 'Loss', ...metrics.map((c) => c.title)];
  return [tableHeader(cols), ...rows.map((r) => tableRow([r.split, r.loss, ...metricCells(r.metrics, metrics)], cols))];
}

/** The one-row table of a split's evaluation: header, rule, row. */
export function splitTable(split: string, loss: number, m: Readonly<Record<string, number>>, metrics: ReadonlyArray<MetricColumn> = CLASSIFICATION_METRICS): string[] {
  return splitRowsTable([{ split, loss, metrics: m }], metrics);
}

/** The epoch-table columns a run that tunes thresholds adds: micro-F1 at the thresholds tuned on that evaluation, and the global threshold. */
export const TUNED_METRICS: ReadonlyArray<MetricColumn> = [
  { key: 'f1_tuned', title: 'F1 Tuned' },
  { key: 'threshold_tuned', title: 'Tuned Threshold', notAScore: true },
];

/** The metrics of a rule's row: the `<metric>_tuned` keys of an evaluation under their plain names. */
export function tunedRow(m: Readonly<Record<string, number>>, metrics: ReadonlyArray<MetricColumn> = CLASSIFICATION_METRICS): Record<string, number> {
  return Object.fromEntries(metrics.filter((c) => typeof m[`${c.key}_tuned`] === 'number').map((c) => [c.key, m[`${c.key}_tuned`]]));
}
