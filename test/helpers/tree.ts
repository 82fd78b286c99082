import { chmodSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

/** Sets a user xattr through libc (Node has no API); false when the filesystem refuses. */
export function setXattr(path: string, name: string, value: string): boolean {
  const { dlopen, FFIType } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", { lsetxattr: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 } });
  const enc = (s: string) => new TextEncoder().encode(s + "\0");
  const v = new TextEncoder().encode(value);
  try {
    return libc.symbols.lsetxattr(enc(path), enc(name), v, v.length, 0) === 0;
  } finally {
    libc.close();
  }
}

export interface TreeSpec { files: number; bigFileBytes: number; }

/**
 * A source tree with what publishing must preserve: nested catalogs
 * (.cvmfscatalog), thousands of files, a big file that gets chunked, empty
 * files, symlinks (with $(VAR)), hardlinks, unicode names, modes, mtimes with
 * nanoseconds, and xattrs where the filesystem has them.
 */
export function makeTree(root: string, spec: TreeSpec): { xattrs: boolean } {
  mkdirSync(root, { recursive: true });
  const dirs = ["", "/software", "/software/v1", "/software/v2", "/data", "/data/deep/er/est", "/ünïcødé dir"];
  for (const d of dirs) mkdirSync(join(root, d), { recursive: true });
  for (const marker of ["/software/v1", "/software/v2", "/data"]) writeFileSync(join(root, marker, ".cvmfscatalog"), "");
  for (let i = 0; i < spec.files; i++) {
    const dir = dirs[i % dirs.length];
    const body = i % 5 === 0 ? randomBytes(100 + (i % 3000)) : Buffer.from(`file ${i}\n`.repeat(1 + (i % 50)));
    writeFileSync(join(root, dir, `f${i}.txt`), body);
  }
  writeFileSync(join(root, "empty"), "");
  writeFileSync(join(root, "/data/empty-too"), "");
  writeFileSync(join(root, "/ünïcødé dir/日本語.txt"), "こんにちは\n");
  writeFileSync(join(root, "/software/v1/big.bin"), randomBytes(spec.bigFileBytes));
  writeFileSync(join(root, "script.sh"), "#!/bin/sh\necho hi\n");
  chmodSync(join(root, "script.sh"), 0o755);
  writeFileSync(join(root, "private"), "secret\n");
  chmodSync(join(root, "private"), 0o600);
  writeFileSync(join(root, "readonly"), "ro\n");
  chmodSync(join(root, "readonly"), 0o444);
  symlinkSync("f0.txt", join(root, "link-to-f0"));
  symlinkSync("/cvmfs/$(CVM_TEST_ARCH:-x86_64)/lib", join(root, "varlink"));
  symlinkSync("../software/v1/big.bin", join(root, "data", "link-into-nested"));
  writeFileSync(join(root, "software", "hl-a"), "hardlinked content\n");
  linkSync(join(root, "software", "hl-a"), join(root, "software", "hl-b"));
  linkSync(join(root, "software", "hl-a"), join(root, "software", "hl-c"));
  utimesSync(join(root, "software", "f1.txt"), new Date("2001-02-03T04:05:06.789Z"), new Date("2001-02-03T04:05:06.789Z"));
  const xattrs = setXattr(join(root, "script.sh"), "user.purpose", "greeting") && setXattr(join(root, "data"), "user.owner", "physics");
  return { xattrs };
}

export interface Meta { kind: string; mode: number; size: number; mtime: number; target?: string; nlink?: number; }

/** Path → what a faithful copy must keep (mtime in whole seconds; dirs' sizes and link counts differ by filesystem). */
export function describeTree(root: string): Map<string, Meta> {
  const out = new Map<string, Meta>();
  const walk = (rel: string) => {
    const abs = join(root, rel);
    const st = lstatSync(abs);
    const kind = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "file";
    out.set(rel || "/", {
      kind, mode: st.mode & 0o7777, size: kind === "dir" ? 0 : st.size, mtime: Math.floor(st.mtimeMs / 1000),
      target: kind === "symlink" ? readlinkSync(abs) : undefined, nlink: kind === "file" ? st.nlink : undefined,
    });
    if (kind === "dir") for (const n of readdirSync(abs)) walk(`${rel}/${n}`);
  };
  walk("");
  return out;
}

export const fileBytes = (root: string, rel: string) => readFileSync(join(root, rel));
