import { basename } from "node:path";

/**
 * Invoked as /sbin/mount.cvmfs (a symlink to cvm), by mount(8), fstab or
 * autofs: `mount.cvmfs <repository> <mountpoint> [-sfnv] [-o options]`.
 * Returns cvm's own arguments for it, or "fake" for -f (mount(8)'s "do
 * everything but the mount").
 */
export function mountHelperArgs(argv0: string, args: string[]): string[] | "fake" | undefined {
  if (basename(argv0) !== "mount.cvmfs") return undefined;
  const out = ["mount"];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-o") { out.push("-o", args[++i] ?? ""); continue; }
    if (a.startsWith("-o")) { out.push("-o", a.slice(2)); continue; }
    if (/^-[sfnvN]+$/.test(a)) {
      if (a.includes("f")) return "fake";
      if (a.includes("v")) out.push("-v");
      continue; // -s sloppy, -n no mtab: nothing to do
    }
    out.push(out.length === 1 ? a.replace(/^:/, "") : a); // autofs maps give the repository as ":atlas.cern.ch"
  }
  return out;
}
