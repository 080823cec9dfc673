/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), written from the format's spec, to check
 * what GET /metrics serves: HELP/TYPE lines, sample lines with escaped label values, histogram invariants
 * (cumulative buckets ending in le="+Inf" equal to _count, a _sum). Throws naming the line on any violation.
 */

/** One sample: metric name, labels, value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One metric family: its type, help and samples. */
export interface Family {
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(s: string, line: number): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`line ${line}: bad value ${JSON.stringify(s)}`);
  return Number(s);
}

function parseLabels(s: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    if (eq < 0) throw new Error(`line ${line}: label without '='`);
    const name = s.slice(i, eq).trim();
    if (!LABEL.test(name)) throw new Error(`line ${line}: bad label name ${JSON.stringify(name)}`);
    if (s[eq + 1] !== '"') throw new Error(`line ${line}: label value of ${name} is not quoted`);
    let j = eq + 2;
    let value = '';
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        const c = s[++j];
        if (c === 'n') value += '\n';
        else if (c === '\\' || c === '"') value += c;
        else throw new Error(`line ${line}: bad escape \\${c}`);
      } else value += s[j];
    }
    if (j >= s.length) throw new Error(`line ${line}: unterminated label value`);
    if (name in labels) throw new Error(`line ${line}: label ${name} twice`);
    labels[name] = value;
    i = j + 1;
    if (s[i] === ',') i++;
    else if (i < s.length) throw new Error(`line ${line}: expected ',' between labels`);
  }
  return labels;
}

/** The family a sample name belongs to (histogram/summary suffixes stripped when the base family is declared). */
function familyOf(name: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const f = families.get(base);
      if (f && (f.type === 'histogram' || f.type === 'summary')) return base;
    }
  }
  return name;
}

/** Parse exposition text into families; throws on any format violation. */
export function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('the text must end with a newline');
  lines.forEach((raw, idx) => {
    const n = idx + 1;
    const line = raw.trim();
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(line);
      if (!m) return; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name)) throw new Error(`line ${n}: bad metric name ${name}`);
      const f = families.get(name) ?? { type: 'untyped' as const, samples: [] };
      if (kind === 'TYPE') {
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) throw new Error(`line ${n}: bad type ${rest}`);
        if (f.samples.length) throw new Error(`line ${n}: TYPE of ${name} after its samples`);
        f.type = rest as Family['type'];
      } else f.help = rest;
      families.set(name, f);
      return;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+(-?\d+))?$/.exec(line);
    if (!m) throw new Error(`line ${n}: not a sample: ${JSON.stringify(raw)}`);
    const [, name, labelText, value] = m;
    const fam = familyOf(name, families);
    const f = families.get(fam) ?? { type: 'untyped' as const, samples: [] };
    f.samples.push({ name, labels: labelText ? parseLabels(labelText, n) : {}, value: parseValue(value, n) });
    families.set(fam, f);
  });
  for (const [name, f] of families) {
    if (f.type === 'counter' && f.samples.some((s) => s.value < 0)) throw new Error(`${name}: negative counter`);
    if (f.type !== 'histogram') continue;
    // group by labels other than le
    const groups = new Map<string, Sample[]>();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      if (s.name === `${name}_bucket` && le === undefined) throw new Error(`${name}: a bucket without le`);
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    for (const [key, samples] of groups) {
      const buckets = samples.filter((s) => s.name === `${name}_bucket`);
      const count = samples.find((s) => s.name === `${name}_count`);
      const sum = samples.find((s) => s.name === `${name}_sum`);
      if (!count || !sum) throw new Error(`${name}${key}: missing _count or _sum`);
      const les = buckets.map((b) => parseValue(b.labels.le, 0));
      for (let i = 1; i < buckets.length; i++) {
        if (!(les[i] > les[i - 1])) throw new Error(`${name}${key}: buckets not in increasing le order`);
        if (buckets[i].value < buckets[i - 1].value) throw new Error(`${name}${key}: buckets not cumulative`);
      }
      if (les[les.length - 1] !== Infinity) throw new Error(`${name}${key}: no le="+Inf" bucket`);
      if (buckets[buckets.length - 1].value !== count.value) throw new Error(`${name}${key}: +Inf bucket ${buckets[buckets.length - 1].value} != _count ${count.value}`);
    }
  }
  return families;
}

/** Sum of a family's samples named `name` whose labels include `match`. */
export function sampleValue(families: Map<string, Family>, family: string, name: string, match: Record<string, string> = {}): number {
  const f = families.get(family);
  if (!f) throw new Error(`no metric family ${family}`);
  return f.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}
