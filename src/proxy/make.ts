import { createPrivateKey, randomInt, type KeyObject } from "node:crypto";
import { OID, extension, parseCertificate } from "./cert";
import { TAG, children, encode, encodeOid, readTlv } from "./der";
import { toPem } from "./pem";
import { encodeProxyCertInfo, POLICY_OID } from "./policy";
import type { OpenedCredential } from "./credential";

export const PROXY_BITS = [512, 1024, 2048, 4096] as const;
const CLOCK_SKEW_MS = 5 * 60 * 1000; // not-before is back-dated, as Globus and VOMS do

export interface ProxyRequest {
  validSeconds: number;
  bits: number;
  policy: keyof typeof POLICY_OID;
  pathLength?: number;
  now?: Date;
}

export interface MadeProxy {
  fileText: string;      // proxy cert, proxy key, issuer cert, further chain
  notAfter: Date;
  capped: boolean;       // the lifetime was cut at the issuer's expiry
  serial: number;
}

/** Issuer subject + one RDN `CN=<serial>` as a PrintableString, spliced at the DER level. */
export function proxySubject(issuerSubjectDer: Uint8Array, serial: number): Uint8Array {
  const rdns = children(issuerSubjectDer, readTlv(issuerSubjectDer)).map((t) => issuerSubjectDer.subarray(t.start, t.end));
  const cn = encode(TAG.SET, encode(TAG.SEQUENCE, encodeOid(OID.commonName), encode(TAG.PrintableString, new TextEncoder().encode(String(serial)))));
  return encode(TAG.SEQUENCE, ...rdns, cn);
}

/** keyUsage with keyCertSign and nonRepudiation removed (RFC 3820 §3.7), as a DER BIT STRING. */
function proxyKeyUsage(bits: number): Uint8Array {
  const kept = bits & ~((1 << 1) | (1 << 5));
  const bytes = [0, 0];
  for (let i = 0; i < 9; i++) if (kept & (1 << i)) bytes[i >> 3] |= 0x80 >> (i & 7);
  const used = kept & 0x100 ? 2 : 1;
  const last = bytes[used - 1];
  let unused = 0;
  while (unused < 8 && !(last & (1 << unused))) unused++;
  return encode(TAG.BIT_STRING, Uint8Array.from([last ? unused : 0, ...bytes.slice(0, last ? used : 0)]));
}

/**
 * Makes an RFC 3820 proxy certificate signed by the user's key. The proxy
 * copies the issuer's extended key usage, narrows its key usage, and carries a
 * critical proxyCertInfo with the policy and optional path length.
 */
export async function makeProxy(cred: OpenedCredential, userKey: KeyObject, req: ProxyRequest): Promise<MadeProxy> {
  const { x509 } = await import("./x509");
  const now = req.now ?? new Date();
  const alg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

  const issuerExpiry = Math.min(...cred.chain.map((c) => c.notAfter.getTime()));
  const wanted = now.getTime() + req.validSeconds * 1000;
  const notAfter = new Date(Math.min(wanted, issuerExpiry));

  const keys = (await crypto.subtle.generateKey(
    { ...alg, modulusLength: req.bits, publicExponent: new Uint8Array([1, 0, 1]) }, true, ["sign", "verify"],
  )) as CryptoKeyPair;
  const signingKey = await crypto.subtle.importKey("pkcs8", userKey.export({ format: "der", type: "pkcs8" }), alg, false, ["sign"]);

  const extensions: InstanceType<typeof x509.Extension>[] = [];
  const eku = extension(cred.cert, OID.extKeyUsage);
  if (eku) extensions.push(new x509.Extension(OID.extKeyUsage, eku.critical, eku.value));
  if (cred.cert.keyUsage !== undefined) extensions.push(new x509.Extension(OID.keyUsage, true, proxyKeyUsage(cred.cert.keyUsage)));
  extensions.push(new x509.Extension(OID.proxyCertInfo, true, encodeProxyCertInfo(req.policy, req.pathLength)));

  const serial = randomInt(1, 2 ** 31); // positive 31-bit, and CN=<serial> in decimal
  const subjectDer = proxySubject(cred.cert.subjectDer, serial);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString(16).padStart(8, "0"),
    subject: new x509.Name(subjectDer),
    issuer: new x509.Name(cred.cert.subjectDer),
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter,
    signingAlgorithm: alg,
    publicKey: keys.publicKey,
    signingKey,
    extensions,
  });
  const certDer = new Uint8Array(cert.rawData);
  // The name must survive the library byte for byte, or the real tools reject the proxy.
  if (!Buffer.from(parseCertificate(certDer).subjectDer).equals(subjectDer)) throw new Error("proxy subject was re-encoded");

  const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  // PKCS#1 ("RSA PRIVATE KEY"), as voms-proxy-init writes: every generation of grid software reads it.
  const keyPem = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({ format: "pem", type: "pkcs1" }).toString();
  const fileText = toPem("CERTIFICATE", certDer) + keyPem + cred.certPem + cred.chainPem.join("");
  return { fileText, notAfter, capped: wanted > issuerExpiry, serial };
}
