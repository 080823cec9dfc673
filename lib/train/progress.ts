/**
 * Training progress on stderr: a live bar (step/total, loss, samples/s, ETA) when stderr is a TTY, else plain lines
 * every `intervalMs` (and whenever `line()` is asked for). Table rows go to stdout through `print()`, which clears
 * the bar first so the two never interleave.
 */

/** Seconds as h:mm:ss or m:ss. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Options of Progress. */
export interface ProgressOptions {
  /** Stream for the bar / lines (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Live bar (default: stream.isTTY). */
  tty?: boolean;
  /** Plain mode: at most one line per this many ms (default 10000). */
  intervalMs?: number;
  /** Bar width in characters (default 24). */
  width?: number;
  /** Print nothing at all. */
  quiet?: boolean;
}

/** A progress display for a run of `total` steps of `samplesPerStep` rows. */
export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly intervalMs: number;
  private readonly width: number;
  private readonly quiet: boolean;
  private startTime = Date.now();
  private startStep = 0;
  private lastLine = 0;
  private drawn = false;
  private step = 0;
  private samples = 0;
  private loss: number | undefined;

  constructor(
    /** Total number of steps. */
    readonly total: number,
    options: ProgressOptions = {},
  ) {
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.intervalMs = options.intervalMs ?? 10000;
    this.width = options.width ?? 24;
    this.quiet = options.quiet ?? false;
  }

  /** Start (or restart after a resume) timing at `step`. */
  start(step = 0): void {
    this.startTime = Date.now();
    this.startStep = step;
    this.step = step;
    this.samples = 0;
    this.lastLine = Date.now();
  }

  /** Text of the current state: `step 12/205 [#####.....] loss 0.5123 | 85.1 samples/s | ETA 0:42`. */
  status(): string {
    const elapsed = (Date.now() - this.startTime) / 1000;
    const done = this.step - this.startStep;
    const rate = elapsed > 0 ? this.samples / elapsed : 0;
    const eta = done > 0 ? (elapsed / done) * (this.total - this.step) : NaN;
    const frac = this.total ? Math.min(1, this.step / this.total) : 0;
    const filled = Math.round(frac * this.width);
    const bar = this.tty ? ` [${'#'.repeat(filled)}${'.'.repeat(this.width - filled)}]` : '';
    const loss = this.loss === undefined ? '' : ` loss ${this.loss.toFixed(4)} |`;
    return `step ${this.step}/${this.total}${bar}${loss} ${rate.toFixed(1)} samples/s | ETA ${formatDuration(eta)}`;
  }

  /** Record a finished step (its loss and number of rows); redraws the bar, or prints a line when the interval passed. */
  tick(step: number, loss: number, samples: number): void {
    this.step = step;
    this.loss = loss;
    this.samples += samples;
    if (this.quiet) return;
    if (this.tty) this.draw();
    else if (Date.now() - this.lastLine >= this.intervalMs) this.line();
  }

  /** Plain mode: print the status as a line now (e.g. at a logging step). TTY mode: redraw. */
  line(extra = ''): void {
    if (this.quiet) return;
    if (this.tty) return this.draw();
    this.stream.write(`${this.status()}${extra}\n`);
    this.lastLine = Date.now();
  }

  /** Write a line to stdout (or `to`) without tearing the bar. */
  print(text: string, to: NodeJS.WriteStream = process.stdout): void {
    this.clear();
    to.write(text.endsWith('\n') ? text : `${text}\n`);
    if (this.tty && this.step > this.startStep) this.draw();
  }

  /** Remove the bar (TTY) before other output. */
  clear(): void {
    if (this.tty && this.drawn && !this.quiet) this.stream.write('\r\x1b[2K');
    this.drawn = false;
  }

  /** Final clear. */
  done(): void {
    this.clear();
  }

  private draw(): void {
    if (this.quiet || !this.tty) return;
    this.stream.write(`\r\x1b[2K${this.status()}`);
    this.drawn = true;
  }
}
