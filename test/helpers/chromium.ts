/**
 * Test helper: look at an SVG the way a person does, in headless Chromium (Debian's package `chromium`; .ci/run
 * installs it). The SVG is put inline in a page whose script measures every <text> element as laid out (size, inside
 * the picture or not) and draws the SVG onto a canvas to count its painted pixels; --dump-dom returns the page with
 * those measurements.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What Chromium saw of an SVG. */
export interface SvgLook {
  width: number;
  height: number;
  /** Every <text> element: its text, laid-out size and whether it lies inside the picture. */
  texts: Array<{ text: string; width: number; height: number; inside: boolean }>;
  /** Pixels of the rasterised picture that are not (near) white, and all pixels. */
  painted: number;
  pixels: number;
  /** Distinct colours (4 bits per channel) among the pixels. */
  colours: number;
  /** Pixels close to each colour asked for (#rrggbb → count). */
  near: Record<string, number>;
}

/** Chromium's executable: $CHROMIUM, else chromium / chromium-browser on the PATH; undefined when there is none. */
export function chromiumPath(): string | undefined {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ['chromium', 'chromium-browser']) {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
      const f = path.join(dir, name);
      if (dir && fs.existsSync(f)) return f;
    }
  }
  return undefined;
}

/** The flags the machine notes give for headless Chromium on a closed network, run as root. */
function flags(profile: string): string[] {
  return [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--hide-scrollbars', `--user-data-dir=${profile}`,
  ];
}

const PAGE = (svg: string, colours: string[]) => `<!doctype html><html><body style="margin:0;background:white">
<div id="pic">${svg}</div><pre id="out">pending</pre>
<script>
const svg = document.querySelector('#pic svg');
const box = svg.getBoundingClientRect();
const texts = [...svg.querySelectorAll('text')].map((t) => {
  const r = t.getBoundingClientRect();
  return { text: t.textContent, width: r.width, height: r.height,
    inside: r.width > 0 && r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1 };
});
const want = ${JSON.stringify(colours)}.map((h) => [h, parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)]);
const img = new Image();
img.onload = () => {
  const c = document.createElement('canvas');
  c.width = Math.ceil(box.width); c.height = Math.ceil(box.height);
  const g = c.getContext('2d');
  g.fillStyle = 'white'; g.fillRect(0, 0, c.width, c.height);
  g.drawImage(img, 0, 0, c.width, c.height);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let painted = 0; const seen = new Set(); const near = Object.fromEntries(want.map(([h]) => [h, 0]));
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) painted++;
    seen.add(((d[i] >> 4) << 8) | ((d[i + 1] >> 4) << 4) | (d[i + 2] >> 4));
    for (const [h, r, gg, b] of want) if (Math.abs(d[i] - r) + Math.abs(d[i + 1] - gg) + Math.abs(d[i + 2] - b) < 40) near[h]++;
  }
  document.getElementById('out').textContent = JSON.stringify({ width: box.width, height: box.height, texts, painted, pixels: c.width * c.height, colours: seen.size, near });
};
img.onerror = () => { document.getElementById('out').textContent = JSON.stringify({ error: 'the SVG did not load as an image' }); };
img.src = URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(svg)], { type: 'image/svg+xml' }));
</script></body></html>`;

/** Render an SVG file in headless Chromium and measure it (and, with `png`, also save a screenshot there). */
export function lookAtSvg(file: string, options: { colours?: string[]; png?: string } = {}): SvgLook {
  const chromium = chromiumPath();
  if (!chromium) throw new Error("no Chromium: install Debian's package (apt-get install chromium; .ci/run does) or set $CHROMIUM");
  const svg = fs.readFileSync(file, 'utf8');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'radbert-chromium-'));
  try {
    const page = path.join(dir, 'page.html');
    fs.writeFileSync(page, PAGE(svg, options.colours ?? []));
    const run = (extra: string[]) =>
      execFileSync(chromium, [...flags(path.join(dir, 'profile')), ...extra, `file://${page}`], { encoding: 'utf8', timeout: 180_000, maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
    const dom = run(['--dump-dom', '--virtual-time-budget=10000']);
    const m = /<pre id="out">([\s\S]*?)<\/pre>/.exec(dom);
    if (!m) throw new Error(`Chromium's page has no result: ${dom.slice(0, 300)}`);
    const text = m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
    const look = JSON.parse(text) as SvgLook & { error?: string };
    if (look.error) throw new Error(`${file}: ${look.error}`);
    if (options.png) {
      const w = Math.ceil(look.width);
      const h = Math.ceil(look.height);
      fs.writeFileSync(path.join(dir, 'only.html'), `<!doctype html><html><body style="margin:0;background:white">${svg}</body></html>`);
      execFileSync(chromium, [...flags(path.join(dir, 'profile')), `--window-size=${w},${h}`, `--screenshot=${options.png}`, `file://${path.join(dir, 'only.html')}`], {
        timeout: 180_000,
        stdio: 'ignore',
      });
    }
    return look;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
