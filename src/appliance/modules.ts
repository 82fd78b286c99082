import { existsSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { CvmError } from "../cli/errors";

/** What a guest needs to reach its disks, network, context and repositories (DESIGN.md: the boot). */
export const DEFAULT_MODULES = [
  "virtio_pci", "virtio_blk", "virtio_net", "virtio_scsi", "virtio_console", "virtio_rng",
  "crc32c_generic", "ext4", "fuse", "overlay",
  "isofs", "vfat", "nls_cp437", "nls_iso8859_1", "nls_utf8",
  "ata_piix", "sd_mod", "sr_mod", // OpenNebula's context CD-ROM on an emulated IDE controller
  "button", "evdev", // the ACPI power button, so a cloud's "stop" is a clean power-off
];

export interface KernelModule {
  name: string;
  path: string;   // relative to the modules directory, as loaded (decompressed)
  deps: string[]; // the same, of what it needs
  bytes: Uint8Array;
}

/** `kernel/fs/fat/vfat.ko.xz` → `vfat`; names compare with '-' and '_' alike, as modprobe does. */
const nameOf = (path: string) => path.replace(/^.*\//, "").replace(/\.ko(\.(xz|zst|gz))?$/, "").replace(/-/g, "_");

interface Dep { path: string; deps: string[]; }

function readDepFile(dir: string): Map<string, Dep> {
  const file = `${dir}/modules.dep`;
  if (!existsSync(file)) throw new CvmError(`${file}: not found (is ${dir} a kernel's modules directory? give --modules DIR)`);
  const map = new Map<string, Dep>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    map.set(nameOf(path), { path, deps: line.slice(colon + 1).trim().split(/\s+/).filter(Boolean) });
  }
  return map;
}

function builtins(dir: string): Set<string> {
  const file = `${dir}/modules.builtin`;
  return new Set(existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).map(nameOf) : []);
}

/** The module's bytes as the kernel loads them: .xz and .zst through their tools, .gz through zlib. */
function readModule(dir: string, path: string): Uint8Array {
  const file = `${dir}/${path}`;
  if (path.endsWith(".gz")) return gunzipSync(readFileSync(file));
  for (const [ext, tool] of [[".xz", "xz"], [".zst", "zstd"]] as const) {
    if (!path.endsWith(ext)) continue;
    const p = Bun.spawnSync({ cmd: [tool, "-dc", file], stdout: "pipe", stderr: "pipe" });
    if (p.exitCode !== 0) throw new CvmError(`${file}: cannot decompress with ${tool}: ${p.stderr.toString().trim().split("\n")[0] || `exit ${p.exitCode}`}`);
    return p.stdout;
  }
  return readFileSync(file);
}

/**
 * The wanted modules and everything they depend on (modules.dep), in an order
 * the kernel accepts (dependencies first). Built-in ones are skipped; a name
 * that is neither is an error naming it.
 */
export function resolveModules(dir: string, wanted: string[]): { modules: KernelModule[]; builtin: string[] } {
  const dep = readDepFile(dir);
  const inKernel = builtins(dir);
  const ordered: string[] = [];
  const seen = new Set<string>();
  const builtin: string[] = [];
  const visit = (name: string, from?: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const d = dep.get(name);
    if (!d) {
      if (inKernel.has(name)) { builtin.push(name); return; }
      throw new CvmError(`module ${name}${from ? ` (needed by ${from})` : ""}: not in ${dir}/modules.dep nor built into the kernel`);
    }
    // modules.dep lists every dependency (transitively); visiting them keeps the order right for any listing
    for (const p of d.deps) visit(nameOf(p), name);
    ordered.push(name);
  };
  for (const w of wanted) visit(w.replace(/-/g, "_"));
  const plain = (p: string) => p.replace(/\.(xz|zst|gz)$/, "");
  const modules = ordered.map((n) => {
    const d = dep.get(n)!;
    return { name: n, path: plain(d.path), deps: d.deps.map(plain), bytes: readModule(dir, d.path) };
  });
  return { modules, builtin };
}

/** A modules.dep for just these modules, so busybox modprobe can load one on the kernel's request. */
export function modulesDep(modules: KernelModule[]): string {
  return modules.map((m) => `${m.path}:${m.deps.map((d) => " " + d).join("")}\n`).join("");
}
