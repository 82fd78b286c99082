import { appendFileSync } from "node:fs";

export const BOOT_LOG = "/var/log/cvm-boot.log";

/** Every line of the boot on the console (our stdout, as busybox init gives it) and in /var/log/cvm-boot.log. */
export function say(line: string): void {
  const text = `cvm-boot: ${line}\n`;
  process.stdout.write(text);
  try { appendFileSync(BOOT_LOG, `${new Date().toISOString()} ${text}`, { mode: 0o600 }); } catch { /* a read-only or full root: the console has it */ }
}

export const seconds = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
