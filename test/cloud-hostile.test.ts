import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cvm, CVM, run } from "./helpers/run";
import { HOSTILE_MODES, HostileEndpoint, type HostileMode } from "./ec2/hostile";

// What a regions.ini endpoint that is not a (well-behaved) cloud can do to cvm: every case
// must end, within the timeout, as one line `cvm: REGION: why` and a non-zero exit, with
// bounded memory, and never as an internal error, a JavaScript exception or a stack.

let work: string, env: Record<string, string>;
let hostile: HostileEndpoint;
const regionOf = (m: HostileMode) => m.toUpperCase().replace(/-/g, "_");

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-hostile-"));
  mkdirSync(join(work, "config"));
  env = { CVM_CONFIG_DIR: join(work, "config"), HOME: work, AWS_ACCESS_KEY_ID: "", AWS_SECRET_ACCESS_KEY: "", AWS_CONFIG_FILE: join(work, "none"), AWS_SHARED_CREDENTIALS_FILE: join(work, "none"), CVM_HTTP_TIMEOUT: "1" };
  hostile = new HostileEndpoint().start();
  const file = join(work, "config", "regions.ini");
  writeFileSync(file, HOSTILE_MODES.map((m) => `[${regionOf(m)}]\nendpoint = ${hostile.url(m)}\naccess_key = AK\nsecret_key = SK\n`).join("\n"));
  chmodSync(file, 0o600);
});

afterAll(() => {
  hostile?.stop();
  rmSync(work, { recursive: true, force: true });
});

const FORBIDDEN = /internal error|TypeError|RangeError|SyntaxError|^ {4}at /m;

/** The one line a case must end with, after `cvm: REGION: endpoint URL `. */
const CASES: { mode: HostileMode; args: string[]; line: string; withinMs: number }[] = [
  { mode: "endless-body", args: ["ls"], line: "answered HTTP 200 OK, text/xml: more than the 8 MiB allowed for an answer", withinMs: 5_000 },
  { mode: "trickle", args: ["ls"], line: "sent no complete answer within 1 s (CVM_HTTP_TIMEOUT)", withinMs: 5_000 },
  { mode: "silent", args: ["ls"], line: "sent nothing within 1 s (CVM_HTTP_TIMEOUT)", withinMs: 5_000 },
  { mode: "silent-body", args: ["ls", "-i"], line: "sent no complete answer within 1 s (CVM_HTTP_TIMEOUT)", withinMs: 5_000 },
  { mode: "html", args: ["ls"], line: "answered HTTP 200 OK, text/html; charset=utf-8: a web page, not the EC2 API (a login portal or a web interface at this endpoint?)", withinMs: 5_000 },
  { mode: "html", args: ["run", "ami-00000003"], line: "answered HTTP 200 OK, text/html; charset=utf-8: a web page, not the EC2 API (a login portal or a web interface at this endpoint?)", withinMs: 5_000 },
  { mode: "html", args: ["terminate", "-y", "i-0123abcd"], line: "answered HTTP 200 OK, text/html; charset=utf-8: a web page, not the EC2 API (a login portal or a web interface at this endpoint?)", withinMs: 5_000 },
  { mode: "redirect", args: ["ls"], line: "answered HTTP 302 Found, no content type: a redirect to https://login.example.org/portal?from=ec2; EC2 endpoints do not redirect: set endpoint to the cloud's API URL", withinMs: 5_000 },
  { mode: "bad-gateway", args: ["ls"], line: "answered HTTP 502 Bad Gateway, text/html: a web page, not the EC2 API (a login portal or a web interface at this endpoint?)", withinMs: 10_000 },
  { mode: "wrong-xml", args: ["ls", "-i"], line: "answered HTTP 200 OK, text/xml;charset=UTF-8: <ListBucketResult>, not the EC2 DescribeImagesResponse", withinMs: 5_000 },
  { mode: "html-wrong-xml", args: ["ls"], line: "answered HTTP 200 OK, text/html; charset=utf-8: a web page, not the EC2 API (a login portal or a web interface at this endpoint?)", withinMs: 5_000 },
  { mode: "html-deep-xml", args: ["ls"], line: "answered HTTP 200 OK, text/html; charset=utf-8: XML nested deeper than 64 levels, which no EC2 answer is", withinMs: 5_000 },
  { mode: "html-doctype", args: ["ls"], line: "answered HTTP 200 OK, text/html; charset=utf-8: a web page, not the EC2 API (a login portal or a web interface at this endpoint?)", withinMs: 5_000 },
  { mode: "html-error-page", args: ["ls"], line: "answered HTTP 403 Forbidden, text/html; charset=utf-8: a web page, not the EC2 API (a login portal or a web interface at this endpoint?)", withinMs: 5_000 },
  { mode: "deep-xml", args: ["ls"], line: "answered HTTP 200 OK, text/xml;charset=UTF-8: XML nested deeper than 64 levels, which no EC2 answer is", withinMs: 5_000 },
  { mode: "doctype", args: ["ls"], line: "answered HTTP 200 OK, text/xml;charset=UTF-8: XML with a DOCTYPE or entity declarations, which EC2 never sends", withinMs: 5_000 },
  { mode: "gzip-bomb", args: ["ls"], line: "answered HTTP 200 OK, text/xml: Content-Encoding 'gzip' that cvm did not ask for", withinMs: 5_000 },
  { mode: "no-error-code", args: ["run", "ami-00000003"], line: "answered HTTP 400 Bad Request, text/xml;charset=UTF-8: an EC2 error document that names no error code", withinMs: 5_000 },
  { mode: "truncated-xml", args: ["ls"], line: "(HTTP 200): the answer is not readable EC2 XML (XML parse error: missing closing tag </reservationId>.)", withinMs: 5_000 },
  { mode: "bad-date", args: ["ls"], line: "(HTTP 200): the answer is not readable EC2 XML (Invalid RFC3339 timestamp format yesterday)", withinMs: 5_000 },
];

describe("hostile endpoints end as one line, in time, through the binary", () => {
  for (const c of CASES) {
    test(`${c.mode}: cvm ${c.args.join(" ")}`, async () => {
      const t0 = Date.now();
      const r = await cvm(["--region", regionOf(c.mode), ...c.args], { env });
      expect(r.stderr).not.toMatch(FORBIDDEN);
      expect(r.stderr).toBe(`cvm: ${regionOf(c.mode)}: endpoint ${hostile.url(c.mode)} ${c.line}\n`);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(Date.now() - t0).toBeLessThan(c.withinMs);
    }, 30_000);
  }

  test("text from the cloud reaches the terminal without escape sequences, newlines or tabs", async () => {
    const err = await cvm(["--region", "ESCAPES", "ls"], { env });
    expect([err.code, err.stderr]).toEqual([1, "cvm: ESCAPES: Oops?[2J: first line\n"]);
    const ok = await cvm(["--region", "CONTROL_CHARS", "ls"], { env });
    expect([ok.code, ok.stderr]).toEqual([0, ""]);
    expect(ok.stdout).toBe(["i-1?i-2", "r-1?[31m", "-", "-", "-", "running?x", "-", "-"].join("\t") + "\n");
    const json = JSON.parse((await cvm(["--region", "CONTROL_CHARS", "ls", "--json"], { env })).stdout);
    expect(json[0].tags).toEqual({ Name: "a?]0;title?" });
  });

  test("a NextToken that repeats, and one that never ends, stop with a message saying so", async () => {
    const repeat = await cvm(["--region", "REPEAT_TOKEN", "ls"], { env });
    expect([repeat.code, repeat.stderr]).toEqual([1, "cvm: REPEAT_TOKEN: the cloud sent the same NextToken 'same' again after 2 pages of instances; stopped (a listing that would never end)\n"]);
    const endless = await cvm(["--region", "ENDLESS_TOKEN", "ls", "-i"], { env });
    expect([endless.code, endless.stderr]).toEqual([1, "cvm: ENDLESS_TOKEN: more than 200 pages of images (200 so far); stopped: narrow the listing (--owner, --name, --tag, --state)\n"]);
    expect(hostile.requests.filter((q) => q.mode === "endless-token").length).toBe(200);
  }, 60_000);

  test("several hostile regions at once: a line each, a count, exit 1, nothing forbidden", async () => {
    const modes: HostileMode[] = ["html", "redirect", "deep-xml", "endless-body", "silent"];
    const r = await cvm([...modes.flatMap((m) => ["--region", regionOf(m)]), "ls"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(FORBIDDEN);
    const lines = r.stderr.trim().split("\n");
    expect(lines.slice(0, -1).map((l) => l.split(":")[1].trim()).sort()).toEqual(modes.map(regionOf).sort());
    expect(lines.at(-1)).toBe("cvm: 5 of 5 region(s) failed");
  }, 30_000);

  test.skipIf(!existsSync("/usr/bin/time"))("an endless body at the default timeout: peak RSS under 100 MB, over in seconds", async () => {
    const out = join(work, "time.txt");
    const t0 = Date.now();
    const r = await run(["/usr/bin/time", "-f", "%M", "-o", out, CVM, "--region", "ENDLESS_BODY", "ls"], { env: { ...env, CVM_HTTP_TIMEOUT: "" } });
    const wallMs = Date.now() - t0;
    expect(r.stderr).toStartWith("cvm: ENDLESS_BODY: ");
    expect(r.code).toBe(1);
    const peakKb = Number(readFileSync(out, "utf8").trim().split("\n").at(-1));
    expect(peakKb).toBeLessThan(100 * 1024);
    expect(wallMs).toBeLessThan(20_000);
  }, 60_000);
});
