/**
 * FUSE test plumbing: whether this machine can mount, commands run as
 * subprocesses with a deadline (a test never blocks on its own mount), and
 * a cleanup that leaves no mount behind whatever state the daemon is in.
 */
import { existsSync } from "node:fs";
import { abortConnectionId, ensureFusectl, isFuseMount, mountAt, unmountFuse } from "../../src/fuse/mount";

export const IS_ROOT = process.getuid?.() === 0;
/** Root with /dev/fuse: CI on this machine kind. */
export const CAN_MOUNT = IS_ROOT && existsSync("/dev/fuse");

export interface Ran { code: number | null; stdout: string; stderr: string; timedOut: boolean; }

/** Runs `argv` as a subprocess; killed (SIGKILL) after `timeoutMs`. */
export async function runFor(argv: string[], timeoutMs = 30_000, o: { env?: Record<string, string>; cwd?: string } = {}): Promise<Ran> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...o.env }, cwd: o.cwd });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; p.kill("SIGKILL"); }, timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { code: timedOut ? null : code, stdout, stderr, timedOut };
}

/** Polls `check` until it holds or `timeoutMs` passes (a condition, not a fixed sleep). */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/**
 * Leaves nothing mounted at `mountpoint`: unmount, then lazy unmount, then
 * abort the connection (recorded before unmounting: a lazily unmounted
 * connection is no longer in mountinfo) so nothing waits on a dead daemon.
 */
export async function cleanupMount(mountpoint: string): Promise<void> {
  const m = mountAt(mountpoint);
  if (!m || !isFuseMount(mountpoint)) return;
  try {
    await unmountFuse(mountpoint, { method: "mount" });
  } catch { /* busy or gone: the next steps handle it */ }
  if (isFuseMount(mountpoint)) {
    try {
      await unmountFuse(mountpoint, { method: "mount", lazy: true });
    } catch { /* aborting below still frees every waiter */ }
  }
  if (ensureFusectl() && existsSync(`/sys/fs/fuse/connections/${m.dev}`)) abortConnectionId(m.dev);
}
