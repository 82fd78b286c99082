import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CvmError, errnoCode } from "../cli/errors";
import { passwdHome } from "../sys/passwd";
import { parseCertificate, type Certificate } from "./cert";
import { DerError } from "./der";
import { octalMode } from "../sys/mode";
import { isPrivateKeyLabel, parsePem, type PemBlock } from "./pem";

export interface CredentialPaths { certPath: string; keyPath: string; }

/**
 * Where the user credential is, in Globus's order: the flag, then
 * X509_USER_CERT / X509_USER_KEY, then ~/.globus of the passwd home directory.
 */
export function locateCredential(flags: { cert?: string; key?: string }, env = process.env): CredentialPaths {
  const globus = join(passwdHome() ?? env.HOME ?? "/", ".globus");
  const certPath = flags.cert || env.X509_USER_CERT || join(globus, "usercert.pem");
  const keyPath = flags.key || env.X509_USER_KEY || join(globus, "userkey.pem");
  return { certPath, keyPath };
}

/** The user certificate (checked, parsed) and its still-locked key. */
export interface OpenedCredential extends CredentialPaths {
  cert: Certificate;
  certPem: string;          // the user certificate as found, re-emitted into proxies
  chainPem: string[];       // any further certificates in the cert file
  chain: Certificate[];
  keyBlock: PemBlock;
}

function stat(path: string, what: string) {
  try {
    return statSync(path);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") throw new CvmError(`${path}: no such ${what} file`);
    throw new CvmError(`${path}: cannot read ${what}: ${(err as Error).message}`);
  }
}

/**
 * Checks both files the way grid-proxy-init does before it asks for a
 * passphrase: permissions, ownership, PEM content, the certificate's validity.
 */
export function openCredential(paths: CredentialPaths, now = new Date()): OpenedCredential {
  const certStat = stat(paths.certPath, "certificate");
  const keyStat = stat(paths.keyPath, "key");
  if (keyStat.mode & 0o177)
    throw new CvmError(`${paths.keyPath}: permissions ${octalMode(keyStat.mode)} are too permissive; a private key may be at most 0600 (chmod 600 ${paths.keyPath})`);
  const uid = process.getuid?.();
  if (uid !== undefined && keyStat.uid !== uid)
    throw new CvmError(`${paths.keyPath}: key file is owned by uid ${keyStat.uid}, not by you (uid ${uid})`);
  if (certStat.mode & 0o133)
    throw new CvmError(`${paths.certPath}: permissions ${octalMode(certStat.mode)} are too permissive; a certificate may be at most 0644`);

  const certBlocks = parsePem(readFileSync(paths.certPath, "latin1")).filter((b) => b.label === "CERTIFICATE");
  if (!certBlocks.length) throw new CvmError(`${paths.certPath}: not a PEM certificate (no 'BEGIN CERTIFICATE' block)`);
  let chain: Certificate[];
  try {
    chain = certBlocks.map((b) => parseCertificate(b.der));
  } catch (err) {
    if (err instanceof DerError) throw new CvmError(`${paths.certPath}: malformed certificate: ${err.message}`);
    throw err;
  }
  const cert = chain[0];
  if (now > cert.notAfter) throw new CvmError(`${paths.certPath}: the user certificate expired on ${cert.notAfter.toUTCString()}`);
  if (now < cert.notBefore) throw new CvmError(`${paths.certPath}: the user certificate is not valid before ${cert.notBefore.toUTCString()}`);

  const keyBlock = parsePem(readFileSync(paths.keyPath, "latin1")).find((b) => isPrivateKeyLabel(b.label));
  if (!keyBlock) throw new CvmError(`${paths.keyPath}: not a PEM private key (no 'BEGIN … PRIVATE KEY' block)`);
  return { ...paths, cert, chain, certPem: certBlocks[0].text, chainPem: certBlocks.slice(1).map((b) => b.text), keyBlock };
}

/** Whether the key needs a passphrase (so the caller knows whether to prompt). */
export function keyIsEncrypted(cred: OpenedCredential): boolean {
  return cred.keyBlock.label === "ENCRYPTED PRIVATE KEY" || cred.keyBlock.text.includes("Proc-Type: 4,ENCRYPTED");
}

/** Decrypts the key (every PEM flavour OpenSSL writes) and checks it belongs to the certificate. */
export function unlockKey(cred: OpenedCredential, passphrase?: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? { key: cred.keyBlock.text } : { key: cred.keyBlock.text, passphrase });
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ERR_OSSL_BAD_DECRYPT" || code === "ERR_OSSL_EVP_BAD_DECRYPT") throw new CvmError(`${cred.keyPath}: bad passphrase for the key`);
    if (code === "ERR_MISSING_PASSPHRASE") throw new CvmError(`${cred.keyPath}: the key is encrypted and no passphrase was given`);
    throw new CvmError(`${cred.keyPath}: cannot read the private key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== "rsa") throw new CvmError(`${cred.keyPath}: ${key.asymmetricKeyType} keys are not supported; grid credentials are RSA`);
  const keySpki = createPublicKey(key).export({ format: "der", type: "spki" });
  if (!Buffer.from(cred.cert.spkiDer).equals(keySpki))
    throw new CvmError(`${cred.certPath} and ${cred.keyPath} do not match: the key is not the private key of this certificate`);
  return key;
}
