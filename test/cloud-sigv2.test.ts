import { describe, expect, test } from "bun:test";
import { canonicalQueryString, signatureV2, signParamsV2, stringToSignV2 } from "../src/cloud/sigv2";

// The example of AWS's "Signature Version 2 signing process" page.
const EXAMPLE = {
  params: { Action: "DescribeJobFlows", Version: "2009-03-31", AWSAccessKeyId: "AKIAIOSFODNN7EXAMPLE", SignatureVersion: "2", SignatureMethod: "HmacSHA256", Timestamp: "2011-10-03T15:19:30" },
  secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};

describe("SigV2 against the published examples", () => {
  test("string to sign and signature of the GET example", () => {
    const sts = stringToSignV2("GET", "elasticmapreduce.amazonaws.com", "/", EXAMPLE.params);
    expect(sts).toBe("GET\nelasticmapreduce.amazonaws.com\n/\nAWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Action=DescribeJobFlows&SignatureMethod=HmacSHA256&SignatureVersion=2&Timestamp=2011-10-03T15%3A19%3A30&Version=2009-03-31");
    expect(signatureV2(EXAMPLE.secret, sts)).toBe("i91nKc4PWAt0JJIdXwz9HxZCJDdiy6cf/Mj6vPxyYIs=");
  });

  test("the same request sent as POST", () => {
    expect(signatureV2(EXAMPLE.secret, stringToSignV2("POST", "elasticmapreduce.amazonaws.com", "/", EXAMPLE.params))).toBe("wseguMzBRgA/4/fan8ZwEa0PIF+ws4WFbTJcG1ts5RY=");
  });

  test("RFC 3986 encoding and byte-order sorting", () => {
    expect(canonicalQueryString({ b: "a b", A: "x*y~z", "Filter.1.Name": "tag:Name", c: "é" })).toBe("A=x%2Ay~z&Filter.1.Name=tag%3AName&b=a%20b&c=%C3%A9");
  });

  test("signParamsV2 adds the authentication parameters and a verifiable signature", () => {
    const signed = signParamsV2({ method: "POST", host: "one.example.org:4567", path: "/", params: { Action: "DescribeImages", Version: "2016-11-15" },
      credentials: { accessKeyId: "AK", secretAccessKey: "SK" }, date: new Date("2026-11-25T10:00:00.123Z") });
    expect(signed).toMatchObject({ AWSAccessKeyId: "AK", SignatureVersion: "2", SignatureMethod: "HmacSHA256", Timestamp: "2026-11-25T10:00:00Z" });
    const { Signature, ...rest } = signed;
    expect(Signature).toBe(signatureV2("SK", stringToSignV2("POST", "one.example.org:4567", "/", rest)));
  });
});
