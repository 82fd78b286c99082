// The daemon in a child process: killed, stopped, stopped while files are
// open, and run as a normal user through fusermount3. Whatever happens to
// it, nothing may hang and nothing may stay mounted.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { abortConnection, ensureFusectl, forceUnmount, isFuseMount, mountAt } from "../src/fuse/mount";
import { CAN_MOUNT, cleanupMount, runFor, waitFor } from "./helpers/fuse";
import { ROOT } from "./helpers/run";
import { hasTools } from "./helpers/tools";

const SERVE = join(ROOT, "test", "helpers", "fuse-serve.ts");

interface Daemon { proc: ReturnType<typeof Bun.spawn>; ready: { pid: number; method: string; passthrough: boolean }; stderr: () => Promise<string>; }

/** Starts test/helpers/fuse-serve.ts on `mp` and waits for its ready line. */
async function daemon(mp: string, o: { user?: { uid: number; gid: number; home: string }; options?: object } = {}): Promise<Daemon> {
  const argv = [process.execPath, SERVE, mp, JSON.stringify(o.options ?? {})];
  const env: Record<string, string> = { ...process.env as Record<string, string>, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" };
  if (o.user) env.HOME = o.user.home;
  const full = o.user ? ["setpriv", `--reuid=${o.user.uid}`, `--regid=${o.user.gid}`, "--clear-groups", "--", ...argv] : argv;
  const proc = Bun.spawn(full, { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
  const stderrText = new Response(proc.stderr).text();
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let line = "";
  const deadline = setTimeout(() => proc.kill("SIGKILL"), 20_000);
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    line += new TextDecoder().decode(value);
  }
  clearTimeout(deadline);
  reader.releaseLock();
  if (!line.includes("\n")) throw new Error(`the daemon did not start: ${await stderrText}`);
  return { proc, ready: JSON.parse(line), stderr: () => stderrText };
}

const connectionFile = (mp: string, name: string) => `/sys/fs/fuse/connections/${mountAt(mp)!.dev}/${name}`;

describe.skipIf(!CAN_MOUNT)("the daemon's end", () => {
  let base = "";
  let mp = "";
  const children: Daemon[] = [];

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), "cvm-fuse-life-"));
    mp = join(base, "mnt");
    mkdirSync(mp);
  });

  afterEach(async () => {
    for (const d of children.splice(0)) {
      d.proc.kill("SIGCONT");
      d.proc.kill("SIGKILL");
    }
    await cleanupMount(mp);
  }, 30_000);

  afterAll(() => {
    if (base) rmSync(base, { recursive: true, force: true });
  });

  test("killed with SIGKILL: requests fail with ENOTCONN at once, cleanup unmounts, the mountpoint mounts again, SIGTERM unmounts", async () => {
    const first = await daemon(mp);
    children.push(first);
    expect((await runFor(["cat", join(mp, "hello.txt")], 10_000)).stdout).toBe("hello from the daemon\n");
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    const dead = await runFor(["stat", join(mp, "dir")], 10_000);
    expect(dead.timedOut).toBe(false);
    expect(dead.stderr).toContain("Transport endpoint is not connected");
    await cleanupMount(mp);
    expect(isFuseMount(mp)).toBe(false);
    expect((await runFor(["ls", "-A", mp], 10_000)).stdout).toBe("");

    const second = await daemon(mp);
    children.push(second);
    expect((await runFor(["cat", join(mp, "hello.txt")], 10_000)).stdout).toBe("hello from the daemon\n");
    second.proc.kill("SIGTERM");
    expect(await second.proc.exited).toBe(0);
    expect(isFuseMount(mp)).toBe(false);
  }, 60_000);

  test("stopped with SIGSTOP: a request waits; aborting the connection answers it (ECONNABORTED); then it unmounts", async () => {
    const d = await daemon(mp);
    children.push(d);
    expect(ensureFusectl()).toBe(true);
    const waiting = connectionFile(mp, "waiting");
    d.proc.kill("SIGSTOP");
    const stuck = runFor(["stat", join(mp, "never-looked-up")], 30_000);
    await waitFor(() => Number(readFileSync(waiting, "utf8")) >= 1, 10_000, "the request to wait on the stopped daemon");
    expect(abortConnection(mp)).toBe(true);
    const r = await stuck;
    expect(r.timedOut).toBe(false);
    expect(r.stderr).toMatch(/Software caused connection abort|Transport endpoint is not connected/);
    await cleanupMount(mp);
    expect(isFuseMount(mp)).toBe(false);
    // Resumed, the daemon finds its connection gone and exits by itself.
    d.proc.kill("SIGCONT");
    expect(await d.proc.exited).toBe(0);
  }, 60_000);

  test("forceUnmount (what `cvm umount` uses) frees a stopped daemon's mount, with a request waiting, and never hangs", async () => {
    const d = await daemon(mp);
    children.push(d);
    d.proc.kill("SIGSTOP");
    const stuck = runFor(["ls", join(mp, "dir")], 30_000);
    await waitFor(() => ensureFusectl() && Number(readFileSync(connectionFile(mp, "waiting"), "utf8")) >= 1, 10_000, "the request to wait");
    await forceUnmount(mp);
    expect(isFuseMount(mp)).toBe(false);
    expect((await stuck).timedOut).toBe(false);
    d.proc.kill("SIGCONT");
    expect(await d.proc.exited).toBe(0);
    await forceUnmount(mp);   // nothing mounted: quiet
  }, 60_000);

  test("SIGTERM while a file is open: unmounted lazily, the connection ended, the daemon exits", async () => {
    const d = await daemon(mp);
    children.push(d);
    // A reader holding a file open, waiting on stdin.
    const holder = Bun.spawn(["python3", "-c", "import sys; f = open(sys.argv[1]); print(f.readline().strip(), flush=True); sys.stdin.read(); f.read()", join(mp, "hello.txt")], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    const reader = (holder.stdout as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain("hello from the daemon");
    d.proc.kill("SIGTERM");
    expect(await d.proc.exited).toBe(0);
    expect(isFuseMount(mp)).toBe(false);
    holder.stdin!.end();
    await holder.exited;
  }, 60_000);
});

// fusermount3 opens /dev/fuse as the user: it must be 0666 (fuse3's udev rule; test/system-deps.sh where there is no udev).
const NON_ROOT_OK = CAN_MOUNT && hasTools("fusermount3", "setpriv", "useradd", "getfattr") && (statSync("/dev/fuse").mode & 0o006) === 0o006;
const USER = "cvmfusetest";

describe.skipIf(!NON_ROOT_OK)("a normal user's mount through fusermount3", () => {
  let base = "";
  let mp = "";
  let user = { uid: 0, gid: 0, home: "" };
  let d: Daemon | undefined;
  const asUser = (argv: string[]) => runFor(["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", ...argv], 10_000);

  beforeAll(async () => {
    if ((await runFor(["id", "-u", USER])).code !== 0) {
      const add = await runFor(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]);
      expect(add.stderr).toBe("");
    }
    const id = (flag: string) => runFor(["id", flag, USER]).then((r) => Number(r.stdout.trim()));
    base = mkdtempSync(join(tmpdir(), "cvm-fuse-user-"));
    chmodSync(base, 0o755);
    user = { uid: await id("-u"), gid: await id("-g"), home: join(base, "home") };
    mp = join(base, "mnt");
    for (const dir of [mp, user.home]) {
      mkdirSync(dir);
      chownSync(dir, user.uid, user.gid);
    }
    d = await daemon(mp, { user });
  }, 60_000);

  afterAll(async () => {
    d?.proc.kill("SIGKILL");
    await cleanupMount(mp);
    if (base) rmSync(base, { recursive: true, force: true });
  }, 30_000);

  test("mounted by fusermount3 with the user's ids, passthrough off (no CAP_SYS_ADMIN)", () => {
    expect(d!.ready).toMatchObject({ method: "fusermount3", passthrough: false });
    expect(mountAt(mp)).toMatchObject({ fstype: "fuse.cvmfs2", source: "cvmfs2" });
    const line = readFileSync("/proc/self/mounts", "utf8").split("\n").find((l) => l.split(" ")[1] === mp)!;
    expect(line).toContain(`ro,nosuid,nodev`);
    expect(line).toContain(`user_id=${user.uid},group_id=${user.gid}`);
  });

  test("the user reads files, lists directories, follows links and reads xattrs", async () => {
    // Whole results compared, so a failure shows the command's exit code and stderr.
    expect(await asUser(["cat", join(mp, "link")])).toMatchObject({ code: 0, stdout: "hello from the daemon\n", stderr: "" });
    const ls = await asUser(["ls", join(mp, "dir")]);
    expect({ code: ls.code, stderr: ls.stderr, entries: ls.stdout.trim().split("\n").length }).toEqual({ code: 0, stderr: "", entries: 50 });
    expect(await asUser(["sha256sum", join(mp, "dir/file-49")])).toMatchObject({ code: 0, stderr: "" });
    const x = await asUser(["getfattr", "--absolute-names", "--only-values", "-n", "user.origin", join(mp, "hello.txt")]);
    expect(x.stdout).toBe("fuse-serve");
    expect((await asUser(["touch", join(mp, "new")])).stderr).toContain("Read-only file system");
  });

  test("without allow_other, even root is kept out", async () => {
    const r = await runFor(["cat", join(mp, "hello.txt")], 10_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("Permission denied");
  });

  test("SIGTERM unmounts through fusermount3 -u and the daemon exits", async () => {
    d!.proc.kill("SIGTERM");
    expect(await d!.proc.exited).toBe(0);
    expect(isFuseMount(mp)).toBe(false);
  }, 30_000);
});
