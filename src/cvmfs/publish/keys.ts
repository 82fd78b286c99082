import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../../sys/atomic";
import { generateRepositoryCertificate } from "../format/certificate";
import { RepositoryError } from "../errors";

/**
 * The publisher's key material, named as upstream names it in /etc/cvmfs/keys:
 * <fqrn>.masterkey (signs the whitelist), <fqrn>.pub (its public half, for
 * clients), <fqrn>.key + <fqrn>.crt (sign each manifest). Private files 0600.
 */
export interface PublisherKeys {
  masterKey: KeyObject;
  masterPublicPem: string;
  repositoryKey: KeyObject;
  certificatePem: string;
  files: { masterkey: string; pub: string; key: string; crt: string };
}

export function keyFiles(dir: string, fqrn: string) {
  return {
    masterkey: join(dir, `${fqrn}.masterkey`),
    pub: join(dir, `${fqrn}.pub`),
    key: join(dir, `${fqrn}.key`),
    crt: join(dir, `${fqrn}.crt`),
  };
}

const rsa2048 = () => generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 65537 });

/** Creates whatever key files are missing; existing ones are kept (a re-run after a crash completes). */
export async function ensureKeys(dir: string, fqrn: string): Promise<{ keys: PublisherKeys; created: string[] }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = keyFiles(dir, fqrn);
  const created: string[] = [];
  if (!existsSync(f.masterkey)) {
    const { privateKey, publicKey } = rsa2048();
    writeFileAtomic(f.masterkey, privateKey.export({ format: "pem", type: "pkcs1" }) as string, 0o600);
    writeFileAtomic(f.pub, publicKey.export({ format: "pem", type: "spki" }) as string, 0o644);
    created.push(f.masterkey, f.pub);
  } else if (!existsSync(f.pub)) {
    writeFileAtomic(f.pub, createPublicKey(readPrivate(f.masterkey)).export({ format: "pem", type: "spki" }) as string, 0o644);
    created.push(f.pub);
  }
  if (!existsSync(f.key)) {
    const { privateKey } = rsa2048();
    writeFileAtomic(f.key, privateKey.export({ format: "pem", type: "pkcs1" }) as string, 0o600);
    created.push(f.key);
  }
  if (!existsSync(f.crt) || created.includes(f.key)) {
    writeFileAtomic(f.crt, await generateRepositoryCertificate(fqrn, readPrivate(f.key)), 0o644);
    created.push(f.crt);
  }
  return { keys: loadPublisherKeys(dir, fqrn), created };
}

function readPrivate(file: string): KeyObject {
  try {
    return createPrivateKey(readFileSync(file));
  } catch (err) {
    throw new RepositoryError(`${file}: cannot read the private key: ${(err as Error).message}`);
  }
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    throw new RepositoryError(`${file}: missing ${what} (run 'cvm publish init' or restore it)`);
  }
}

export function loadPublisherKeys(dir: string, fqrn: string): PublisherKeys {
  const f = keyFiles(dir, fqrn);
  readText(f.masterkey, "master key");
  readText(f.key, "repository key");
  return {
    masterKey: readPrivate(f.masterkey),
    masterPublicPem: readText(f.pub, "master public key"),
    repositoryKey: readPrivate(f.key),
    certificatePem: readText(f.crt, "repository certificate"),
    files: f,
  };
}
