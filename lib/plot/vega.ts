/**
 * Vega-Lite specs rendered to SVG in Node, without a browser: vega-lite compiles a spec to Vega, vega's headless
 * View renders it (`renderer: 'none'`, `toSVG()`). Both are ESM-only packages, so the rendering runs in a worker
 * thread that import()s them: the caller stays CommonJS (and jest-compatible), and the event loop keeps running
 * while a chart is laid out.
 */
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** A Vega-Lite spec (https://vega.github.io/vega-lite/docs/spec.html), as plain JSON. */
export type VegaLiteSpec = Record<string, unknown>;

/** The worker: import vega and vega-lite, compile and render each spec, post the SVG texts back. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const vega = await import(workerData.vega);
  const vl = await import(workerData.vegaLite);
  const svgs = [];
  for (const spec of workerData.specs) {
    const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
    svgs.push(await view.toSVG());
    view.finalize();
  }
  parentPort.postMessage({ svgs });
})().catch((err) => parentPort.postMessage({ error: String((err && err.stack) || err) }));
`;

/** Where vega and vega-lite are installed (file URLs the worker imports). */
function moduleUrls(): { vega: string; vegaLite: string } {
  return { vega: pathToFileURL(require.resolve('vega')).href, vegaLite: pathToFileURL(require.resolve('vega-lite')).href };
}

/** Render Vega-Lite specs to SVG texts (one per spec), in a worker thread; rejects after `timeoutMs` (default 120 s). */
export function renderSvgs(specs: VegaLiteSpec[], options: { timeoutMs?: number } = {}): Promise<string[]> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { specs, ...moduleUrls() } });
    const finish = (err: Error | null, svgs?: string[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (err) reject(err);
      else resolve(svgs!);
    };
    const timer = setTimeout(() => finish(new Error(`rendering a chart took more than ${timeoutMs / 1000} s`)), timeoutMs);
    worker.on('message', (m: { svgs?: string[]; error?: string }) => finish(m.error ? new Error(`vega: ${m.error}`) : null, m.svgs));
    worker.on('error', (err) => finish(err));
    worker.on('exit', (code) => finish(new Error(`the chart worker exited (code ${code}) before answering`)));
  });
}

/** Render one Vega-Lite spec to an SVG text. */
export async function renderSvg(spec: VegaLiteSpec, options: { timeoutMs?: number } = {}): Promise<string> {
  return (await renderSvgs([spec], options))[0];
}
