import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { canonicalQuery, canonicalRequestV4, signatureV2, signingKeyV4, stringToSignV2, stringToSignV4, verifySigV2, verifySigV4, type HttpRequestParts } from "./ec2/signatures";

// The EC2 double checks signatures with its own code (test/ec2/signatures.ts). These are
// AWS's published examples run through that code: if it accepts them and rejects their
// tampered copies, a signer bug in cvm cannot pass the cloud tests by agreeing with itself.

const AKID = "AKIDEXAMPLE";
const SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const AT = Date.UTC(2015, 7, 30, 12, 36, 0); // 20150830T123600Z, the examples' time

// "Signature Version 4 signing process": IAM ListUsers, GET with a content type.
const LIST_USERS: HttpRequestParts = {
  method: "GET", path: "/", query: "Action=ListUsers&Version=2010-05-08", body: "",
  headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8", host: "iam.amazonaws.com", "x-amz-date": "20150830T123600Z" },
};
const authz = (scope: string, signed: string, sig: string) => `AWS4-HMAC-SHA256 Credential=${AKID}/20150830/${scope}/aws4_request, SignedHeaders=${signed}, Signature=${sig}`;

// The SigV4 test suite (get-vanilla, post-vanilla, get-vanilla-query-order-key-case): service "service".
const suite = (method: string, query: string, sig: string): HttpRequestParts => ({
  method, path: "/", query, body: "",
  headers: { host: "example.amazonaws.com", "x-amz-date": "20150830T123600Z", authorization: authz("us-east-1/service", "host;x-amz-date", sig) },
});
const SUITE = {
  "get-vanilla": suite("GET", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
  "post-vanilla": suite("POST", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
  "get-vanilla-query-order-key-case": suite("GET", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
};

describe("the EC2 double's SigV4 verifier, against AWS's published examples", () => {
  test("ListUsers: canonical request hash, signing key, signature", () => {
    const creq = canonicalRequestV4(LIST_USERS, ["content-type", "host", "x-amz-date"]);
    expect(new Bun.CryptoHasher("sha256").update(creq).digest("hex")).toBe("f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    expect(signingKeyV4(SECRET, "20150830", "us-east-1", "iam").toString("hex")).toBe("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    expect(stringToSignV4("20150830T123600Z", "20150830/us-east-1/iam/aws4_request", creq))
      .toBe("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/iam/aws4_request\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    const signed = { ...LIST_USERS, headers: { ...LIST_USERS.headers, authorization: authz("us-east-1/iam", "content-type;host;x-amz-date", "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7") } };
    expect(verifySigV4(signed, { accessKeyId: AKID, secretAccessKey: SECRET, region: "us-east-1", service: "iam", now: AT })).toEqual({ ok: true });
  });

  for (const [name, req] of Object.entries(SUITE)) {
    test(`test suite ${name} verifies; a changed query, method, secret or clock does not`, () => {
      const o = { accessKeyId: AKID, secretAccessKey: SECRET, region: "us-east-1", service: "service", now: AT };
      expect(verifySigV4(req, o)).toEqual({ ok: true });
      expect(verifySigV4({ ...req, query: req.query + "&x=1" }, o)).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
      expect(verifySigV4({ ...req, method: req.method === "GET" ? "POST" : "GET" }, o)).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
      expect(verifySigV4({ ...req, body: "Action=RunInstances" }, o)).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
      expect(verifySigV4(req, { ...o, secretAccessKey: SECRET.replace("K", "k") })).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
      expect(verifySigV4(req, { ...o, accessKeyId: "AKIDOTHER" })).toMatchObject({ ok: false, code: "AuthFailure" });
      expect(verifySigV4(req, { ...o, region: "eu-west-1" })).toMatchObject({ ok: false, code: "AuthFailure" });
      expect(verifySigV4(req, { ...o, now: AT + 6 * 60_000 })).toMatchObject({ ok: false, code: "RequestExpired" });
    });
  }

  test("headers are canonical: lower-case names, trimmed values, runs of spaces made one", () => {
    const req = { ...LIST_USERS, headers: { ...LIST_USERS.headers, "content-type": "  application/x-www-form-urlencoded;   charset=utf-8 " } };
    expect(canonicalRequestV4(req, ["content-type", "host", "x-amz-date"])).toBe(canonicalRequestV4(LIST_USERS, ["content-type", "host", "x-amz-date"]));
  });
});

// "Signature Version 2 signing process": the DescribeJobFlows example (also the reference of test/cloud-sigv2.test.ts).
const V2 = {
  params: [["Action", "DescribeJobFlows"], ["Version", "2009-03-31"], ["AWSAccessKeyId", "AKIAIOSFODNN7EXAMPLE"], ["SignatureVersion", "2"], ["SignatureMethod", "HmacSHA256"], ["Timestamp", "2011-10-03T15:19:30"]] as [string, string][],
  secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  host: "elasticmapreduce.amazonaws.com",
  at: Date.UTC(2011, 9, 3, 15, 19, 30),
};

describe("the EC2 double's SigV2 verifier, against AWS's published example", () => {
  test("string to sign and the GET and POST signatures", () => {
    expect(stringToSignV2("GET", V2.host, "/", V2.params))
      .toBe("GET\nelasticmapreduce.amazonaws.com\n/\nAWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Action=DescribeJobFlows&SignatureMethod=HmacSHA256&SignatureVersion=2&Timestamp=2011-10-03T15%3A19%3A30&Version=2009-03-31");
    expect(signatureV2(V2.secret, "HmacSHA256", stringToSignV2("GET", V2.host, "/", V2.params))).toBe("i91nKc4PWAt0JJIdXwz9HxZCJDdiy6cf/Mj6vPxyYIs=");
    expect(signatureV2(V2.secret, "HmacSHA256", stringToSignV2("POST", V2.host, "/", V2.params))).toBe("wseguMzBRgA/4/fan8ZwEa0PIF+ws4WFbTJcG1ts5RY=");
  });

  test("the example verifies as GET and as POST; changed parameters, host, key or clock do not", () => {
    const o = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: V2.secret, now: V2.at };
    const get: [string, string][] = [...V2.params, ["Signature", "i91nKc4PWAt0JJIdXwz9HxZCJDdiy6cf/Mj6vPxyYIs="]];
    const post: [string, string][] = [...V2.params, ["Signature", "wseguMzBRgA/4/fan8ZwEa0PIF+ws4WFbTJcG1ts5RY="]];
    expect(verifySigV2("GET", V2.host, "/", get, o)).toEqual({ ok: true });
    expect(verifySigV2("POST", V2.host, "/", post, o)).toEqual({ ok: true });
    expect(verifySigV2("POST", V2.host, "/", get, o)).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
    expect(verifySigV2("GET", "other.example.org", "/", get, o)).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
    expect(verifySigV2("GET", V2.host, "/", [...get, ["MaxResults", "5"]], o)).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
    expect(verifySigV2("GET", V2.host, "/", get, { ...o, secretAccessKey: "x" })).toMatchObject({ ok: false, code: "SignatureDoesNotMatch" });
    expect(verifySigV2("GET", V2.host, "/", get, { ...o, accessKeyId: "OTHER" })).toMatchObject({ ok: false, code: "AuthFailure" });
    expect(verifySigV2("GET", V2.host, "/", get, { ...o, now: V2.at + 6 * 60_000 })).toMatchObject({ ok: false, code: "RequestExpired" });
  });

  test("encoding and order: RFC 3986, upper-case hex, names in byte order", () => {
    expect(canonicalQuery([["b", "a b"], ["A", "x*y~z"], ["Filter.1.Name", "tag:Name"], ["c", "é"]])).toBe("A=x%2Ay~z&Filter.1.Name=tag%3AName&b=a%20b&c=%C3%A9");
  });
});

test("the EC2 double takes nothing from src/cloud", () => {
  for (const f of ["server.ts", "signatures.ts", "hostile.ts", "serve.ts"])
    expect({ f, imports: readFileSync(join(import.meta.dir, "ec2", f), "utf8").match(/from\s+["'][^"']*src\/cloud[^"']*["']/g) }).toEqual({ f, imports: null });
});
