import { describe, expect, test } from "bun:test";
import { decodeOid, encodeOid, readTlv, content } from "../src/proxy/der";
import { decodeProxyCertInfo, encodeProxyCertInfo } from "../src/proxy/policy";
import { proxySubject } from "../src/proxy/make";
import { parseName } from "../src/proxy/cert";
import { oneline } from "../src/proxy/dn";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex").toUpperCase();

describe("proxy DER pieces", () => {
  test("proxyCertInfo bytes are exactly what grid-proxy-init writes", () => {
    expect(hex(encodeProxyCertInfo("impersonation"))).toBe("300C300A06082B06010505071501");
    expect(hex(encodeProxyCertInfo("impersonation", 2))).toBe("300F020102300A06082B06010505071501");
    expect(decodeProxyCertInfo(encodeProxyCertInfo("limited", 0))).toEqual({ pathLength: 0, policyOid: "1.3.6.1.4.1.3536.1.1.1.9", policy: "limited" });
  });

  test("OIDs round-trip, including large arcs", () => {
    for (const oid of ["1.3.6.1.5.5.7.1.14", "2.5.4.3", "0.9.2342.19200300.100.1.25", "2.999.3", "1.2.840.113549.1.9.1"]) {
      const der = encodeOid(oid);
      expect(decodeOid(content(der, readTlv(der)))).toBe(oid);
    }
  });

  test("the proxy subject keeps the issuer's RDNs byte for byte and appends one PrintableString CN", () => {
    // DC as IA5String, CN as UTF8String: types a round trip through a string would change
    const rdn = (oidHex: string, tag: string, value: string) => {
      const v = Buffer.from(value);
      const atv = Buffer.concat([Buffer.from(oidHex, "hex"), Buffer.from([parseInt(tag, 16), v.length]), v]);
      const seq = Buffer.concat([Buffer.from([0x30, atv.length]), atv]);
      return Buffer.concat([Buffer.from([0x31, seq.length]), seq]);
    };
    const rdns = [rdn("060A0992268993F22C640119", "16", "org"), rdn("0603550403", "0C", "Jos\u00e9")];
    const body = Buffer.concat(rdns);
    const name = Buffer.concat([Buffer.from([0x30, body.length]), body]);
    const subject = proxySubject(name, 1234567);
    expect(hex(subject.subarray(2, 2 + body.length))).toBe(hex(body));
    expect(hex(subject.subarray(2 + body.length))).toBe("3110300E06035504031307313233343536" + "37");
    expect(oneline(parseName(subject))).toBe("/DC=org/CN=Jos\\xC3\\xA9/CN=1234567");
  });
});
