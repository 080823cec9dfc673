/**
 * `eval --report DIR`: the per-label table of a split (per_label.csv: CUI, name, support, precision, recall, F1 and
 * the threshold each label is cut at) and its precision-recall picture (pr_curve.svg: the micro-averaged curve over
 * every global threshold, with the p > 0.5 and the tuned operating points marked).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { csvField } from '../data/readers';
import { writeFileAtomic } from '../files';
import { prCurveSpec, type OperatingPoint } from '../plot/charts';
import { renderSvg } from '../plot/vega';
import { countLabels, metricsFromCounts, thresholdOf, type Threshold } from './metrics';
import { microSweep, probabilities } from './thresholds';

/** What a report is made of: a split's logits and labels, the label ids and names, and the rules to show. */
export interface ReportInput {
  /** Logits, flat row-major [rows, labels]. */
  logits: ArrayLike<number>;
  /** 0/1 targets, same layout. */
  targets: ArrayLike<number>;
  /** The labels (CUIs) in column order. */
  labels: string[];
  /** CUI → name (label_names.json), for the table's name column. */
  names?: Record<string, string>;
  /** The rule the table's columns are computed at (the tuned thresholds, or an explicit --threshold). */
  threshold: Threshold;
  /** Operating points to mark on the curve besides p > 0.5: e.g. the tuned thresholds, named. */
  points?: Array<{
    /** The point's name in the legend. */
    name: string;
    /** Its threshold rule. */
    threshold: Threshold;
  }>;
  /** The split's name, for the title. */
  split: string;
}

/** The CSV text of the per-label table, most frequent labels first. */
export function perLabelCsv(input: ReportInput): string {
  const k = input.labels.length;
  const c = countLabels(input.logits, input.targets, input.threshold, k);
  const thr = thresholdOf(input.threshold, k);
  const rows = input.labels.map((label, j) => {
    const precision = c.pred[j] ? c.tp[j] / c.pred[j] : 0;
    const recall = c.true[j] ? c.tp[j] / c.true[j] : 0;
    const f1 = c.true[j] + c.pred[j] ? (2 * c.tp[j]) / (c.true[j] + c.pred[j]) : 0;
    return { label, name: input.names?.[label] ?? '', support: c.true[j], predicted: c.pred[j], precision, recall, f1, threshold: thr(j) };
  });
  rows.sort((a, b) => b.support - a.support || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  const f = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(6));
  const header = 'cui,name,support,predicted,precision,recall,f1,threshold\n';
  return header + rows.map((r) => [r.label, r.name, f(r.support), f(r.predicted), f(r.precision), f(r.recall), f(r.f1), f(r.threshold)].map(csvField).join(',')).join('\n') + '\n';
}

/** The micro-averaged precision-recall curve of a split, thinned to steps of about 1/500 in precision or recall. */
export function prCurve(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
): Array<{
  /** Micro-averaged precision at the threshold. */
  precision: number;
  /** Micro-averaged recall at the threshold. */
  recall: number;
  /** The global threshold. */
  threshold: number;
}> {
  const { positives, points } = microSweep(probabilities(logits), targets);
  const out: Array<{ precision: number; recall: number; threshold: number }> = [];
  if (!positives) return out;
  let last: { precision: number; recall: number } | undefined;
  points.forEach((pt, i) => {
    if (!pt.predicted) return;
    const q = { precision: pt.tp / pt.predicted, recall: pt.tp / positives, threshold: pt.threshold };
    const isLast = i === points.length - 1;
    if (!last || isLast || Math.abs(q.precision - last.precision) >= 0.002 || Math.abs(q.recall - last.recall) >= 0.002) {
      out.push(q);
      last = q;
    }
  });
  return out;
}

/** The micro precision, recall and F1 of a rule on the split. */
function operatingPoint(input: ReportInput, name: string, threshold: Threshold): OperatingPoint & { f1: number } {
  const m = metricsFromCounts(countLabels(input.logits, input.targets, threshold, input.labels.length));
  return { name: `${name}: P ${m.precision_micro.toFixed(3)}, R ${m.recall_micro.toFixed(3)}, F1 ${m.f1.toFixed(3)}`, precision: m.precision_micro, recall: m.recall_micro, f1: m.f1 };
}

/** Write per_label.csv and pr_curve.svg into `dir` (created); returns the files written. */
export async function writeEvalReport(dir: string, input: ReportInput): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const csv = path.join(dir, 'per_label.csv');
  writeFileAtomic(csv, perLabelCsv(input));
  const points = [operatingPoint(input, 'p > 0.5', 0.5), ...(input.points ?? []).map((p) => operatingPoint(input, p.name, p.threshold))];
  const svg = path.join(dir, 'pr_curve.svg');
  const curve = prCurve(input.logits, input.targets).map(({ precision, recall }) => ({ precision, recall }));
  writeFileAtomic(svg, await renderSvg(prCurveSpec(curve, points, `Precision-recall, ${input.split} split (${input.targets.length / Math.max(1, input.labels.length)} rows, micro-averaged)`)));
  return [csv, svg];
}
