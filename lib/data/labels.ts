/** Labels: sorted like Python, binarized like sklearn's MultiLabelBinarizer (fit on the train split). */
import { DataError, type Row } from './readers';

/** Compares strings by Unicode code point, as Python's `sorted` does (JS's default compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // surrogates (D800-DFFF) encode code points above FFFF: move them above E000-FFFF
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/** A multi-hot matrix: `data` is row-major [rows, numLabels]. */
export interface LabelMatrix {
  /** The multi-hot matrix, [rows, numLabels] row-major, 0 or 1. */
  data: Float32Array;
  /** Number of rows. */
  rows: number;
  /** Number of labels (columns). */
  numLabels: number;
  /** label occurrences not in the classes (seen only outside training, or dropped as rare): ignored */
  ignored: number;
  /** the distinct ignored labels, sorted */
  ignoredLabels: string[];
}

/** sklearn's MultiLabelBinarizer fitted on training rows: classes sorted in code-point order. */
export class LabelBinarizer {
  /** The labels, in column order. */
  readonly classes: readonly string[];
  private readonly index: Map<string, number>;

  /** Uses these classes in this order (e.g. a model's id2label). */
  constructor(
    classes: readonly string[],
    /** Labels left out as rare (fit's minLabelCount). */
    readonly dropped: readonly string[] = [],
  ) {
    this.classes = [...classes];
    this.index = new Map(this.classes.map((c, i) => [c, i]));
    if (this.index.size !== this.classes.length) throw new DataError('LabelBinarizer: duplicate class names');
  }

  /** Fits the sorted set of labels of `rows`, dropping labels found in fewer than minLabelCount rows. */
  static fit(rows: readonly Pick<Row, 'labels'>[], options: { minLabelCount?: number } = {}): LabelBinarizer {
    const { minLabelCount = 1 } = options;
    const counts = new Map<string, number>();
    for (const r of rows) for (const l of new Set(r.labels)) counts.set(l, (counts.get(l) ?? 0) + 1);
    const all = [...counts.keys()].sort(compareCodePoints);
    return new LabelBinarizer(
      all.filter((l) => counts.get(l)! >= minLabelCount),
      all.filter((l) => counts.get(l)! < minLabelCount),
    );
  }

  /** Number of classes (columns). */
  get numLabels(): number {
    return this.classes.length;
  }

  /** Multi-hot rows [n, numLabels]; labels outside the classes are counted and ignored (like sklearn's transform). */
  transform(rows: readonly Pick<Row, 'labels'>[]): LabelMatrix {
    const k = this.classes.length;
    const data = new Float32Array(rows.length * k);
    let ignored = 0;
    const unknown = new Set<string>();
    rows.forEach((r, i) => {
      for (const l of r.labels) {
        const j = this.index.get(l);
        if (j === undefined) {
          ignored++;
          unknown.add(l);
        } else data[i * k + j] = 1;
      }
    });
    return { data, rows: rows.length, numLabels: k, ignored, ignoredLabels: [...unknown].sort(compareCodePoints) };
  }
}

/** LabelBinarizer.fit on the training rows (sorted CUIs, rare ones dropped by minLabelCount). */
export function fitLabels(trainRows: readonly Pick<Row, 'labels'>[], options: { minLabelCount?: number } = {}): LabelBinarizer {
  return LabelBinarizer.fit(trainRows, options);
}
