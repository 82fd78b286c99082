import { createPublicKey } from "node:crypto";
import { CvmError } from "../cli/errors";
import { OID, extension, parseCertificate, type Certificate } from "./cert";
import { DerError } from "./der";
import { lastCommonName, type Name } from "./dn";
import { octalMode } from "../sys/mode";
import { isPrivateKeyLabel } from "./pem";
import { noBlockMessage, readCredentialFile } from "./read";
import { decodeProxyCertInfo, type PolicyName } from "./policy";

/** What kind of credential a certificate is, in Globus's terms. */
export type CertKind = "rfc" | "draft" | "legacy" | "eec" | "ca";

export interface Classified { kind: CertKind; policy?: PolicyName; pathLength?: number; type: string; }

const RFC_TYPE: Record<PolicyName, string> = {
  impersonation: "RFC 3820 compliant impersonation proxy",
  independent: "RFC 3820 compliant independent proxy",
  limited: "RFC 3820 compliant limited proxy",
  restricted: "RFC 3820 compliant restricted proxy",
};
const DRAFT_TYPE: Record<PolicyName, string> = {
  impersonation: "Proxy draft (pre-RFC) compliant impersonation proxy",
  independent: "Proxy draft (pre-RFC) compliant independent proxy",
  limited: "Proxy draft (pre-RFC) compliant limited proxy",
  restricted: "Proxy draft (pre-RFC) compliant restricted proxy",
};

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The subject must be the issuer's name plus exactly one CN (RFC 3820 §3.4), byte for byte. */
function extendsIssuerByOneCN(c: Certificate): boolean {
  if (c.subject.length !== c.issuer.length + 1 || lastCommonName(c.subject) === undefined) return false;
  return c.issuer.every((rdn, i) => rdn.length === c.subject[i].length &&
    rdn.every((a, j) => a.oid === c.subject[i][j].oid && a.tag === c.subject[i][j].tag && sameBytes(a.value, c.subject[i][j].value)));
}

export function classify(c: Certificate): Classified {
  for (const [oid, kind, types] of [[OID.proxyCertInfo, "rfc", RFC_TYPE], [OID.proxyCertInfoDraft, "draft", DRAFT_TYPE]] as const) {
    const ext = extension(c, oid);
    if (!ext) continue;
    if (!extendsIssuerByOneCN(c)) throw new CvmError("proxy does not comply with the proxy certificate standard: subject is not the issuer name plus one CN entry");
    const info = decodeProxyCertInfo(ext.value);
    return { kind, policy: info.policy, pathLength: info.pathLength, type: types[info.policy] };
  }
  const cn = lastCommonName(c.subject);
  if ((cn === "proxy" || cn === "limited proxy") && extendsIssuerByOneCN(c))
    return { kind: "legacy", policy: cn === "proxy" ? "impersonation" : "limited", type: cn === "proxy" ? "full legacy globus proxy" : "limited legacy globus proxy" };
  return c.ca ? { kind: "ca", type: "CA certificate" } : { kind: "eec", type: "end entity credential" };
}

export const isProxy = (k: Classified) => k.kind === "rfc" || k.kind === "draft" || k.kind === "legacy";

export interface ProxyFile {
  path: string;
  chain: Certificate[];      // the proxy first, then its issuers as stored
  proxy: Certificate;
  classified: Classified;
  identity: Name;            // the end-entity subject the proxy speaks for
  bits: number;
  goodUntil: Date;           // the earliest notAfter along the chain
  hasKey: boolean;
}

/**
 * Reads a proxy file as grid-proxy-info does: refuses files that others can
 * read, classifies the first certificate, finds the identity behind it.
 */
export function readProxyFile(path: string): ProxyFile {
  const file = readCredentialFile(path, "proxy", "no proxy file there (make one with 'cvm proxy init')");
  const mode = file.stat.mode;
  if (mode & 0o177) throw new CvmError(`${path}: permissions ${octalMode(mode)} are too permissive; a proxy file may be at most 0600`);
  const certBlocks = file.blocks.filter((b) => b.label === "CERTIFICATE");
  if (!certBlocks.length) throw new CvmError(`${path}: ${noBlockMessage(file, "certificate")}`);
  let chain: Certificate[], kinds: Classified[];
  try {
    chain = certBlocks.map((b) => parseCertificate(b.der));
    kinds = chain.map(classify);
  } catch (err) {
    if (err instanceof DerError) throw new CvmError(`${path}: malformed certificate: ${err.message}`);
    if (err instanceof CvmError) throw new CvmError(`${path}: ${err.message}`);
    throw err;
  }
  const proxy = chain[0];
  // The identity is the first certificate that speaks for itself: the end entity,
  // or an independent proxy, which inherits nothing from its issuer (as Globus).
  const eec = chain.find((_, i) => !isProxy(kinds[i]) || kinds[i].policy === "independent");
  return {
    path,
    chain,
    proxy,
    classified: kinds[0],
    identity: eec ? eec.subject : chain[chain.length - 1].issuer,
    bits: publicKeyBits(proxy.spkiDer),
    goodUntil: new Date(Math.min(...chain.map((c) => c.notAfter.getTime()))),
    hasKey: file.blocks.some((b) => isPrivateKeyLabel(b.label)),
  };
}

export function publicKeyBits(spkiDer: Uint8Array): number {
  const details = createPublicKey({ key: Buffer.from(spkiDer), format: "der", type: "spki" }).asymmetricKeyDetails;
  return details?.modulusLength ?? 0;
}

/** Whole seconds left, negative once expired. */
export const secondsLeft = (p: ProxyFile, now = new Date()) => Math.floor((p.goodUntil.getTime() - now.getTime()) / 1000);

/** grid-proxy-info's H:MM:SS, with "  (N.N days)" past a day; 0:00:00 once expired. */
export function formatTimeLeft(seconds: number): string {
  const s = Math.max(0, seconds);
  const hms = `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  return s > 86400 ? `${hms}  (${(s / 86400).toFixed(1)} days)` : hms;
}
