import { escapeName } from "../../cli/output";
import { GROUP_NAME, USER_NAME, safeAbsolutePath } from "../names";
import type { PlanContext } from "../plan";
import type { Plugin } from "./types";
import { parseUsers, validPassword } from "./users-list";

export const DEFAULT_SHELL = "/bin/bash";

/**
 * Accounts: `users = user:group:password,…` adds each missing group and user
 * (uids and gids from UID_MIN/GID_MIN of the root's login.defs, the user's
 * group taking the same number when free), a home of its own (0700, from
 * /etc/skel), the `shell`. An empty password leaves the account locked (`!`);
 * a given one is stored hashed only. An account that exists is kept as it is.
 */
export const users: Plugin = {
  name: "users",
  group: "cernvm",
  keys: {
    cernvm: {
      users: "user:group:password,… accounts to add (empty password: locked; stored hashed)",
      shell: "login shell of the users added (default /bin/bash)",
    },
  },
  plan(ctx: PlanContext) {
    const s = ctx.section("cernvm");
    const shell = s.get("shell") || DEFAULT_SHELL;
    if (!safeAbsolutePath(shell)) return s.error("shell", `'${escapeName(shell.slice(0, 80))}': expected an absolute path such as /bin/bash`);
    const specs = parseUsers(s.get("users"));
    if (!specs.length) return;
    if (s.has("shell")) {
      const shells = ctx.root.readText("/etc/shells", 1 << 20);
      if (shells !== null && !shells.split("\n").some((l) => l.trim() === shell)) s.warn("shell", `${shell} is not listed in /etc/shells`);
    }
    // a bad entry is an error (the run will be refused); the good ones are still planned, so later keys that name them are checked too
    const seen = new Set<string>();
    const good = specs.filter((u) => {
      if (!USER_NAME.test(u.name)) return s.error("users", `'${escapeName(u.name.slice(0, 40))}' is not a valid user name (expected [a-z_][a-z0-9_-]*, at most 32)`), false;
      if (!GROUP_NAME.test(u.group)) return s.error("users", `${u.name}: '${escapeName(u.group.slice(0, 40))}' is not a valid group name`), false;
      if (!validPassword(u.password)) return s.error("users", `${u.name}: the password has control characters or is longer than 256`), false;
      if (seen.has(u.name)) return s.error("users", `${u.name} is listed twice`), false;
      seen.add(u.name);
      return true;
    });
    const homes: { path: string; uid: number; gid: number; user: string }[] = [];
    for (const u of good) {
      if (ctx.accounts.user(u.name)) {
        if (u.password) s.warn("users", `${u.name} exists; kept as it is (its password is not changed)`);
        continue;
      }
      const uid = ctx.accounts.nextUid();
      if (uid === undefined) return s.error("users", `${u.name}: no free uid left in UID_MIN..UID_MAX`);
      const existing = ctx.accounts.group(u.group);
      if (existing?.gid === 0) return s.error("users", `${u.name}: group ${u.group} has gid 0; a new user may not get root's group`);
      const group = existing ?? ctx.accounts.addGroup(u.group, uid);
      if (!group) return s.error("users", `${u.name}: no free gid left in GID_MIN..GID_MAX`);
      const home = `/home/${u.name}`;
      ctx.accounts.addUser({ name: u.name, uid, gid: group.gid, home, shell, group: u.group, password: u.password ? { kind: "set", plain: u.password } : { kind: "locked" } });
      if (ctx.root.lstat(home, "keep")) s.warn("users", `${u.name}: ${home} exists already; kept as it is`);
      else homes.push({ path: home, uid, gid: group.gid, user: u.name });
    }
    if (!ctx.accounts.newUsers.length) return;
    ctx.add({ kind: "accounts", groups: [...ctx.accounts.newGroups], users: [...ctx.accounts.newUsers] });
    if (homes.length) ctx.dirs("/home");
    for (const h of homes) ctx.add({ kind: "home", ...h });
  },
};
