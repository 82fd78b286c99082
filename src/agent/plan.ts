import { escapeName } from "../cli/output";
import type { Accounts, NewGroup, NewUser } from "./accounts";
import type { IniEntry, IniSection } from "./ini";
import type { NetworkConfig } from "./network/model";
import type { Problems } from "./problems";
import type { RootFs } from "./root";

/**
 * What the plugins decide, before anything is touched: a list of steps, each
 * a list of small actions against the root. `--dry-run` prints it; apply runs
 * it. Files carry their current content so the plan can show a diff.
 */
export type Action =
  | { kind: "mkdir"; path: string; mode: number; uid: number; gid: number }
  | { kind: "file"; path: string; content: string | Uint8Array; before: string | null; mode: number; uid: number; gid: number; secret?: boolean; replaceLink?: boolean; proxy?: boolean }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "accounts"; groups: NewGroup[]; users: NewUser[] }
  | { kind: "home"; path: string; uid: number; gid: number; user: string }
  | { kind: "hostname"; name: string }
  | { kind: "service"; unit: string; found: string | null }
  | { kind: "mount"; fqrn: string; path: string }
  | { kind: "command"; user: string; uid: number; gid: number; groups: number[]; path: string; args: string[]; env: Record<string, string>; home: string }
  | { kind: "note"; text: string };

export interface Step { name: string; actions: Action[]; }

export interface Metadata { instanceId?: string; hostname?: string; publicKeys: string[]; network?: NetworkConfig; }

/** One section as a plugin reads it: the keys it takes are marked used, so the rest can be named as unknown. */
export class SectionView {
  readonly used = new Set<string>();
  constructor(readonly section: IniSection | undefined, private readonly problems: Problems, readonly name: string) {}

  entry(key: string): IniEntry | undefined {
    this.used.add(key);
    return this.section?.entries.get(key);
  }
  get(key: string): string | undefined {
    return this.entry(key)?.value;
  }
  has(key: string): boolean {
    return this.entry(key) !== undefined;
  }
  private at(key: string): [string, number | undefined] {
    const e = this.section?.entries.get(key);
    return [e?.where ?? this.section?.where ?? "user_data", e?.line ?? this.section?.line];
  }
  error(key: string, message: string): void {
    this.problems.error(...this.at(key), `[${this.name}] ${key}: ${message}`);
  }
  warn(key: string, message: string): void {
    this.problems.warn(...this.at(key), `[${this.name}] ${key}: ${message}`);
  }
}

export class PlanContext {
  readonly steps: Step[] = [];
  /** Environment for contextualization commands (the `environment` key). */
  readonly environment = new Map<string, string>();
  /** The repositories of the user_data (fully qualified), for the mounts. */
  readonly repositories: string[] = [];
  /** user → the guest path of the proxy the agent gives them. */
  readonly proxies = new Map<string, string>();
  private step: Step | undefined;

  constructor(readonly root: RootFs, readonly problems: Problems, readonly accounts: Accounts, readonly meta: Metadata, readonly sections: Map<string, SectionView>) {}

  section(name: string): SectionView {
    let v = this.sections.get(name);
    if (!v) this.sections.set(name, (v = new SectionView(undefined, this.problems, name)));
    return v;
  }

  begin(name: string): void {
    this.step = { name, actions: [] };
    this.steps.push(this.step);
  }

  /** The current step under another name (a plugin whose items are each a step of their own). */
  rename(name: string): void {
    this.step!.name = name;
  }

  add(action: Action): void {
    this.step!.actions.push(action);
  }

  /** A whole file: its current content is read now (for the diff); an unchanged file is no action. */
  file(path: string, content: string, o: { mode?: number; uid?: number; gid?: number; secret?: boolean } = {}): void {
    const before = this.root.readText(path);
    if (before === content) return;
    const st = before !== null ? this.root.lstat(path, "follow") : null;
    // an existing file keeps its mode and owner (/etc/shadow stays 0640 root:shadow)
    this.add({ kind: "file", path, content, before, mode: o.mode ?? (st ? st.mode & 0o7777 : 0o644), uid: o.uid ?? st?.uid ?? 0, gid: o.gid ?? st?.gid ?? 0, secret: o.secret });
  }

  /** The missing directories of `path`, created with this mode and owner. */
  dirs(path: string, mode = 0o755, uid = 0, gid = 0): void {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = "/" + parts.slice(0, i).join("/");
      if (this.root.lstat(p, "follow")) continue;
      if (this.steps.some((s) => s.actions.some((a) => a.kind === "mkdir" && a.path === p))) continue;
      this.add({ kind: "mkdir", path: p, mode: i === parts.length ? mode : 0o755, uid: i === parts.length ? uid : 0, gid: i === parts.length ? gid : 0 });
    }
  }
}

export const quoteValue = (s: string) => `'${escapeName(s.length > 80 ? s.slice(0, 77) + "..." : s)}'`;
