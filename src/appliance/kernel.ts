import { closeSync, existsSync, openSync, readdirSync, statSync } from "node:fs";
import { CvmError } from "../cli/errors";
import { readFull } from "../sys/read-full";

export interface Kernel { path: string; version: string; modulesDir: string; }

/**
 * The version a bzImage carries (Documentation/arch/x86/boot.rst: the setup
 * header's kernel_version field at 0x20E points, less 0x200, at a string
 * "6.1.0-… (builder) #1 …"), so a kernel named anything still finds its modules.
 */
export function bzImageVersion(path: string): string | undefined {
  const fd = openSync(path, "r");
  try {
    const head = new Uint8Array(0x10000); // the version string lies past the setup code, within its 64 KiB
    const n = readFull(fd, head, 0);
    const v = new DataView(head.buffer);
    if (n < 0x210 || v.getUint32(0x202, true) !== 0x53726448 /* "HdrS" */) return undefined;
    const at = v.getUint16(0x20e, true) + 0x200;
    if (at >= n) return undefined;
    const end = head.indexOf(0, at);
    return new TextDecoder().decode(head.subarray(at, end < 0 ? n : end)).split(" ")[0] || undefined;
  } finally {
    closeSync(fd);
  }
}

/** --kernel or the newest /boot/vmlinuz-*, with --modules or /lib/modules/<its version>. */
export function findKernel(kernel?: string, modules?: string): Kernel {
  let path = kernel;
  if (!path) {
    const found = existsSync("/boot") ? readdirSync("/boot").filter((f) => f.startsWith("vmlinuz-")).sort(compareVersions) : [];
    if (!found.length) throw new CvmError("no kernel: /boot has no vmlinuz-* (apt-get install linux-image-amd64, or give --kernel FILE)");
    path = `/boot/${found[found.length - 1]}`;
  }
  let st;
  try { st = statSync(path); } catch { throw new CvmError(`--kernel ${path}: no such file`); }
  if (!st.isFile()) throw new CvmError(`--kernel ${path}: not a regular file`);
  const version = bzImageVersion(path);
  if (!version) throw new CvmError(`--kernel ${path}: not an x86 bzImage (no "HdrS" setup header)`);
  const modulesDir = modules ?? `/lib/modules/${version}`;
  if (!existsSync(`${modulesDir}/modules.dep`)) {
    throw new CvmError(`${modulesDir}/modules.dep: not found (the modules of kernel ${version}; install its package or give --modules DIR)`);
  }
  return { path, version, modulesDir };
}

const compareVersions = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });
