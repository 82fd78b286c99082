import type { NewGroup, NewUser } from "./accounts";
import { hashPassword } from "./crypt";
import { lock } from "./lock";
import type { RootFs } from "./root";

/**
 * Adds groups and users to /etc/group, /etc/gshadow, /etc/passwd and
 * /etc/shadow under the root, as useradd does: each file locked the
 * shadow-utils way (`<file>.lock`, made by link(2), a dead holder's lock
 * taken over), read again under the lock, new lines appended with every
 * existing line kept byte for byte, the old file kept as `<file>-`, and the
 * new one written to a temp file and renamed in place with the old mode and
 * owner. Passwords are hashed here and exist nowhere else.
 */

const FILE_MAX = 16 << 20;

const daysSinceEpoch = (now: Date) => Math.floor(now.getTime() / 86_400_000);

function appendLines(root: RootFs, guest: string, lines: (existing: Set<string>) => string[], missingMode: number | null): void {
  const before = root.readText(guest, FILE_MAX);
  if (before === null && missingMode === null) return;
  const names = new Set((before ?? "").split("\n").map((l) => l.split(":")[0]).filter(Boolean));
  const add = lines(names);
  if (!add.length) return;
  const st = before !== null ? root.lstat(guest, "follow") : null;
  const mode = st ? st.mode & 0o7777 : missingMode!;
  const base = before === null || before === "" || before.endsWith("\n") ? before ?? "" : before + "\n";
  if (before !== null) root.write(`${guest}-`, before, mode, st!.uid, st!.gid);
  root.write(guest, base + add.map((l) => l + "\n").join(""), mode, st?.uid ?? 0, st?.gid ?? 0);
}

export function writeAccounts(root: RootFs, groups: NewGroup[], users: NewUser[], cryptPrefix: string | null, now = new Date()): void {
  const files = ["/etc/group", "/etc/gshadow", "/etc/passwd", "/etc/shadow"];
  const unlocks: (() => void)[] = [];
  try {
    for (const f of files) if (f === "/etc/passwd" || f === "/etc/group" || root.lstat(f, "follow")) unlocks.push(lock(root, f));
    // hashes before any file changes: a failure here leaves everything as it was
    const hashes = new Map(users.map((u) => [u.name, u.password.kind === "set" ? hashPassword(u.password.plain, cryptPrefix) : "!"]));
    const fresh = <T extends { name: string }>(list: T[], existing: Set<string>) => list.filter((x) => !existing.has(x.name));
    appendLines(root, "/etc/group", (have) => fresh(groups, have).map((g) => `${g.name}:x:${g.gid}:`), 0o644);
    appendLines(root, "/etc/gshadow", (have) => fresh(groups, have).map((g) => `${g.name}:!::`), null);
    appendLines(root, "/etc/passwd", (have) => fresh(users, have).map((u) => `${u.name}:x:${u.uid}:${u.gid}::${u.home}:${u.shell}`), 0o644);
    appendLines(root, "/etc/shadow", (have) => fresh(users, have).map((u) => `${u.name}:${hashes.get(u.name)}:${daysSinceEpoch(now)}:0:99999:7:::`), 0o600);
  } finally {
    for (const unlock of unlocks.reverse()) unlock();
  }
}
