import { TAG, children, content, decodeOid, decodeTime, decodeUnsigned, readTlv, whole, type Tlv } from "./der";
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
  spkiDer: Uint8Array;     // SubjectPublicKeyInfo
  extensions: Extension[];
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

export function parseCertificate(der: Uint8Array): Certificate {
  const cert = readTlv(der);
  const tbs = children(der, cert)[0];
  const f = children(der, tbs);
  let i = f[0].tag === 0xa0 ? 1 : 0; // [0] version is optional (v1)
  const serial = f[i++], _sigAlg = f[i++], issuer = f[i++], validity = f[i++], subject = f[i++], spki = f[i++];
  void _sigAlg;
  const [nb, na] = children(der, validity);
  const extensions: Extension[] = [];
  for (; i < f.length; i++) {
    if (f[i].tag !== 0xa3) continue; // [3] extensions; [1]/[2] unique IDs are ignored
    for (const ext of children(der, children(der, f[i])[0])) extensions.push(parseExtension(der, ext));
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
    spkiDer: whole(der, spki),
    extensions,
  };
}

function parseExtension(der: Uint8Array, ext: Tlv): Extension {
  const parts = children(der, ext);
  const critical = parts.length === 3 && parts[1].tag === TAG.BOOLEAN && der[parts[1].contentStart] !== 0;
  return { oid: decodeOid(content(der, parts[0])), critical, value: content(der, parts[parts.length - 1]) };
}

export function parseName(der: Uint8Array, name: Tlv = readTlv(der)): Name {
  return children(der, name).map((rdn) =>
    children(der, rdn).map((atv) => {
      const [type, value] = children(der, atv);
      return { oid: decodeOid(content(der, type)), tag: value.tag, value: content(der, value) };
    }),
  );
}

export const extension = (c: Certificate, oid: string) => c.extensions.find((e) => e.oid === oid);

/** basicConstraints cA=TRUE. */
export function isCA(c: Certificate): boolean {
  const bc = extension(c, OID.basicConstraints);
  if (!bc) return false;
  const seq = readTlv(bc.value);
  const first = children(bc.value, seq)[0];
  return first?.tag === TAG.BOOLEAN && bc.value[first.contentStart] !== 0;
}

const KEY_USAGE_NAMES = [
  "digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment",
  "keyAgreement", "keyCertSign", "cRLSign", "encipherOnly", "decipherOnly",
];

/** Key usage bits as a number (bit 0 = digitalSignature), or undefined when absent. */
export function keyUsageBits(c: Certificate): number | undefined {
  const ku = extension(c, OID.keyUsage);
  if (!ku) return undefined;
  const bits = content(ku.value, readTlv(ku.value)).subarray(1); // skip the unused-bits octet
  let v = 0;
  for (let i = 0; i < 9; i++) if (bits[i >> 3] & (0x80 >> (i & 7))) v |= 1 << i;
  return v;
}

export const keyUsageNames = (bits: number) => KEY_USAGE_NAMES.filter((_, i) => bits & (1 << i));
