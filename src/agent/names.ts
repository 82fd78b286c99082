/**
 * The strict patterns every name from user_data must match before it is used
 * in a file, a path or a command line. One place, so validate and apply agree.
 */

/** useradd's default NAME_REGEX, without the trailing `$` of machine accounts; 32 characters at most. */
export const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
export const GROUP_NAME = USER_NAME;

/** A systemd unit name (unit names allow [A-Za-z0-9:_.\\@-]; no backslash escapes from user_data). */
export const UNIT_NAME = /^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,250}$/;
const UNIT_SUFFIXES = /\.(service|socket|timer|target|mount|automount|path|swap|slice)$/;

/** `sshd` → `sshd.service`; a name with a unit suffix stays as it is. */
export const unitName = (name: string) => (UNIT_SUFFIXES.test(name) ? name : `${name}.service`);

/** A portable environment variable name. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Variables that make the dynamic linker or a shell run code of their choosing
 * in every login: refused, whoever sets them.
 */
export function dangerousEnvName(name: string): boolean {
  return /^LD_/.test(name) || ["BASH_ENV", "ENV", "IFS", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "GLOBIGNORE"].includes(name);
}

/** An absolute path of plain characters, no `.` or `..` components, no doubled slash. */
const PATH_CHARS = /^\/[A-Za-z0-9._+@,:=\/-]*$/;
export function safeAbsolutePath(p: string): boolean {
  if (!PATH_CHARS.test(p) || p.length > 4096) return false;
  return p.split("/").slice(1).every((c, i, all) => c !== "." && c !== ".." && (c !== "" || (i === all.length - 1 && all.length === 1)));
}

/** RFC 1123 host name: labels of letters, digits and inner hyphens, 253 characters at most. */
export function validHostname(h: string): boolean {
  return h.length <= 253 && h.split(".").every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** A CernVM-FS repository: short (`atlas`) or fully qualified (`atlas.cern.ch`). */
export const REPOSITORY_NAME = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$/;
export const DOMAIN_NAME = /^[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$/;

/** An instance id names a directory of the agent's state: letters, digits, `.`, `_` and `-`. */
export const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Text that may go into a config file: no control characters (a newline would start a new setting). */
export const hasControl = (s: string) => /[\x00-\x1f\x7f]/.test(s);

/** Values of on/off settings, as amiconfig and the CernVM docs spell them. */
export function onOff(v: string): "on" | "off" | undefined {
  const x = v.toLowerCase();
  if (["on", "yes", "true", "1"].includes(x)) return "on";
  if (["off", "no", "false", "0"].includes(x)) return "off";
  return undefined;
}
