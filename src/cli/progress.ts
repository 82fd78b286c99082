/**
 * A one-line progress bar on stderr, drawn only on a terminal and at most ten
 * times a second; silent otherwise (logs and pipes stay clean).
 */
export class Progress {
  private last = 0;
  private readonly enabled: boolean;

  constructor(private readonly label: string, private total: number, enabled = process.stderr.isTTY === true) {
    this.enabled = enabled;
  }

  update(done: number, detail = "", total = this.total): void {
    this.total = total;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100 && done < total) return;
    this.last = now;
    const width = 30;
    const filled = total ? Math.round((done / total) * width) : 0;
    process.stderr.write(`\r${this.label} [${"=".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total} ${detail}\x1b[K`);
  }

  done(): void {
    if (this.enabled) process.stderr.write("\r\x1b[K");
  }
}
