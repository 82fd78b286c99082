import { escapeName } from "../../cli/output";
import { splitList } from "../ini";
import { USER_NAME, hasControl, onOff, validHostname } from "../names";
import type { PlanContext, SectionView } from "../plan";
import { ShellConfig } from "../shell-config";
import type { Plugin } from "./types";
import { DEFAULT_SHELL } from "./users";
import { parseUsers } from "./users-list";

const SITE = "/etc/cernvm/site.conf";

/** key → [site.conf name, check (undefined = fine, else what was expected)]. */
const RECORDED: Record<string, [string, (v: string) => string | undefined, string]> = {
  organisations: ["CERNVM_ORGANISATION", (v) => list(v, /^[a-z0-9][a-z0-9_-]*$/, "lowercase experiment names separated by ','"), "experiments (atlas,cms,…) → CERNVM_ORGANISATION"],
  group_profile: ["CERNVM_GROUP_PROFILE", (v) => (/^[a-z0-9][a-z0-9_-]*$/.test(v) ? undefined : "a profile name such as group-cms"), "CernVM group profile (group-cms, …) → CERNVM_GROUP_PROFILE"],
  edition: ["CERNVM_EDITION", (v) => (/^(basic|desktop)$/i.test(v) ? undefined : "Basic or Desktop"), "Basic or Desktop → CERNVM_EDITION"],
  screenres: ["CERNVM_SCREEN_RES", (v) => (/^\d{3,5}x\d{3,5}$/.test(v) ? undefined : "WIDTHxHEIGHT such as 1280x700"), "screen resolution → CERNVM_SCREEN_RES"],
  startxdm: ["CERNVM_START_XDM", (v) => (onOff(v) ? undefined : "on or off"), "on/off → CERNVM_START_XDM"],
  keyboard: ["CERNVM_KEYBOARD", (v) => (/^[a-z]{2,8}([_-][A-Za-z0-9]{1,16})*$/.test(v) ? undefined : "a keyboard layout such as us or de"), "keyboard layout → CERNVM_KEYBOARD"],
  griduiversion: ["CERNVM_GRID_UI_VERSION", (v) => (/^[A-Za-z0-9._-]{1,64}$/.test(v) ? undefined : "a version"), "grid UI version → CERNVM_GRID_UI_VERSION"],
  swap_size: ["CERNVM_SWAP_SIZE", (v) => (/^(auto|\d+[kKmMgG]?)$/.test(v) ? undefined : "auto or a size such as 2g"), "auto or a size (2g) → CERNVM_SWAP_SIZE"],
  desktop_icons: ["CERNVM_DESKTOP_ICONS", (v) => (hasControl(v) || v.length > 1024 ? "one line of text" : undefined), "desktop icons → CERNVM_DESKTOP_ICONS"],
  eos_user: ["CERNVM_EOS_USER", (v) => (USER_NAME.test(v) ? undefined : "a user name"), "EOS user → CERNVM_EOS_USER (EOS is not mounted by the agent)"],
  eos_server: ["CERNVM_EOS_SERVER", (v) => (validHostname(v.replace(/:\d{1,5}$/, "")) ? undefined : "HOST[:PORT]"), "EOS server → CERNVM_EOS_SERVER"],
  eos_readaheadsize: ["CERNVM_EOS_READAHEADSIZE", (v) => (/^\d+$/.test(v) ? undefined : "a number of bytes"), "→ CERNVM_EOS_READAHEADSIZE"],
  eos_readcachesize: ["CERNVM_EOS_READCACHESIZE", (v) => (/^\d+$/.test(v) ? undefined : "a number of bytes"), "→ CERNVM_EOS_READCACHESIZE"],
};

/** Keys amiconfig knew that do nothing today: understood, and said so. */
const OBSOLETE: Record<string, string> = {
  contextualization_key: "CernVM Online pairing no longer exists; ignored",
  entitlement_key: "CernVM-FS dropped entitlement keys; ignored",
  config_url: "amiconfig never used it; ignored",
};

function list(v: string, item: RegExp, expected: string): string | undefined {
  return splitList(v).every((x) => item.test(x)) ? undefined : expected;
}

function check(s: SectionView, key: string, v: string, why: string | undefined): boolean {
  if (why) s.error(key, `'${escapeName(v.slice(0, 60))}': expected ${why}`);
  return !why;
}

/**
 * The CernVM settings amiconfig recorded in /etc/cernvm/site.conf (KEY=value,
 * replaced in place): organisations, the first user and their group and
 * shell, auto_login, group_profile, edition, screen, keyboard, grid UI, swap
 * size, desktop icons, EOS. They are recorded for the image's own scripts;
 * the agent does not act on them.
 */
export const site: Plugin = {
  name: "site",
  group: "cernvm",
  keys: {
    cernvm: {
      auto_login: "on/off → CERNVM_AUTOLOGIN (default off)",
      ...Object.fromEntries(Object.entries(RECORDED).map(([k, r]) => [k, r[2]])),
      ...OBSOLETE,
    },
  },
  plan(ctx: PlanContext) {
    const s = ctx.section("cernvm");
    if (!s.section) return;
    for (const [key, why] of Object.entries(OBSOLETE)) if (s.has(key)) s.warn(key, why);
    const conf = ShellConfig.parse(ctx.root.readText(SITE, 1 << 20), "# CernVM settings from user_data (cvm agent); other lines are kept as they are");
    let ok = true;
    for (const [key, [name, test]] of Object.entries(RECORDED)) {
      const v = s.get(key);
      if (v === undefined) continue;
      if (check(s, key, v, test(v))) conf.set(name, key === "edition" ? v[0].toUpperCase() + v.slice(1).toLowerCase() : key === "startxdm" ? onOff(v)! : v);
      else ok = false;
    }
    const autologin = s.get("auto_login") ?? "off";
    if (!check(s, "auto_login", autologin, onOff(autologin) ? undefined : "on or off")) ok = false;
    if (!ok) return;
    const first = parseUsers(s.get("users"))[0];
    if (first) conf.set("CERNVM_USER", first.name).set("CERNVM_USER_GROUP", first.group);
    conf.set("CERNVM_USER_SHELL", s.get("shell") || DEFAULT_SHELL).set("CERNVM_AUTOLOGIN", onOff(autologin)!);
    ctx.dirs("/etc/cernvm");
    ctx.file(SITE, conf.render(), { mode: 0o644 });
  },
};
