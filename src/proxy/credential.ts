import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { join } from "node:path";
import { CvmError, errnoCode } from "../cli/errors";
import { passwdHome } from "../sys/passwd";
import { parseCertificate, type Certificate } from "./cert";
import { DerError } from "./der";
import { octalMode } from "../sys/mode";
import { isPrivateKeyLabel, type PemBlock } from "./pem";
import { noBlockMessage, readCredentialFile } from "./read";

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

/**
 * Checks both files the way grid-proxy-init does before it asks for a
 * passphrase: permissions, ownership, PEM content, the certificate's validity.
 */
export function openCredential(paths: CredentialPaths, now = new Date()): OpenedCredential {
  const certFile = readCredentialFile(paths.certPath, "certificate");
  const keyFile = readCredentialFile(paths.keyPath, "key");
  const certStat = certFile.stat, keyStat = keyFile.stat;
  if (keyStat.mode & 0o177)
    throw new CvmError(`${paths.keyPath}: permissions ${octalMode(keyStat.mode)} are too permissive; a private key may be at most 0600 (chmod 600 ${paths.keyPath})`);
  const uid = process.getuid?.();
  if (uid !== undefined && keyStat.uid !== uid)
    throw new CvmError(`${paths.keyPath}: key file is owned by uid ${keyStat.uid}, not by you (uid ${uid})`);
  if (certStat.mode & 0o133)
    throw new CvmError(`${paths.certPath}: permissions ${octalMode(certStat.mode)} are too permissive; a certificate may be at most 0644`);

  const certBlocks = certFile.blocks.filter((b) => b.label === "CERTIFICATE");
  if (!certBlocks.length) throw new CvmError(`${paths.certPath}: ${noBlockMessage(certFile, "certificate")}`);
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

  const keyBlock = keyFile.blocks.find((b) => isPrivateKeyLabel(b.label));
  if (!keyBlock) throw new CvmError(`${paths.keyPath}: ${noBlockMessage(keyFile, "private key")}`);
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
    const code = errnoCode(err) ?? "";
    if (code === "ERR_MISSING_PASSPHRASE") throw new CvmError(`${cred.keyPath}: the key is encrypted and no passphrase was given`);
    // The PEM envelope names a cipher or IV this build cannot use: no passphrase would help.
    if (/UNSUPPORTED|BAD_IV/.test(code)) throw new CvmError(`${cred.keyPath}: cannot read the private key: its encryption is not supported (${code})`);
    // A wrong passphrase usually fails the padding check, but about one in 256
    // unpads "cleanly" and the garbage then fails to decode: the same mistake.
    if (passphrase !== undefined && keyIsEncrypted(cred)) throw new CvmError(`${cred.keyPath}: bad passphrase for the key`);
    throw new CvmError(`${cred.keyPath}: malformed private key (${code || (err as Error).message})`);
  }
  if (key.asymmetricKeyType !== "rsa") throw new CvmError(`${cred.keyPath}: ${key.asymmetricKeyType} keys are not supported; grid credentials are RSA`);
  const keySpki = createPublicKey(key).export({ format: "der", type: "spki" });
  if (!Buffer.from(cred.cert.spkiDer).equals(keySpki))
    throw new CvmError(`${cred.certPath} and ${cred.keyPath} do not match: the key is not the private key of this certificate`);
  return key;
}
