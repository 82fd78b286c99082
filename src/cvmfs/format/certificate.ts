import { createPublicKey, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import { RepositoryError } from "../errors";
import { ALGORITHM_TAG, hashBytes, type ContentHash, type HashAlgorithm } from "./hash";

/** The first certificate of a PEM text (the client reads the X object with PEM_read_bio_X509_AUX). */
function parsePem(pem: string, what: string): X509Certificate {
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new RepositoryError(`${what}: not a PEM certificate (no 'BEGIN CERTIFICATE' block)`);
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new RepositoryError(`${what}: not a valid PEM certificate (${(err as Error).message.split("\n")[0]})`);
  }
}

/** What the whitelist lists: the hash of the certificate's DER encoding. */
export function certificateFingerprint(pem: string, algorithm: HashAlgorithm = "sha1", what = "certificate"): ContentHash {
  return hashBytes(algorithm, new Uint8Array(parsePem(pem, what).raw));
}

/**
 * The whitelist line for a fingerprint: "AB:CD:…:EF" (as openssl -fingerprint
 * prints it); other algorithms append their tag in capitals after the last
 * byte ("…:EF-RMD160").
 */
export function formatFingerprint(h: ContentHash): string {
  const pairs = Buffer.from(h.digest).toString("hex").toUpperCase().match(/../g) ?? [];
  return pairs.join(":") + ALGORITHM_TAG[h.algorithm].toUpperCase();
}

/** The key that verifies the manifest signature. */
export function certificatePublicKey(pem: string, what = "certificate"): KeyObject {
  return parsePem(pem, what).publicKey;
}

/** "<fqrn> CernVM-FS Release Managers", the name cut to 30 characters + "[...]" as cvmfs_server_ssl.sh does. */
export function repositoryCertificateCommonName(fqrn: string): string {
  return `${fqrn.length > 30 ? fqrn.slice(0, 30) + "[...]" : fqrn} CernVM-FS Release Managers`;
}

/**
 * The self-signed publisher certificate cvmfs_server makes: one year,
 * sha256WithRSAEncryption, a random positive 64-bit serial. The client checks
 * neither dates nor issuer, only that the whitelist lists its fingerprint.
 */
export async function generateRepositoryCertificate(fqrn: string, key: KeyObject): Promise<string> {
  if (key.type !== "private" || key.asymmetricKeyType !== "rsa") throw new RepositoryError(`repository key for ${fqrn}: expected a private RSA key, got a ${key.type} ${key.asymmetricKeyType ?? ""} key`);
  // Loaded here, not at the top: @peculiar/x509 costs start-up time every other command would pay.
  const { x509 } = await import("../../proxy/x509");
  const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
  const privateKey = await crypto.subtle.importKey("pkcs8", key.export({ format: "der", type: "pkcs8" }), alg, false, ["sign"]);
  const publicKey = await crypto.subtle.importKey("spki", createPublicKey(key).export({ format: "der", type: "spki" }), alg, true, ["verify"]);
  const serial = randomBytes(8);
  serial[0] = (serial[0] & 0x7f) || 0x01; // positive, and a full 8 bytes (no leading zero octet)
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: [{ CN: [repositoryCertificateCommonName(fqrn)] }],
    notBefore: new Date(now),
    notAfter: new Date(now + 365 * 86400_000),
    signingAlgorithm: alg,
    keys: { privateKey, publicKey },
  });
  return cert.toString("pem") + "\n";
}
