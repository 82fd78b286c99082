import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./run";

export const PASS = "testpass";

export interface Pki {
  dir: string;
  caCert: string;
  certDir: string;     // hashed trust dir for openssl -CApath / X509_CERT_DIR
  userCert: string;
  userKey: string;     // encrypted PKCS#8 (OpenSSL 3's default)
  keys: Record<string, string>; // every encoding grid-proxy-init accepts
  otherKey: string;    // a key that does not belong to userCert
}

async function openssl(dir: string, ...args: string[]): Promise<string> {
  const r = await run(["openssl", ...args], { cwd: dir });
  if (r.code !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** A throwaway CA and user credential, made with the real openssl (recipe from the grid-proxy reference). */
export async function makePki(opts: { subject?: string; days?: number; name?: string } = {}): Promise<Pki> {
  const dir = mkdtempSync(join(tmpdir(), `cvm-pki-${opts.name ?? "x"}-`));
  const o = (...a: string[]) => openssl(dir, ...a);
  await o("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "365",
    "-subj", "/DC=org/DC=example/CN=Test CA", "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash");
  await o("req", "-newkey", "rsa:2048", "-keyout", "userkey.pem", "-passout", `pass:${PASS}`, "-out", "user.csr",
    "-utf8", "-subj", opts.subject ?? "/DC=org/DC=example/O=Test/CN=Jane Doe");
  writeFileSync(join(dir, "user.ext"), [
    "basicConstraints=critical,CA:FALSE",
    "keyUsage=critical,digitalSignature,keyEncipherment,dataEncipherment",
    "extendedKeyUsage=clientAuth", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid", "",
  ].join("\n"));
  await o("x509", "-req", "-in", "user.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
    "-days", String(opts.days ?? 90), "-out", "usercert.pem", "-extfile", "user.ext");
  const p = (f: string) => join(dir, f);
  const pw = ["-passin", `pass:${PASS}`];
  await o("rsa", "-in", "userkey.pem", ...pw, "-traditional", "-des3", "-passout", `pass:${PASS}`, "-out", "key_pkcs1_des3.pem");
  await o("rsa", "-in", "userkey.pem", ...pw, "-traditional", "-aes256", "-passout", `pass:${PASS}`, "-out", "key_pkcs1_aes256.pem");
  await o("pkey", "-in", "userkey.pem", ...pw, "-out", "key_plain_pkcs8.pem");
  await o("rsa", "-in", "key_plain_pkcs8.pem", "-traditional", "-out", "key_plain_pkcs1.pem");
  await o("pkcs8", "-topk8", "-in", "key_plain_pkcs8.pem", "-v1", "PBE-SHA1-3DES", "-passout", `pass:${PASS}`, "-out", "key_pkcs8_v1_3des.pem");
  await o("pkcs8", "-topk8", "-in", "key_plain_pkcs8.pem", "-v2", "des3", "-passout", `pass:${PASS}`, "-out", "key_pkcs8_v2_des3.pem");
  await o("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "other_key.pem");
  const keys = {
    pkcs8_pbes2_aes256: p("userkey.pem"), pkcs1_des3: p("key_pkcs1_des3.pem"), pkcs1_aes256: p("key_pkcs1_aes256.pem"),
    pkcs8_pbes2_des3: p("key_pkcs8_v2_des3.pem"), pkcs8_v1_3des: p("key_pkcs8_v1_3des.pem"),
    plain_pkcs1: p("key_plain_pkcs1.pem"), plain_pkcs8: p("key_plain_pkcs8.pem"),
  };
  for (const k of [...Object.values(keys), p("other_key.pem")]) chmodSync(k, 0o400);
  chmodSync(p("usercert.pem"), 0o644);
  const certDir = p("certificates");
  mkdirSync(certDir);
  const hash = (await o("x509", "-noout", "-hash", "-in", "ca.pem")).trim();
  writeFileSync(join(certDir, `${hash}.0`), await Bun.file(p("ca.pem")).text());
  return { dir, caCert: p("ca.pem"), certDir, userCert: p("usercert.pem"), userKey: p("userkey.pem"), keys, otherKey: p("other_key.pem") };
}
