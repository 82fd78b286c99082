import { existsSync, openSync, readFileSync, readSync, closeSync, fstatSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { instanceDir, type InstanceRecord } from "./store";

/** What the guest's console says about its boot (src/appliance/boot): the one-line report, a step that failed. */
export interface ConsoleReport { ready: boolean; failed?: string; poweredOff: boolean; }

const TAIL = 1 << 20;

/** The last MiB of a guest's console (the report comes after the pilot's output, which may be long). */
export function consoleTail(id: string): string {
  const file = join(instanceDir(id), "console.log");
  if (!existsSync(file)) return "";
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, TAIL));
    readSync(fd, buf, 0, buf.length, size - buf.length);
    return buf.toString("utf8").replace(/\r/g, "");
  } finally {
    closeSync(fd);
  }
}

export function readReport(text: string): ConsoleReport {
  const failedLine = /^cvm-boot: failed.*$/m.exec(text)?.[0];
  const step = /^(step .*: failed: .*|cvm: .*)$/m.exec(text)?.[0];
  return {
    ready: /^cvm-boot: ready at /m.test(text),
    failed: failedLine ? (step ? `${step} (${failedLine.replace(/^cvm-boot: /, "")})` : failedLine.replace(/^cvm-boot: /, "")) : undefined,
    poweredOff: /reboot: Power down/.test(text),
  };
}

/** The pid of the guest's qemu if it still runs (the pid file, and /proc confirms it is that guest's qemu, not a reused pid). */
export function qemuPid(id: string): number | undefined {
  const file = join(instanceDir(id), "qemu.pid");
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes(instanceDir(id)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** EC2's state names, from what the guest and its qemu show; `died` is the local region's own: qemu ended without a power-off. */
export function instanceState(r: InstanceRecord): { state: string; reason: string } {
  if (r.terminated) return { state: "terminated", reason: "terminated by the user" };
  const report = readReport(consoleTail(r.id));
  if (qemuPid(r.id) !== undefined) {
    if (report.failed) return { state: "running", reason: `contextualization failed: ${report.failed}` };
    return report.ready ? { state: "running", reason: "contextualized" } : { state: "pending", reason: "booting" };
  }
  if (report.poweredOff) return { state: "stopped", reason: report.failed ? `powered off after: ${report.failed}` : "the guest powered off" };
  return { state: "died", reason: "qemu ended without the guest powering off (killed or crashed)" };
}

/**
 * One QMP command on the guest's socket: the greeting, qmp_capabilities,
 * then `command`; resolves once qemu accepted it.
 */
export function qmp(id: string, command: string, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(join(instanceDir(id), "qmp.sock"));
    let buf = "", stage = 0;
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`QMP: no answer within ${timeoutMs / 1000} s`)); }, timeoutMs);
    const end = (err?: Error) => { clearTimeout(timer); sock.destroy(); err ? reject(err) : resolve(); };
    sock.on("error", (err) => end(err));
    sock.on("data", (chunk) => {
      buf += chunk.toString();
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const msg = JSON.parse(buf.slice(0, i)) as { QMP?: unknown; return?: unknown; error?: { desc: string } };
        buf = buf.slice(i + 1);
        if (msg.error) return end(new Error(`QMP: ${msg.error.desc}`));
        if (stage === 0 && msg.QMP) { stage = 1; sock.write(JSON.stringify({ execute: "qmp_capabilities" }) + "\n"); }
        else if (stage === 1 && msg.return !== undefined) { stage = 2; sock.write(JSON.stringify({ execute: command }) + "\n"); }
        else if (stage === 2 && msg.return !== undefined) return end();
      }
    });
  });
}
