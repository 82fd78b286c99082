import { createPublicKey, randomBytes, X509Certificate, type KeyObject } from "node:crypto";
import { hashBytes, type ContentHash, type HashAlgorithm } from "./hash";
import { formatFingerprintLine } from "./whitelist";

/** The DER of the first certificate in a PEM text. */
function firstDer(pem: string): Uint8Array {
  return new Uint8Array(new X509Certificate(pem).raw);
}

/** What the whitelist lists: the hash of the certificate's DER encoding. */
export function certificateFingerprint(pem: string, algorithm: HashAlgorithm = "sha1"): ContentHash {
  return hashBytes(algorithm, firstDer(pem));
}

export const formatFingerprint = formatFingerprintLine;

export function certificatePublicKey(pem: string): KeyObject {
  return createPublicKey(new X509Certificate(pem).publicKey.export({ format: "pem", type: "spki" }));
}

/**
 * The self-signed publisher certificate cvmfs_server makes: CN "<fqrn> CernVM-FS
 * Release Managers" (the name cut to 30 characters + "[...]"), one year; the
 * client checks only that the whitelist lists its fingerprint.
 */
export async function generateRepositoryCertificate(fqrn: string, key: KeyObject): Promise<string> {
  const { x509 } = await import("../proxy/x509");
  const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;
  const signingKey = await crypto.subtle.importKey("pkcs8", key.export({ format: "der", type: "pkcs8" }), alg, false, ["sign"]);
  const publicKey = await crypto.subtle.importKey("spki", createPublicKey(key).export({ format: "der", type: "spki" }), alg, true, ["verify"]);
  const cn = `${fqrn.length > 30 ? fqrn.slice(0, 30) + "[...]" : fqrn} CernVM-FS Release Managers`;
  const serial = randomBytes(8);
  serial[0] &= 0x7f; // positive
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: [{ CN: [cn] }],
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 86400_000),
    signingAlgorithm: alg,
    keys: { privateKey: signingKey, publicKey },
  });
  return cert.toString("pem") + "\n";
}
