import type { PlanContext } from "../plan";

/**
 * A plugin: one concern, its keys and their validation in one file (as
 * cloud-init's cc_* modules). `plan` reads its keys through ctx.section(),
 * reports problems there, and adds actions; it never touches the root.
 */
export interface Plugin {
  /** The step's name in logs, status and --dry-run. */
  name: string;
  /** The amiconfig plugin name that enables or disables it ([amiconfig] plugins / disabled_plugins). */
  group: "cernvm" | "hostname" | "rootsshkeys" | "network";
  /** section → key → what it does (every key of the section it reads; "*" = any key of that section). */
  keys: Record<string, Record<string, string>>;
  plan(ctx: PlanContext): void | Promise<void>;
}
