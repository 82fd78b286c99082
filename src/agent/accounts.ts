import type { RootFs } from "./root";

/**
 * The account database under the root (/etc/passwd, /etc/group,
 * /etc/login.defs), as read before planning, plus what the plan adds; the
 * plugins ask it for uids, gids and group members.
 */
export interface User { name: string; uid: number; gid: number; home: string; shell: string; }
export interface Group { name: string; gid: number; members: string[]; }
export type Password = { kind: "locked" } | { kind: "set"; plain: string };
export interface NewUser extends User { password: Password; group: string; }
export interface NewGroup { name: string; gid: number; }

const ACCOUNT_FILE_MAX = 16 << 20;

export class Accounts {
  private readonly users = new Map<string, User>();
  private readonly groups = new Map<string, Group>();
  private readonly usedUids = new Set<number>();
  private readonly usedGids = new Set<number>();
  readonly newUsers: NewUser[] = [];
  readonly newGroups: NewGroup[] = [];
  readonly defs: Map<string, string>;

  constructor(root: RootFs) {
    for (const line of (root.readText("/etc/passwd", ACCOUNT_FILE_MAX) ?? "").split("\n")) {
      const f = line.split(":");
      if (f.length < 7 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
      const u = { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
      if (!this.users.has(u.name)) this.users.set(u.name, u);
      this.usedUids.add(u.uid);
    }
    for (const line of (root.readText("/etc/group", ACCOUNT_FILE_MAX) ?? "").split("\n")) {
      const f = line.split(":");
      if (f.length < 4 || !/^\d+$/.test(f[2])) continue;
      if (!this.groups.has(f[0])) this.groups.set(f[0], { name: f[0], gid: Number(f[2]), members: f[3].split(",").filter(Boolean) });
      this.usedGids.add(Number(f[2]));
    }
    this.defs = new Map();
    for (const line of (root.readText("/etc/login.defs", 1 << 20) ?? "").split("\n")) {
      const m = /^\s*([A-Z_]+)\s+(\S+)/.exec(line);
      if (m) this.defs.set(m[1], m[2]);
    }
  }

  private def(name: string, fallback: number): number {
    const v = Number(this.defs.get(name));
    return Number.isInteger(v) && v > 0 ? v : fallback;
  }

  user(name: string): User | undefined {
    return this.users.get(name);
  }
  group(name: string): Group | undefined {
    return this.groups.get(name);
  }
  /** Whether `name` was in the files before this run. */
  existed(name: string): boolean {
    return this.users.has(name) && !this.newUsers.some((u) => u.name === name);
  }

  /** Primary gid plus every group that lists the user as a member. */
  groupsOf(name: string): number[] {
    const u = this.users.get(name);
    if (!u) return [];
    const gids = new Set([u.gid]);
    for (const g of this.groups.values()) if (g.members.includes(name)) gids.add(g.gid);
    return [...gids];
  }

  private free(used: Set<number>, min: number, max: number, prefer?: number): number | undefined {
    if (prefer !== undefined && prefer >= min && prefer <= max && !used.has(prefer)) return prefer;
    for (let id = min; id <= max; id++) if (!used.has(id) && id !== 65534) return id;
    return undefined;
  }

  /** Plans a new group; undefined when no gid is left in GID_MIN..GID_MAX. */
  addGroup(name: string, prefer?: number): Group | undefined {
    const gid = this.free(this.usedGids, this.def("GID_MIN", 1000), this.def("GID_MAX", 60000), prefer);
    if (gid === undefined) return undefined;
    const g = { name, gid, members: [] };
    this.groups.set(name, g);
    this.usedGids.add(gid);
    this.newGroups.push({ name, gid });
    return g;
  }

  /** The next uid a new user would get. */
  nextUid(): number | undefined {
    return this.free(this.usedUids, this.def("UID_MIN", 1000), this.def("UID_MAX", 60000));
  }

  addUser(u: NewUser): void {
    this.users.set(u.name, u);
    this.usedUids.add(u.uid);
    this.newUsers.push(u);
  }
}
