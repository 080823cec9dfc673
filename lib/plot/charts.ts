/**
 * The pictures of a run, as Vega-Lite specs (rendered by plot/vega.ts): the training curves of `train` and `mlm`
 * (loss panel + metric panel, per epoch or eval step, from trainer_state.json's log_history) and the micro-averaged
 * precision-recall curve of `eval --report` with its operating points.
 */
import type { LogEntry } from '../train/options';
import type { VegaLiteSpec } from './vega';

/** One line of a panel: its legend name and its (x, y) points. */
export interface Series {
  name: string;
  points: Array<{ x: number; y: number }>;
}

/** A panel of line charts sharing an x axis. */
export interface Panel {
  title: string;
  xTitle: string;
  yTitle: string;
  series: Series[];
  /** y axis domain (default: from the data, not forced through zero). */
  yDomain?: [number, number];
}

const FONT = 'Helvetica, Arial, sans-serif';
const CONFIG = {
  background: 'white',
  font: FONT,
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { orient: 'bottom', direction: 'vertical', labelFontSize: 11, labelLimit: 320, symbolType: 'stroke' },
  title: { fontSize: 13, anchor: 'start' },
};

/** A Vega-Lite layer chart of one panel's lines (points marked). */
function panelSpec(p: Panel): VegaLiteSpec {
  const values = p.series.flatMap((s) => s.points.filter((pt) => Number.isFinite(pt.y)).map((pt) => ({ x: pt.x, y: pt.y, series: s.name })));
  return {
    title: p.title,
    width: 330,
    height: 220,
    data: { values },
    mark: { type: 'line', point: { size: 18 }, strokeWidth: 1.6 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: p.xTitle },
      y: { field: 'y', type: 'quantitative', title: p.yTitle, scale: p.yDomain ? { domain: p.yDomain } : { zero: false } },
      color: { field: 'series', type: 'nominal', sort: p.series.map((s) => s.name), legend: { title: null, labelLimit: 400 } },
    },
  };
}

/** Panels side by side, each with its own legend. */
export function panelsSpec(title: string, panels: Panel[]): VegaLiteSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, fontSize: 14 },
    config: CONFIG,
    hconcat: panels.map(panelSpec),
    resolve: { scale: { color: 'independent' } },
  };
}

/** The points of a log_history key against the entries' epoch. */
function pointsOf(history: LogEntry[], key: string): Array<{ x: number; y: number }> {
  return history.filter((e) => typeof e[key] === 'number' && typeof e.epoch === 'number').map((e) => ({ x: e.epoch as number, y: e[key] as number }));
}

/** The series of these keys that have points (named by the second element). */
function seriesOf(history: LogEntry[], keys: Array<[string, string]>): Series[] {
  return keys.map(([key, name]) => ({ name, points: pointsOf(history, key) })).filter((s) => s.points.length > 0);
}

/**
 * The training curves of a run from its log_history: training and validation loss, and the validation metrics per
 * evaluation (classification: micro-F1 and macro-F1 at the metrics' threshold, and micro-F1 at the thresholds tuned
 * on validation when the run tunes them; masked LM: perplexity).
 */
export function trainingCurvesSpec(history: LogEntry[], kind: 'classification' | 'mlm', title = 'Training curves', lossName?: string): VegaLiteSpec {
  const loss: Panel = {
    title: 'Loss',
    xTitle: 'Epoch',
    yTitle: `Loss (${lossName ?? (kind === 'mlm' ? 'masked-token cross-entropy' : 'BCE with logits')})`,
    series: seriesOf(history, [['loss', 'training loss'], ['eval_loss', 'validation loss']]),
  };
  const metric: Panel =
    kind === 'mlm'
      ? { title: 'Validation perplexity', xTitle: 'Epoch', yTitle: 'Perplexity', series: seriesOf(history, [['eval_perplexity', 'validation perplexity']]) }
      : {
          title: 'Validation F1',
          xTitle: 'Epoch',
          yTitle: 'F1',
          yDomain: [0, 1],
          series: seriesOf(history, [
            ['eval_f1', 'micro-F1'],
            ['eval_f1_macro', 'macro-F1'],
            ['eval_f1_tuned', 'micro-F1, tuned thresholds'],
          ]),
        };
  return panelsSpec(title, [loss, metric]);
}

/** A marked point of a precision-recall chart (an operating point). */
export interface OperatingPoint {
  /** Its name in the legend ('p > 0.5'). */
  name: string;
  /** Its precision. */
  precision: number;
  /** Its recall. */
  recall: number;
}

/**
 * Precision against recall (the micro-averaged curve of every global threshold), the operating points marked and
 * named, and iso-F1 lines for reference.
 */
export function prCurveSpec(curve: Array<{ precision: number; recall: number }>, points: OperatingPoint[], title: string): VegaLiteSpec {
  const iso = [0.2, 0.4, 0.6, 0.8].flatMap((f) => {
    const out: Array<{ recall: number; precision: number; f: string }> = [];
    for (let i = 0; i <= 60; i++) {
      const r = f / (2 - f) + ((1 - f / (2 - f)) * i) / 60;
      const p = (f * r) / (2 * r - f);
      if (p <= 1.0001) out.push({ recall: r, precision: Math.min(p, 1), f: `F1 = ${f}` });
    }
    return out;
  });
  const axes = {
    x: { field: 'recall', type: 'quantitative', title: 'Recall', scale: { domain: [0, 1] } },
    y: { field: 'precision', type: 'quantitative', title: 'Precision', scale: { domain: [0, 1] } },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, fontSize: 14 },
    config: CONFIG,
    width: 420,
    height: 360,
    layer: [
      { data: { values: iso }, mark: { type: 'line', strokeDash: [3, 3], color: '#bbb', strokeWidth: 1 }, encoding: { ...axes, detail: { field: 'f' } } },
      {
        data: { values: iso.filter((_, i, a) => i === a.length - 1 || a[i + 1].f !== a[i].f) },
        mark: { type: 'text', align: 'right', dx: -4, dy: -6, color: '#999', fontSize: 10 },
        encoding: { ...axes, text: { field: 'f' } },
      },
      {
        data: { values: curve.map((c) => ({ ...c, series: 'micro-averaged curve (every global threshold)' })) },
        mark: { type: 'line', strokeWidth: 2 },
        encoding: { ...axes, color: { field: 'series', type: 'nominal', scale: { range: ['#4c78a8'] }, legend: { title: null, labelLimit: 400 } } },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 120, stroke: 'black', strokeWidth: 1, opacity: 1 },
        encoding: {
          ...axes,
          shape: { field: 'name', type: 'nominal', sort: points.map((p) => p.name), legend: { title: 'operating points', symbolType: 'circle', labelLimit: 0 } },
          fill: { field: 'name', type: 'nominal', sort: points.map((p) => p.name), scale: { range: ['#e45756', '#54a24b', '#f58518'] }, legend: { title: 'operating points', labelLimit: 0 } },
        },
      },
    ],
    resolve: { scale: { color: 'independent', shape: 'independent', fill: 'independent' } },
  };
}
