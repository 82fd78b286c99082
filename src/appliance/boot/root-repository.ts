import { chmodSync, copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { CvmError } from "../../cli/errors";
import { readXattrs } from "../../sys/xattr";
import type { BootFlags } from "./cmdline";
import { say, seconds } from "./console";
import { configureNetwork } from "./network";
import { run } from "./system";

/** Where the OS repository, its cache and the overlay live: /run is a tmpfs that moves into the new root. */
const BASE = "/run/cvm/root";

/** KEY=VALUE lines of /etc/cvm-appliance.conf, written by the builder. */
export function stageValue(key: string, text = readFileSync("/etc/cvm-appliance.conf", "utf8")): string {
  return text.split("\n").find((l) => l.startsWith(key + "="))?.slice(key.length + 1) ?? "";
}

/**
 * The µCernVM step, run by the initramfs's /init before switch_root: the
 * network, then the OS repository mounted read-only by cvm (its cache on
 * /run, which survives switch_root), a tmpfs overlay on top, the whole on
 * /newroot. The mount daemon keeps running under the new root.
 */
export async function mountRootRepository(_flags: BootFlags): Promise<void> {
  const t0 = performance.now();
  const fqrn = stageValue("ROOT_REPOSITORY");
  if (!fqrn) throw new CvmError("/etc/cvm-appliance.conf names no ROOT_REPOSITORY");
  await configureNetwork();
  for (const d of ["ro", "upper", "work", "cache", "bin"]) mkdirSync(`${BASE}/${d}`, { recursive: true, mode: 0o755 });
  // The mount daemon outlives the initramfs, which switch_root empties: it runs from a copy on /run (the
  // initramfs's own is freed then, so this costs no memory once booted), whose path stays valid for Bun
  // to read its embedded modules from.
  const self = `${BASE}/bin/cvm`;
  copyFileSync(process.execPath, self);
  chmodSync(self, 0o755);
  run([self, "mount", fqrn, `${BASE}/ro`, "-o", `CVMFS_CACHE_BASE=${BASE}/cache`], `mount ${fqrn}`, 120_000);
  const revision = new TextDecoder().decode(readXattrs(`${BASE}/ro`).get("user.revision") ?? new Uint8Array());
  run(["mount", "-t", "overlay", "overlay", "-o", `lowerdir=${BASE}/ro,upperdir=${BASE}/upper,workdir=${BASE}/work`, "/newroot"], "the overlay on /newroot");
  say(`root: ${fqrn} revision ${revision || "?"} on / (read-only, a tmpfs overlay on top; ${seconds(t0)})`);
}
