import { CvmError } from "../../cli/errors";
import { escapeName } from "../../cli/output";
import { decodeBase64 } from "../decode";
import { USER_NAME, safeAbsolutePath } from "../names";
import type { PlanContext, SectionView } from "../plan";
import type { Plugin } from "./types";
import { parseUsers } from "./users-list";

const CREDENTIAL_MAX = 1 << 20;

/**
 * The grid proxy for the pilot: `x509-cert` (base64 of the proxy file, as
 * `cvm run --proxy` embeds it) or `x509-cert-file` (a file in the guest) is
 * written to /tmp/x509up_u<uid> of `x509-user` (default: the first of
 * `users`, else root), mode 0600, owned by that user, where grid tools and
 * `cvm proxy info` look. `eos-x509-cert` goes to /tmp/x509up_u<uid>.eos of
 * `eos-user`. The content must be a PEM certificate chain with its key.
 */
async function checkCredential(pem: string, s: SectionView, key: string): Promise<boolean> {
  // the proxy code loads only when there is a proxy to check
  const { parseCertificate } = await import("../../proxy/cert");
  const { isPrivateKeyLabel, parsePem } = await import("../../proxy/pem");
  let blocks;
  try {
    blocks = parsePem(pem);
  } catch (err) {
    s.error(key, `not a usable proxy: ${(err as Error).message}`);
    return false;
  }
  const certs = blocks.filter((b) => b.label === "CERTIFICATE");
  if (!certs.length) { s.error(key, "not a proxy: no PEM certificate in it"); return false; }
  if (!blocks.some((b) => isPrivateKeyLabel(b.label))) { s.error(key, "not a proxy: no private key in it"); return false; }
  try {
    const notAfter = Math.min(...certs.map((c) => parseCertificate(c.der).notAfter.getTime()));
    if (notAfter < Date.now()) s.warn(key, `the proxy expired on ${new Date(notAfter).toISOString()}`);
  } catch (err) {
    s.error(key, `not a proxy: malformed certificate: ${(err as Error).message}`);
    return false;
  }
  return true;
}

function decoded(s: SectionView, key: string): string | undefined {
  const v = s.get(key);
  if (v === undefined) return undefined;
  try {
    return decodeBase64(v, key).toString("latin1");
  } catch (err) {
    if (err instanceof CvmError) { s.error(key, "not valid base64 (expected the base64 of a proxy file)"); return undefined; }
    throw err;
  }
}

function fromFile(ctx: PlanContext, s: SectionView, key: string): string | undefined {
  const path = s.get(key)!;
  if (!safeAbsolutePath(path)) { s.error(key, `'${escapeName(path.slice(0, 80))}': expected an absolute path`); return undefined; }
  try {
    const b = ctx.root.read(path, CREDENTIAL_MAX);
    if (!b) { s.error(key, `${path}: no such file`); return undefined; }
    return b.toString("latin1");
  } catch (err) {
    if (err instanceof CvmError) { s.error(key, err.message); return undefined; }
    throw err;
  }
}

function owner(ctx: PlanContext, s: SectionView, key: string, fallback: string, certKey: string): { name: string; uid: number; gid: number } | undefined {
  const name = s.get(key) || fallback;
  const at = s.has(key) ? key : certKey; // the problem is reported where the name came from
  if (!USER_NAME.test(name)) { s.error(at, `'${escapeName(name.slice(0, 40))}' is not a valid user name`); return undefined; }
  const u = ctx.accounts.user(name);
  if (!u) { s.error(at, `${s.has(key) ? "" : `its user (the first of users) `}${name} is unknown (not in /etc/passwd nor in users)`); return undefined; }
  return { name, uid: u.uid, gid: u.gid };
}

export const x509: Plugin = {
  name: "x509",
  group: "cernvm",
  keys: {
    cernvm: {
      x509_cert: "base64 of a proxy (as `cvm run --proxy` embeds it) → /tmp/x509up_u<uid> of x509-user, 0600",
      x509_cert_file: "a proxy file in the guest, copied there instead",
      x509_user: "who gets the proxy (default: the first of users, else root)",
      eos_x509_cert: "base64 of a proxy → /tmp/x509up_u<uid>.eos of eos-user",
    },
  },
  async plan(ctx: PlanContext) {
    const s = ctx.section("cernvm");
    const first = parseUsers(s.get("users"))[0]?.name ?? "root";
    const hasCert = s.has("x509_cert"), hasFile = s.has("x509_cert_file");
    if (hasCert && hasFile) return s.error("x509_cert_file", "x509-cert and x509-cert-file exclude each other");
    s.get("x509_user");
    const give = async (pem: string | undefined, key: string, user: { name: string; uid: number; gid: number } | undefined, suffix: string) => {
      if (pem === undefined || !user || !(await checkCredential(pem, s, key))) return;
      const path = `/tmp/x509up_u${user.uid}${suffix}`;
      ctx.dirs("/tmp", 0o1777);
      ctx.add({ kind: "file", path, content: pem, before: null, mode: 0o600, uid: user.uid, gid: user.gid, secret: true, replaceLink: true, proxy: true });
      if (!suffix) ctx.proxies.set(user.name, path);
    };
    if (hasCert || hasFile) {
      const user = owner(ctx, s, "x509_user", first, hasCert ? "x509_cert" : "x509_cert_file");
      await give(hasCert ? decoded(s, "x509_cert") : fromFile(ctx, s, "x509_cert_file"), hasCert ? "x509_cert" : "x509_cert_file", user, "");
    }
    if (s.has("eos_x509_cert")) {
      const user = owner(ctx, s, "eos_user", s.get("x509_user") || first, "eos_x509_cert");
      await give(decoded(s, "eos_x509_cert"), "eos_x509_cert", user, ".eos");
    }
  },
};
