import { UsageError } from "../../cli/errors";

/** mount(8)'s generic options that mean nothing more for a read-only FUSE mount. */
const GENERIC = new Set(["ro", "rw", "defaults", "nodev", "nosuid", "suid", "dev", "exec", "noexec", "auto", "noauto", "user", "nouser", "users", "_netdev", "nofail", "relatime", "noatime", "atime", "sync", "async", "fsname=cvmfs2"]);

/**
 * `-o` values as `cvm mount` and `mount -t cvmfs` (mount.cvmfs) give them:
 * comma-separated; `CVMFS_KEY=VALUE` items override the configuration,
 * `allow_other` lets other users in, mount(8)'s generic options are
 * accepted and ignored, anything else is refused by name.
 */
export function mountOptions(values: string[]): { overrides: Record<string, string>; allowOther?: boolean; ignored: string[] } {
  const overrides: Record<string, string> = {};
  const ignored: string[] = [];
  let allowOther: boolean | undefined;
  for (const item of values.flatMap((v) => (/^[A-Z_][A-Z0-9_]*=/.test(v) ? [v] : v.split(",")))) {
    const eq = item.indexOf("=");
    const key = eq > 0 ? item.slice(0, eq) : item;
    if (/^[A-Z_][A-Z0-9_]*$/.test(key) && eq > 0) overrides[key] = item.slice(eq + 1);
    else if (item === "allow_other") allowOther = true;
    else if (GENERIC.has(item) || item.startsWith("x-") || item.startsWith("comment=")) ignored.push(item);
    else if (item !== "") throw new UsageError(`-o '${item}': expected CVMFS_KEY=VALUE, allow_other, or a generic mount option (ro, nodev, _netdev, …)`);
  }
  return { overrides, allowOther, ignored };
}
