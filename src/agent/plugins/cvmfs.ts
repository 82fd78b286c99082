import { createPublicKey } from "node:crypto";
import { CvmError } from "../../cli/errors";
import { decodeBase64 } from "../decode";
import { splitList } from "../ini";
import { DOMAIN_NAME, REPOSITORY_NAME, hasControl, safeAbsolutePath, validHostname } from "../names";
import { ShellConfig } from "../shell-config";
import { quoteValue, type PlanContext, type SectionView } from "../plan";
import type { Plugin } from "./types";

/**
 * The CernVM-FS client configuration, in the stock layout that the stratum
 * client and `cvm mount` read: /etc/cvmfs/default.local (CVMFS_REPOSITORIES,
 * CVMFS_HTTP_PROXY and every [cvmfs] key), and for each extra repository
 * /etc/cvmfs/config.d/<fqrn>.conf with its public key in /etc/cvmfs/keys/.
 */

const DEFAULT_DOMAIN = "cern.ch";
const HEADER = "# CernVM-FS client settings from user_data (cvm agent); other lines are kept as they are";

/** `http://squid:3128|http://squid2:3128;DIRECT`: `;` separates fail-over groups, `|` load-balances within one. */
export function validProxyList(v: string): boolean {
  if (!v) return false;
  return v.split(";").every((group) => group.split("|").every((p) => p === "DIRECT" || p === "auto" || /^http:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}\/?$/.test(p) && validPort(p)));
}
const validPort = (url: string) => { const n = Number(/:(\d+)\/?$/.exec(url)![1]); return n >= 1 && n <= 65535; };

const SERVER_URL = /^https?:\/\/([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?(\/[A-Za-z0-9._~@\/-]*)?$/;

/** Values of the [cvmfs] keys that have a shape to check; the rest need only be one line of text. */
function checkCvmfsValue(key: string, v: string): string | undefined {
  switch (key) {
    case "CVMFS_QUOTA_LIMIT": return /^-?\d+$/.test(v) ? undefined : "expected a number of megabytes (-1 for no limit)";
    case "CVMFS_CACHE_BASE": case "CVMFS_KEYS_DIR": case "CVMFS_DEBUGLOG": return safeAbsolutePath(v) ? undefined : "expected an absolute path";
    case "CVMFS_HTTP_PROXY": case "CVMFS_FALLBACK_PROXY": return validProxyList(v) ? undefined : "expected proxies like http://HOST:PORT or DIRECT, '|' within a group, ';' between groups";
    case "CVMFS_SERVER_URL": return v.split(";").every((u) => SERVER_URL.test(u)) ? undefined : "expected http(s) URLs separated by ';'";
    case "CVMFS_DEFAULT_DOMAIN": return DOMAIN_NAME.test(v) ? undefined : "expected a domain such as cern.ch";
    case "CVMFS_REPOSITORIES": return splitList(v).every((r) => REPOSITORY_NAME.test(r)) ? undefined : "expected repository names separated by ','";
    default: return hasControl(v) || v.length > 4096 ? "control characters or too long" : undefined;
  }
}

interface ExtraRepo { fqrn: string; url: string; key: string; }

function extraRepositories(s: SectionView, domain: string): ExtraRepo[] {
  const out: ExtraRepo[] = [];
  for (const item of splitList(s.get("extra_repositories") ?? "")) {
    const [name, server, key, ...rest] = item.split("|").map((x) => x.trim());
    if (rest.length || key === undefined) { s.error("extra_repositories", `'${item.slice(0, 40)}…': expected NAME|SERVER|BASE64-PUBLIC-KEY`); continue; }
    const lower = name.toLowerCase();
    if (!REPOSITORY_NAME.test(lower)) { s.error("extra_repositories", `${quoteValue(name)}: not a repository name`); continue; }
    const fqrn = lower.includes(".") ? lower : `${lower}.${domain}`;
    let url: string;
    if (/^https?:\/\//.test(server)) url = server;
    else if (/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(server) && validHostname(server.split(":")[0])) url = `http://${server}/cvmfs/${fqrn}`;
    else { s.error("extra_repositories", `${fqrn}: server ${quoteValue(server)}: expected HOST[:PORT] or an http(s) URL`); continue; }
    if (!SERVER_URL.test(url)) { s.error("extra_repositories", `${fqrn}: server ${quoteValue(server)}: not a usable URL`); continue; }
    let pem: string;
    try {
      pem = decodeBase64(key, "key").toString("latin1");
      if (!/-----BEGIN PUBLIC KEY-----/.test(pem)) throw new CvmError("no PEM public key");
      createPublicKey(pem);
    } catch (err) {
      s.error("extra_repositories", `${fqrn}: the key is not ${err instanceof CvmError && /base64/.test(err.message) ? "valid base64" : "a base64 PEM public key"}`);
      continue;
    }
    out.push({ fqrn, url, key: pem.endsWith("\n") ? pem : pem + "\n" });
  }
  return out;
}

export const cvmfs: Plugin = {
  name: "cvmfs",
  group: "cernvm",
  keys: {
    cernvm: {
      repositories: "CVMFS_REPOSITORIES in /etc/cvmfs/default.local; short names get the default domain (cms → cms.cern.ch)",
      extra_repositories: "NAME|SERVER|BASE64-KEY,… → /etc/cvmfs/config.d/<fqrn>.conf and /etc/cvmfs/keys/<fqrn>.pub",
      proxy: "CVMFS_HTTP_PROXY in /etc/cvmfs/default.local (quoted)",
    },
    cvmfs: { "*": "any CVMFS_* client setting (quota_limit or CVMFS_QUOTA_LIMIT, …) → /etc/cvmfs/default.local" },
  },
  plan(ctx: PlanContext) {
    const s = ctx.section("cernvm");
    const c = ctx.section("cvmfs");
    const settings = new Map<string, string>();
    for (const e of c.section?.entries.values() ?? []) {
      const key = e.key.toUpperCase().startsWith("CVMFS_") ? e.key.toUpperCase() : `CVMFS_${e.key.toUpperCase()}`;
      c.used.add(e.key);
      if (!/^CVMFS_[A-Z0-9_]+$/.test(key)) { c.error(e.key, "not a CernVM-FS setting name"); continue; }
      const why = checkCvmfsValue(key, e.value);
      if (why) { c.error(e.key, why); continue; }
      settings.set(key, e.value);
    }
    const domain = settings.get("CVMFS_DEFAULT_DOMAIN") ?? DEFAULT_DOMAIN;
    const repos: string[] = [];
    for (const r of splitList(s.get("repositories") ?? "")) {
      const lower = r.toLowerCase();
      if (!REPOSITORY_NAME.test(lower)) { s.error("repositories", `${quoteValue(r)}: not a repository name`); continue; }
      repos.push(lower.includes(".") ? lower : `${lower}.${domain}`);
    }
    const extras = extraRepositories(s, domain);
    for (const x of extras) if (!repos.includes(x.fqrn)) repos.push(x.fqrn);
    if (repos.length) {
      if (settings.has("CVMFS_REPOSITORIES")) c.warn("cvmfs_repositories", "given here and as [cernvm] repositories; this one counts");
      else settings.set("CVMFS_REPOSITORIES", [...new Set(repos)].join(","));
    }
    const proxy = s.get("proxy");
    if (proxy !== undefined) {
      if (!validProxyList(proxy)) s.error("proxy", `${quoteValue(proxy)}: expected proxies like http://HOST:PORT or DIRECT, '|' within a group, ';' between groups`);
      else if (settings.has("CVMFS_HTTP_PROXY")) c.warn("cvmfs_http_proxy", "given here and as [cernvm] proxy; this one counts");
      else settings.set("CVMFS_HTTP_PROXY", proxy);
    }
    for (const r of splitList(settings.get("CVMFS_REPOSITORIES") ?? "")) ctx.repositories.push(r.includes(".") ? r.toLowerCase() : `${r.toLowerCase()}.${domain}`);
    for (const x of extras) ctx.repositories.push(x.fqrn);
    if (settings.size) {
      const file = ShellConfig.parse(ctx.root.readText("/etc/cvmfs/default.local"), HEADER);
      for (const [k, v] of settings) file.set(k, v);
      ctx.dirs("/etc/cvmfs");
      ctx.file("/etc/cvmfs/default.local", file.render(), { mode: 0o644 });
    }
    for (const x of extras) {
      ctx.dirs("/etc/cvmfs/config.d");
      ctx.dirs("/etc/cvmfs/keys");
      const keyPath = `/etc/cvmfs/keys/${x.fqrn}.pub`;
      const conf = ShellConfig.parse(ctx.root.readText(`/etc/cvmfs/config.d/${x.fqrn}.conf`), HEADER)
        .set("CVMFS_SERVER_URL", x.url).set("CVMFS_PUBLIC_KEY", keyPath);
      ctx.file(keyPath, x.key, { mode: 0o644 });
      ctx.file(`/etc/cvmfs/config.d/${x.fqrn}.conf`, conf.render(), { mode: 0o644 });
    }
  },
};
