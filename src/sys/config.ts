import { homedir } from "node:os";
import { join } from "node:path";

/** cvm's own settings: ~/.config/cvm (XDG_CONFIG_HOME, CVM_CONFIG_DIR override). */
export const configDir = (env = process.env) => env.CVM_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(homedir(), ".config"), "cvm");

/** Seconds of silence before a server counts as dead (CVM_HTTP_TIMEOUT overrides the default 20). */
export function httpTimeoutSeconds(env = process.env): number {
  const v = Number(env.CVM_HTTP_TIMEOUT);
  return v > 0 && Number.isFinite(v) ? v : 20;
}
