/**
 * A FUSE daemon for the tests that need one in another process (killed with
 * SIGKILL, stopped with SIGSTOP, run as another user):
 *   bun test/helpers/fuse-serve.ts <mountpoint> [options-json]
 * Serves a small MemoryFs tree, prints one JSON line once the mount answers,
 * unmounts on SIGTERM/SIGINT, and exits when the connection ends.
 */
import { startFuse, type FuseOptions } from "../../src/fuse/server";
import { MemoryFs } from "./memory-fs";

const [mountpoint, json] = process.argv.slice(2);
const options: FuseOptions = json ? JSON.parse(json) : {};
const fs = new MemoryFs(process.getuid?.() ?? 0, process.getgid?.() ?? 0);
fs.file("hello.txt", "hello from the daemon\n");
fs.mkdir("dir");
for (let i = 0; i < 50; i++) fs.file(`dir/file-${i}`, `content ${i}\n`.repeat(i + 1));
fs.symlink("link", "hello.txt");
fs.setXattr("hello.txt", "user.origin", "fuse-serve");

try {
  const handle = await startFuse(mountpoint, fs, { fsname: "cvmfs2", ...options, log: (l) => console.error(l), verbose: (l) => console.error(l) });
  const stop = () => handle.stop().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  handle.closed.then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });
  console.log(JSON.stringify({ ready: true, pid: process.pid, method: handle.method, passthrough: handle.passthrough, protocol: handle.protocol }));
} catch (e) {
  console.error(`cvm: ${(e as Error).message}`);
  process.exit(1);
}
