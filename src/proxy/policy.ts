import { TAG, children, content, decodeOid, decodeUnsigned, encode, encodeOid, encodeUnsigned, need, readOnly } from "./der";

/** Proxy policies: RFC 3820 policy languages plus Globus's limited proxy. */
export const POLICY_OID = {
  impersonation: "1.3.6.1.5.5.7.21.1", // id-ppl-inheritAll
  independent: "1.3.6.1.5.5.7.21.2",   // id-ppl-independent
  limited: "1.3.6.1.4.1.3536.1.1.1.9", // Globus limited proxy
} as const;

export type PolicyName = keyof typeof POLICY_OID | "restricted";

export interface ProxyCertInfo { pathLength?: number; policyOid: string; policy: PolicyName; }

/** ProxyCertInfo ::= SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL, proxyPolicy SEQUENCE { OID, OCTET STRING OPTIONAL } } */
export function encodeProxyCertInfo(policy: keyof typeof POLICY_OID, pathLength?: number): Uint8Array {
  const proxyPolicy = encode(TAG.SEQUENCE, encodeOid(POLICY_OID[policy]));
  return pathLength === undefined
    ? encode(TAG.SEQUENCE, proxyPolicy)
    : encode(TAG.SEQUENCE, encodeUnsigned(pathLength), proxyPolicy);
}

/** Decodes both the RFC 3820 and the pre-RFC draft extension (same layout). */
export function decodeProxyCertInfo(value: Uint8Array): ProxyCertInfo {
  const parts = children(value, readOnly(value, TAG.SEQUENCE, "proxyCertInfo"));
  let pathLength: number | undefined;
  let i = 0;
  if (parts[0]?.tag === TAG.INTEGER) pathLength = Number(decodeUnsigned(content(value, parts[i++])));
  const proxyPolicy = children(value, need(parts[i], TAG.SEQUENCE, "proxyCertInfo policy"));
  const policyOid = decodeOid(content(value, need(proxyPolicy[0], TAG.OID, "proxyCertInfo policy language")));
  const policy = (Object.keys(POLICY_OID) as (keyof typeof POLICY_OID)[]).find((k) => POLICY_OID[k] === policyOid) ?? "restricted";
  return { pathLength, policyOid, policy };
}
