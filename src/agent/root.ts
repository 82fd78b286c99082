import { chmodSync, lchownSync, lstatSync, mkdirSync, readlinkSync, realpathSync, statSync, symlinkSync, type Stats } from "node:fs";
import { posix } from "node:path";
import { CvmError, errnoCode } from "../cli/errors";
import { escapeName } from "../cli/output";
import { writeFileAtomic } from "../sys/atomic";
import { readSmallFile } from "./sources/read-file";

/** Links followed while resolving one path, as the kernel's MAXSYMLINKS. */
const MAX_LINKS = 40;

/**
 * The guest's filesystem seen from the agent: every path is a guest path
 * (`/etc/passwd`) under `--root`. The agent follows a symbolic link only when
 * root owns it and it stays inside the root (merged /usr: `lib64 -> usr/lib64`);
 * absolute targets are read as the guest would see them (under the root). A
 * link owned by anyone else, or one that climbs out, is refused with the path
 * named, and nothing is written through it.
 */
export class RootFs {
  readonly root: string;

  constructor(root: string) {
    let real: string;
    try {
      real = realpathSync(root);
      if (!statSync(real).isDirectory()) throw new CvmError(`--root ${root}: not a directory`);
    } catch (err) {
      if (err instanceof CvmError) throw err;
      throw new CvmError(`--root ${root}: ${errnoCode(err) === "ENOENT" ? "no such directory" : (err as Error).message}`);
    }
    this.root = real;
  }

  get isHostRoot(): boolean {
    return this.root === "/";
  }

  /** The host path of a guest path, without resolving anything (for messages and children's argv). */
  hostPath(guest: string): string {
    return this.root === "/" ? guest : this.root + guest;
  }

  /**
   * The host path to use for `guest` after following the links allowed. With
   * `final: "keep"` a link in the last place is not followed (the caller
   * replaces it by rename); with "follow" it is, under the same rules.
   * Missing components are fine: the rest of the path is taken as it is.
   */
  resolve(guest: string, final: "follow" | "keep" = "follow"): string {
    return this.hostPath(this.resolveGuest(guest, final));
  }

  /** Like resolve, as a guest path. */
  resolveGuest(guest: string, final: "follow" | "keep" = "follow"): string {
    if (!guest.startsWith("/")) throw new CvmError(`${escapeName(guest)}: not an absolute path`);
    let parts = guest.split("/").filter((p) => p !== "" && p !== ".");
    if (parts.includes("..")) throw new CvmError(`${escapeName(guest)}: '..' is not allowed in a path`);
    let links = 0;
    const done: string[] = [];
    while (parts.length) {
      const name = parts.shift()!;
      const here = "/" + [...done, name].join("/");
      let st: Stats;
      try {
        st = lstatSync(this.hostPath(here));
      } catch (err) {
        if (errnoCode(err) === "ENOENT") { done.push(name, ...parts); break; }
        throw new CvmError(`${here}: ${(err as Error).message}`);
      }
      if (st.isSymbolicLink() && (parts.length || final === "follow")) {
        const target = readlinkSync(this.hostPath(here));
        if (++links > MAX_LINKS) throw new CvmError(`${here}: too many levels of symbolic links`);
        if (st.uid !== 0) throw new CvmError(`${here}: is a symbolic link owned by uid ${st.uid}; the agent follows only root's links`);
        const base = target.startsWith("/") ? [] : [...done];
        const joined: string[] = [];
        for (const p of [...base, ...target.split("/")]) {
          if (p === "" || p === ".") continue;
          if (p === "..") {
            if (!joined.length) throw new CvmError(`${here}: is a symbolic link to ${escapeName(target)}, which leaves --root ${this.root}`);
            joined.pop();
          } else joined.push(p);
        }
        done.length = 0;
        parts = [...joined, ...parts];
        continue;
      }
      if (parts.length && !st.isDirectory()) throw new CvmError(`${here}: not a directory`);
      done.push(name);
    }
    return "/" + done.join("/");
  }

  lstat(guest: string, final: "follow" | "keep" = "keep"): Stats | null {
    try {
      return lstatSync(this.resolve(guest, final));
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return null;
      throw err;
    }
  }

  /**
   * A regular file's content, at most `max` bytes (more is an error), or null
   * when there is none. Links in the last place follow the rules above; FIFOs
   * and devices are refused by type before any read.
   */
  read(guest: string, max: number): Buffer | null {
    const host = this.resolve(guest, "follow");
    try {
      return readSmallFile(host, max);
    } catch (err) {
      // messages name the guest's path, not the host's
      if (err instanceof CvmError && host !== guest) throw new CvmError(err.message.replace(host, guest));
      throw err;
    }
  }

  readText(guest: string, max = 4 << 20): string | null {
    return this.read(guest, max)?.toString("utf8") ?? null;
  }

  /** Creates the missing directories of `guest` (each with `mode`, owned by uid:gid); returns those created. */
  mkdirs(guest: string, mode = 0o755, uid = 0, gid = 0): string[] {
    const resolved = this.resolveGuest(guest, "follow");
    const created: string[] = [];
    let at = "";
    for (const p of resolved.split("/").filter(Boolean)) {
      at += "/" + p;
      const host = this.hostPath(at);
      const st = lstatOrNull(host);
      if (st) {
        if (!st.isDirectory()) throw new CvmError(`${at}: not a directory`);
        continue;
      }
      mkdirSync(host, { mode });
      chmodSync(host, mode); // the umask narrowed it
      lchownSync(host, uid, gid);
      created.push(at);
    }
    return created;
  }

  /**
   * Writes a whole file atomically (temp, fsync, rename) with its mode and
   * owner. A link in its place is followed under the rules above, or, with
   * `final: "keep"` (files in /tmp), replaced: rename never writes through it.
   */
  write(guest: string, data: string | Uint8Array, mode: number, uid = 0, gid = 0, final: "follow" | "keep" = "follow"): void {
    const host = this.resolve(guest, final);
    const st = lstatOrNull(host);
    if (st && st.isDirectory()) throw new CvmError(`${guest}: is a directory`);
    writeFileAtomic(host, data, mode);
    // owner after the rename: until then the file is root's with the mode asked, never wider
    if (uid !== 0 || gid !== 0) lchownSync(host, uid, gid);
  }

  /** A symbolic link at `guest` pointing to `target` (as systemctl enable makes them); an equal link is kept. */
  symlink(guest: string, target: string): "created" | "exists" {
    const host = this.resolve(guest, "keep");
    const st = lstatOrNull(host);
    if (st) {
      if (st.isSymbolicLink() && readlinkSync(host) === target) return "exists";
      throw new CvmError(`${guest}: exists and is not a link to ${target}`);
    }
    symlinkSync(target, host);
    return "created";
  }
}

function lstatOrNull(host: string): Stats | null {
  try {
    return lstatSync(host);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return null;
    throw err;
  }
}

export const guestJoin = (...parts: string[]) => posix.join("/", ...parts);
