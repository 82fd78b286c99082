import { CvmError } from "../cli/errors";

/**
 * Password hashes in the system's crypt scheme: the prefix for ENCRYPT_METHOD
 * of the root's /etc/login.defs (SHA512 → $6$, YESCRYPT → $y$, …), or
 * libxcrypt's own default when it names none. libcrypt's crypt_gensalt and
 * crypt through bun:ffi (salt from the kernel's random source); without
 * libcrypt, `openssl passwd -6` with the password on stdin, never in argv.
 */
const PREFIX: Record<string, string | null> = { SHA512: "$6$", SHA256: "$5$", YESCRYPT: "$y$", BCRYPT: "$2b$", GOST_YESCRYPT: "$gy$" };

export function cryptPrefix(encryptMethod: string | undefined): string | null {
  if (!encryptMethod) return null;
  // MD5 and DES are too weak to write today: SHA-512 instead
  return PREFIX[encryptMethod.toUpperCase()] ?? "$6$";
}

export function hashPassword(plain: string, prefix: string | null): string {
  let hash: string | undefined;
  try {
    hash = withLibcrypt(plain, prefix);
  } catch {
    hash = undefined;
  }
  if (hash === undefined) hash = withOpenssl(plain);
  if (!/^\$[0-9a-z]+\$[^:\n]+$/.test(hash)) throw new CvmError("password hashing failed: crypt gave no usable hash");
  return hash;
}

function withLibcrypt(plain: string, prefix: string | null): string | undefined {
  const { dlopen, FFIType, CString } = require("bun:ffi") as typeof import("bun:ffi");
  const lib = dlopen("libcrypt.so.1", {
    crypt_gensalt: { args: [FFIType.cstring, FFIType.u64, FFIType.ptr, FFIType.i32], returns: FFIType.ptr },
    crypt: { args: [FFIType.cstring, FFIType.cstring], returns: FFIType.ptr },
  });
  try {
    const z = (s: string) => Buffer.from(s + "\0");
    const saltPtr = lib.symbols.crypt_gensalt(prefix === null ? null : z(prefix), 0, null, 0);
    if (!saltPtr) return undefined;
    const salt = new CString(saltPtr).toString();
    const out = lib.symbols.crypt(z(plain), z(salt));
    if (!out) return undefined;
    const hash = new CString(out).toString();
    return hash.startsWith("*") ? undefined : hash;
  } finally {
    lib.close();
  }
}

function withOpenssl(plain: string): string {
  const p = Bun.spawnSync({ cmd: ["openssl", "passwd", "-6", "-stdin"], stdin: Buffer.from(plain + "\n"), stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new CvmError("password hashing failed: neither libcrypt nor openssl is usable");
  return p.stdout.toString().trim();
}
