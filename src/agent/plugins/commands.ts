import { escapeName } from "../../cli/output";
import { splitList } from "../ini";
import { USER_NAME, hasControl, safeAbsolutePath } from "../names";
import type { PlanContext } from "../plan";
import type { Plugin } from "./types";
import { parseUsers } from "./users-list";

/**
 * `contextualization_command = user:/path [ARG…],…`: each command is run
 * directly (execve, never a shell) as that user, with the user's groups, in
 * a clean environment (HOME, USER, PATH, the `environment` variables and
 * X509_USER_PROXY when the user holds the proxy), last, after every other
 * step. Without `user:` it runs as the first of `users`, else root.
 * Arguments are split on blanks and passed as they are, nothing expanded.
 */
export const commands: Plugin = {
  name: "commands",
  group: "cernvm",
  keys: { cernvm: { contextualization_command: "user:/path/to/script [ARG…],… run as that user, directly (no shell), at the end" } },
  plan(ctx: PlanContext) {
    const s = ctx.section("cernvm");
    const items = splitList(s.get("contextualization_command") ?? "");
    if (!items.length) return;
    const fallback = parseUsers(s.get("users"))[0]?.name ?? "root";
    for (const item of items) {
      const colon = item.startsWith("/") ? -1 : item.indexOf(":");
      const name = colon < 0 ? fallback : item.slice(0, colon).trim();
      const [path, ...args] = item.slice(colon + 1).trim().split(/[ \t]+/);
      if (!USER_NAME.test(name)) { s.error("contextualization_command", `'${escapeName(name.slice(0, 40))}' is not a valid user name (expected user:/path)`); continue; }
      if (!safeAbsolutePath(path)) { s.error("contextualization_command", `'${escapeName(path.slice(0, 80))}': expected an absolute path of plain characters (no '..')`); continue; }
      if (args.some(hasControl)) { s.error("contextualization_command", `${path}: control characters in the arguments`); continue; }
      const user = ctx.accounts.user(name);
      if (!user) { s.error("contextualization_command", `unknown user ${name} (not in /etc/passwd nor in users)`); continue; }
      const env: Record<string, string> = {
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8",
        ...Object.fromEntries(ctx.environment),
        // who the command runs as is not for user_data to change
        HOME: user.home, USER: name, LOGNAME: name, SHELL: user.shell,
      };
      const proxy = ctx.proxies.get(name);
      if (proxy) env.X509_USER_PROXY = proxy;
      ctx.add({ kind: "command", user: name, uid: user.uid, gid: user.gid, groups: ctx.accounts.groupsOf(name), path, args, env, home: user.home });
    }
  },
};
