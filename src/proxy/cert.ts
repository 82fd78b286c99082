import { createPublicKey } from "node:crypto";
import { DerError, TAG, children, content, decodeOid, decodeTime, decodeUnsigned, need, readOnly, readTlv, whole, type Tlv } from "./der";
import type { Name } from "./dn";

/** The parts of an X.509 certificate that proxy handling needs, raw bytes kept. */
export interface Certificate {
  der: Uint8Array;
  serial: bigint;
  issuerDer: Uint8Array;   // the Name exactly as encoded
  subjectDer: Uint8Array;
  issuer: Name;
  subject: Name;
  notBefore: Date;
  notAfter: Date;
  spkiDer: Uint8Array;     // SubjectPublicKeyInfo, checked to be a public key
  extensions: Extension[];
  keyUsage?: number;       // bit 0 = digitalSignature; undefined when the extension is absent
  ca: boolean;             // basicConstraints cA=TRUE
}

export interface Extension { oid: string; critical: boolean; value: Uint8Array; }

export const OID = {
  keyUsage: "2.5.29.15",
  extKeyUsage: "2.5.29.37",
  basicConstraints: "2.5.29.19",
  proxyCertInfo: "1.3.6.1.5.5.7.1.14",
  proxyCertInfoDraft: "1.3.6.1.4.1.3536.1.222",
  commonName: "2.5.4.3",
} as const;

const CONTEXT = { version: 0xa0, extensions: 0xa3 } as const;

/**
 * Takes a certificate apart, checking every field it reads against the
 * structure RFC 5280 gives, so that malformed input ends as a DerError naming
 * the field (never as a property of undefined further on).
 */
export function parseCertificate(der: Uint8Array): Certificate {
  const cert = readOnly(der, TAG.SEQUENCE, "certificate");
  const top = children(der, cert);
  const tbs = need(top[0], TAG.SEQUENCE, "tbsCertificate");
  need(top[1], TAG.SEQUENCE, "signature algorithm");
  need(top[2], TAG.BIT_STRING, "signature");
  const f = children(der, tbs);
  let i = f[0]?.tag === CONTEXT.version ? 1 : 0; // [0] version is optional (v1)
  const serial = need(f[i++], TAG.INTEGER, "serial number");
  need(f[i++], TAG.SEQUENCE, "tbsCertificate signature algorithm");
  const issuer = need(f[i++], TAG.SEQUENCE, "issuer name");
  const validity = need(f[i++], TAG.SEQUENCE, "validity");
  const subject = need(f[i++], TAG.SEQUENCE, "subject name");
  const spki = need(f[i++], TAG.SEQUENCE, "subject public key info");
  const [nb, na] = children(der, validity);
  if (!nb || !na) throw new DerError("validity needs notBefore and notAfter");
  const extensions: Extension[] = [];
  for (; i < f.length; i++) {
    if (f[i].tag !== CONTEXT.extensions) continue; // [1]/[2] unique IDs are ignored
    const list = need(children(der, f[i])[0], TAG.SEQUENCE, "extensions");
    for (const ext of children(der, list)) extensions.push(parseExtension(der, ext));
  }
  const spkiDer = whole(der, spki);
  try {
    createPublicKey({ key: Buffer.from(spkiDer), format: "der", type: "spki" });
  } catch {
    throw new DerError("the subject public key info is not a public key this tool can read");
  }
  return {
    der,
    serial: decodeUnsigned(content(der, serial)),
    issuerDer: whole(der, issuer),
    subjectDer: whole(der, subject),
    issuer: parseName(der, issuer),
    subject: parseName(der, subject),
    notBefore: decodeTime(nb.tag, content(der, nb)),
    notAfter: decodeTime(na.tag, content(der, na)),
    spkiDer,
    extensions,
    keyUsage: keyUsageBits(extensions),
    ca: isCA(extensions),
  };
}

function parseExtension(der: Uint8Array, ext: Tlv): Extension {
  const parts = children(der, need(ext, TAG.SEQUENCE, "extension"));
  const oid = decodeOid(content(der, need(parts[0], TAG.OID, "extension id")));
  if (parts.length === 3) need(parts[1], TAG.BOOLEAN, `extension ${oid} critical flag`);
  const critical = parts.length === 3 && der[parts[1].contentStart] !== 0;
  const value = need(parts[parts.length - 1], TAG.OCTET_STRING, `extension ${oid} value`);
  return { oid, critical, value: content(der, value) };
}

export function parseName(der: Uint8Array, name: Tlv = readTlv(der)): Name {
  return children(der, need(name, TAG.SEQUENCE, "name")).map((rdn) =>
    children(der, need(rdn, TAG.SET, "name component")).map((atv) => {
      const [type, value] = children(der, need(atv, TAG.SEQUENCE, "name attribute"));
      if (!value) throw new DerError("name attribute without a value");
      return { oid: decodeOid(content(der, need(type, TAG.OID, "name attribute type"))), tag: value.tag, value: content(der, value) };
    }),
  );
}

export const extension = (c: Pick<Certificate, "extensions">, oid: string) => c.extensions.find((e) => e.oid === oid);

/** basicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL } */
function isCA(extensions: Extension[]): boolean {
  const bc = extension({ extensions }, OID.basicConstraints);
  if (!bc) return false;
  const first = children(bc.value, readOnly(bc.value, TAG.SEQUENCE, "basicConstraints"))[0];
  return first?.tag === TAG.BOOLEAN && bc.value[first.contentStart] !== 0;
}

/** keyUsage (a BIT STRING) as a number, bit 0 = digitalSignature; undefined when absent. */
function keyUsageBits(extensions: Extension[]): number | undefined {
  const ku = extension({ extensions }, OID.keyUsage);
  if (!ku) return undefined;
  const bits = content(ku.value, readOnly(ku.value, TAG.BIT_STRING, "keyUsage")).subarray(1); // skip the unused-bits octet
  let v = 0;
  for (let i = 0; i < 9; i++) if (bits[i >> 3] & (0x80 >> (i & 7))) v |= 1 << i;
  return v;
}
