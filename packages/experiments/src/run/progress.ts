/** A one-line progress bar with ETA on a terminal; a line every 10 % elsewhere (logs, CI). */
export class ProgressBar {
  private start = Date.now();
  private lastPct = -1;
  private readonly tty: boolean;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(done: number, info = ''): void {
    if (this.quiet) return;
    const frac = Math.min(1, done / this.total);
    const elapsed = (Date.now() - this.start) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : 0;
    const text = `${this.label} ${bar(frac)} ${(frac * 100).toFixed(0).padStart(3)}% ${done}/${this.total} ${info} ETA ${formatTime(eta)}`;
    if (this.tty) {
      this.out.write(`\r${text.padEnd(this.out.columns ? this.out.columns - 1 : 100)}`);
    } else {
      const pct = Math.floor(frac * 10);
      if (pct !== this.lastPct) {
        this.lastPct = pct;
        this.out.write(`${text}\n`);
      }
    }
  }

  done(): void {
    if (this.tty && !this.quiet) this.out.write('\r\x1b[2K');
  }
}

function bar(frac: number, width = 24): string {
  const n = Math.round(frac * width);
  return `[${'='.repeat(Math.max(0, n - 1))}${n > 0 ? '>' : ''}${' '.repeat(width - n)}]`;
}

export function formatTime(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}
