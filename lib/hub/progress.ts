/** Byte progress of downloads on stderr (a bar on a TTY, one line otherwise). */

/** 1234567 → '1.23 MB'. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** Progress of one file's bytes. */
export class ByteProgress {
  private done = 0;
  private last = 0;
  private readonly start = Date.now();
  private readonly tty: boolean;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream | undefined,
    initial = 0,
  ) {
    this.done = initial;
    this.tty = Boolean(stream?.isTTY) && !/^(1|true|yes|on)$/i.test(process.env.HF_HUB_DISABLE_PROGRESS_BARS ?? '');
    if (stream && !this.tty) stream.write(`${label} (${formatBytes(total)}${initial ? `, resuming at ${formatBytes(initial)}` : ''})\n`);
    else this.draw();
  }
  add(n: number): void {
    this.done += n;
    if (this.tty && Date.now() - this.last > 100) this.draw();
  }
  private draw(): void {
    if (!this.tty || !this.stream) return;
    this.last = Date.now();
    const s = (Date.now() - this.start) / 1000;
    const pct = this.total ? Math.floor((100 * this.done) / this.total) : 100;
    this.stream.write(`\r\x1b[K${this.label} ${pct}% ${formatBytes(this.done)}/${formatBytes(this.total)}${s > 0.5 ? ` ${formatBytes(this.done / s)}/s` : ''}`);
  }
  end(): void {
    if (this.tty && this.stream) {
      this.draw();
      this.stream.write('\n');
    }
  }
}
