/**
 * Threshold tuning inside a classification run (--tune-thresholds): every validation evaluation adds micro-F1 at the
 * thresholds tuned on it (`f1_tuned`, in-sample) and the global threshold (`threshold_tuned`); after training, the best
 * model's thresholds are tuned once more on the validation split (with the cross-validated estimate), reported on the
 * test split beside p > threshold (`<metric>_tuned`), and saved as thresholds.json with the model.
 */
import { computeMetrics } from '../eval/metrics';
import { tuneThresholds, type TunedThresholds, type TuneMethod } from '../eval/thresholds';
import { describeThresholds, removeThresholds, thresholdsJson, writeThresholds, type ThresholdsJson } from '../model/thresholds';
import { CLASSIFICATION_METRICS, tunedRow } from './report';

/** The tuning of one run: its method, and the thresholds of the best model once finalize() has run. */
export class RunTuning {
  private final: { tuned: TunedThresholds; json: ThresholdsJson } | undefined;

  constructor(
    private readonly method: TuneMethod,
    private readonly options: { minSupport: number; baseline: number; labels: string[] },
  ) {}

  /** An evaluation's extra metrics: micro-F1 at thresholds tuned on the same rows, and the global threshold. */
  epochMetrics(logits: Float32Array, targets: Float32Array): Record<string, number> {
    const t = tuneThresholds(logits, targets, this.options.labels.length, { method: this.method, minSupport: this.options.minSupport, baseline: this.options.baseline, folds: 0 });
    return { f1_tuned: t.f1Tuned, threshold_tuned: t.global };
  }

  /** Tune the best model's thresholds on the validation split; returns the notice to print. */
  finalize(logits: Float32Array, targets: Float32Array): string[] {
    const tuned = tuneThresholds(logits, targets, this.options.labels.length, { method: this.method, minSupport: this.options.minSupport, baseline: this.options.baseline });
    const json = thresholdsJson(tuned, this.options.labels, { split: 'validation' });
    this.final = { tuned, json };
    const f = (x: number) => x.toFixed(4);
    const lines = [
      `thresholds tuned on the validation split (${tuned.rows} rows): ${describeThresholds(json)}; ` +
        `validation micro-F1 ${f(tuned.f1Baseline)} at p > ${tuned.baseline} -> ${f(tuned.f1Tuned)} (in-sample)`,
    ];
    const cv = tuned.crossValidated;
    if (cv)
      lines.push(
        `  cross-validated on the validation split (${cv.folds} folds, each tuned on the others): p > ${tuned.baseline} ${f(cv.baseline)}, global ${f(cv.global)}, per-label ${f(cv.perLabel)}`,
      );
    if (tuned.tunedLabels.length === 0 && this.method === 'per-label')
      lines.push(`  no label has ${this.options.minSupport} positives in the validation split (--min-threshold-support): every label keeps the global threshold`);
    return lines;
  }

  /** The split's metrics at the final thresholds, as `<metric>_tuned` (nothing before finalize()). */
  tunedMetrics(logits: Float32Array, targets: Float32Array): Record<string, number> {
    if (!this.final) return {};
    const m = computeMetrics(logits, targets, this.final.tuned.perLabel, this.options.labels.length);
    const out: Record<string, number> = Object.fromEntries(CLASSIFICATION_METRICS.map((c) => [`${c.key}_tuned`, m[c.key]]));
    out.threshold_tuned = this.final.tuned.global;
    return out;
  }

  /** The split table's rows: p > threshold and, once tuned, the tuned rule. */
  splitRows(split: string, loss: number, metrics: Record<string, number>): Array<{ split: string; loss: number; metrics: Record<string, number> }> {
    const rows = [{ split: `${split}, p > ${this.options.baseline}`, loss, metrics }];
    if (this.final) rows.push({ split: `${split}, tuned ${describeThresholds(this.final.json)}`, loss, metrics: tunedRow(metrics) });
    return rows;
  }

  /** Write thresholds.json into a model folder once tuned; before that, remove one an earlier run left there. */
  save(dir: string): void {
    if (this.final) writeThresholds(dir, this.final.json);
    else removeThresholds(dir);
  }
}
