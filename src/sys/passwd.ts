import { readFileSync } from "node:fs";

/**
 * The home directory of a uid from the passwd database, as Globus finds
 * ~/.globus (getpwuid, so NSS users from LDAP/sssd count; $HOME does not).
 * Bun's os.userInfo() reads $HOME, hence libc through bun:ffi.
 */
export function passwdHome(uid: number = process.getuid?.() ?? 0): string | undefined {
  try {
    return homeFromLibc(uid);
  } catch {
    return homeFromEtcPasswd(uid);
  }
}

function homeFromLibc(uid: number): string | undefined {
  // Loaded on demand: bun:ffi is only needed by the few commands that ask.
  const { dlopen, FFIType, CString, read } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", {
    getpwuid: { args: [FFIType.u32], returns: FFIType.ptr },
  });
  try {
    const pw = libc.symbols.getpwuid(uid);
    if (!pw) return undefined;
    // struct passwd on 64-bit glibc: name, passwd (ptrs), uid, gid (u32), gecos, dir, shell (ptrs)
    const dir = read.ptr(pw, 32);
    return dir ? new CString(dir as any).toString() : undefined;
  } finally {
    libc.close();
  }
}

function homeFromEtcPasswd(uid: number): string | undefined {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length >= 7 && Number(f[2]) === uid) return f[5];
    }
  } catch { /* no passwd file */ }
  return undefined;
}
