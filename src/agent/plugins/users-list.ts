import { hasControl } from "../names";
import { splitList } from "../ini";

/**
 * `users = user:group:password,…` as amiconfig reads it: the first two `:`
 * separate, the rest is the password (it may hold `:`); a missing group is
 * the user's name, an empty password means none (the account is locked).
 */
export interface UserSpec { name: string; group: string; password: string; }

export function parseUsers(value: string | undefined): UserSpec[] {
  if (!value) return [];
  return splitList(value).map((item) => {
    const a = item.indexOf(":");
    if (a < 0) return { name: item, group: item, password: "" };
    const b = item.indexOf(":", a + 1);
    const name = item.slice(0, a).trim();
    const group = (b < 0 ? item.slice(a + 1) : item.slice(a + 1, b)).trim() || name;
    return { name, group, password: b < 0 ? "" : item.slice(b + 1) };
  });
}

/** Passwords go into /etc/shadow as hashes; they may hold anything printable. */
export const validPassword = (p: string) => p.length <= 256 && !hasControl(p);
