import type { PlanContext } from "../plan";
import type { Plugin } from "./types";

const KEY_LINE = /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\x00-\x1f\x7f]*)?$/;

/**
 * The metadata's public keys into root's authorized_keys (amiconfig's
 * rootsshkeys, on by default). Keys already there are kept; a line with
 * options (command=…) or anything but a plain key is skipped with a warning.
 */
export const sshKeys: Plugin = {
  name: "rootsshkeys",
  group: "rootsshkeys",
  keys: {},
  plan(ctx: PlanContext) {
    // a key as a source may hold it: trailing newline (nova), several lines, `#` comments
    const keys = ctx.meta.publicKeys.flatMap((k) => k.split(/\r?\n/)).map((k) => k.trim()).filter((k) => k && !k.startsWith("#"));
    if (!keys.length) return;
    const good = keys.filter((k) => {
      if (KEY_LINE.test(k)) return true;
      ctx.problems.warn("metadata", undefined, `public key '${k.slice(0, 24)}…' is not a plain OpenSSH key line; skipped`);
      return false;
    });
    if (!good.length) return;
    const home = ctx.accounts.user("root")?.home || "/root";
    const path = `${home}/.ssh/authorized_keys`;
    const before = ctx.root.readText(path, 1 << 20);
    const have = new Set((before ?? "").split("\n").map((l) => l.trim()));
    const add = good.filter((k) => !have.has(k));
    if (!add.length) return;
    ctx.dirs(`${home}/.ssh`, 0o700);
    const base = before === null || before === "" || before.endsWith("\n") ? before ?? "" : before + "\n";
    ctx.file(path, base + add.map((k) => k + "\n").join(""), { mode: 0o600 });
  },
};
