import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import { CvmError } from "../../cli/errors";
import { logPath, runtimeDir } from "./mount-state";

/**
 * Starts `cvm mount … -f --ready-fd 3` in the background (a new session,
 * logs to logPath) and returns once it says the mount answers; its first
 * error line, or its exit, is the error otherwise. Nothing is left mounted
 * when it fails (the daemon cleans up before it exits).
 */
export async function startDaemon(argv: string[], mountpoint: string, timeoutMs = 120_000): Promise<number> {
  mkdirSync(runtimeDir(), { recursive: true, mode: 0o700 });
  const logFile = logPath(resolve(mountpoint));
  const logFd = openSync(logFile, "a", 0o600);
  const child = spawn(process.execPath, [...argv, "--foreground", "--ready-fd", "3"], { detached: true, stdio: ["ignore", logFd, logFd, "pipe"] });
  closeSync(logFd);
  const channel = child.stdio[3]!;
  try {
    return await new Promise<number>((resolveReady, reject) => {
      let said = "";
      const timer = setTimeout(() => reject(new CvmError(`${mountpoint}: the mount daemon did not become ready within ${timeoutMs / 1000} s (its log: ${logFile})`)), timeoutMs);
      channel.on("data", (d: Buffer) => {
        said += d.toString();
        if (said.startsWith("READY")) { clearTimeout(timer); resolveReady(child.pid!); }
        else if (said.includes("\n")) { clearTimeout(timer); reject(new CvmError(said.trim().replace(/^cvm: /, ""))); }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new CvmError(said.trim().replace(/^cvm: /, "") || `${mountpoint}: the mount daemon exited with status ${code} (its log: ${logFile})`));
      });
    });
  } finally {
    (channel as { destroy?: () => void }).destroy?.();
    child.unref();
  }
}

/** The daemon's side: say READY (or the error) on the parent's channel, then close it. */
export function tellParent(fd: number, message: string): void {
  try {
    writeSync(fd, message.endsWith("\n") ? message : message + "\n");
    closeSync(fd);
  } catch { /* the parent is gone: nothing to tell */ }
}
