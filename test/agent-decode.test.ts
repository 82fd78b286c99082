// user_data in every encoding the agent reads, through the binary: the same
// INI plain, gzipped, base64, inside MIME, after scripts; the INI rules
// (spaced keys, ':' separator, comments, case, no % interpolation); and
// malformed input refused with its line and nothing applied.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { cvm } from "./helpers/run";
import { AGENT_OWN, fingerprint, makeGuestRoot } from "./fixtures/agent/guest";

const SEED = readFileSync(join(import.meta.dir, "fixtures/agent/seed-example.ini"), "utf8");
let work: string, root: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "cvm-agent-decode-"));
  root = makeGuestRoot({ name: "decode" });
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

function file(name: string, data: string | Uint8Array): string {
  const p = join(work, name);
  writeFileSync(p, data);
  return p;
}

/** The plan without its first lines (source and instance differ between encodings). */
const planBody = (out: string) => out.split("\n").slice(3).join("\n");
const dryRun = (path: string, ...extra: string[]) => cvm(["agent", "--root", root, "--user-data", path, "--dry-run", ...extra]);

describe("encodings", () => {
  let plain: string;
  beforeAll(async () => {
    const r = await dryRun(file("seed.ini", SEED));
    expect(r.code).toBe(0);
    plain = planBody(r.stdout);
  });

  test("the seed's example (spaced keys) plans every step: CernVM-FS, users, environment, site, services, the command", () => {
    expect(plain).toContain("+CVMFS_REPOSITORIES=cms.cern.ch,grid.cern.ch,example.cern.ch");
    expect(plain).toContain("+CVMFS_HTTP_PROXY='http://squid.example.org:3128;DIRECT'");
    expect(plain).toContain("+CERNVM_GROUP_PROFILE=group-cms"); // `group profile` (amiconfig ignored it)
    expect(plain).toContain("+export CMS_ROOT=/opt/cms"); // `, CMS_ROOT`: trimmed, not ` CMS_ROOT`
    expect(plain).toMatch(/add user cms \(uid 1000, group cms 1000, home \/home\/cms, shell \/bin\/bash, password locked\)/);
    expect(plain).toMatch(/run \/opt\/cms\/setup\.sh as cms \(uid 1000/); // `contextualization command`
  });

  test("--user-data - reads standard input", async () => {
    const r = await cvm(["agent", "--root", root, "--user-data", "-", "--dry-run"], { stdin: SEED });
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("source: --user-data -\n");
    expect(planBody(r.stdout)).toBe(plain);
  });

  test("gzip (by its magic bytes) plans the same", async () => {
    const r = await dryRun(file("seed.gz", gzipSync(SEED)));
    expect(r.code).toBe(0);
    expect(planBody(r.stdout)).toBe(plain);
  });

  test("base64 (--base64) plans the same, and base64 of gzip too", async () => {
    const a = await dryRun(file("seed.b64", Buffer.from(SEED).toString("base64")), "--base64");
    const b = await dryRun(file("seed.gz.b64", gzipSync(SEED).toString("base64")), "--base64");
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(planBody(a.stdout)).toBe(plain);
    expect(planBody(b.stdout)).toBe(plain);
  });

  test("MIME multipart: the amiconfig part (base64 transfer encoding) plans the same; scripts, cloud-config and ucernvm parts are sorted out", async () => {
    const mime = [
      "Content-Type: multipart/mixed; boundary=\"==XYZ==\"", "MIME-Version: 1.0", "",
      "--==XYZ==", "Content-Type: text/cloud-config", "", "#cloud-config", "packages: [htop]", "",
      "--==XYZ==", "Content-Type: text/ucernvm", "", "[ucernvm-begin]", "resize_rootfs=off", "[ucernvm-end]", "",
      "--==XYZ==", "Content-Type: text/x-shellscript", "Content-Disposition: attachment; filename=\"prep.before\"", "", "#!/bin/sh", "echo before", "",
      "--==XYZ==", "Content-Type: text/amiconfig-user-data", "Content-Transfer-Encoding: base64", "", Buffer.from(SEED).toString("base64"), "",
      "--==XYZ==", "Content-Type: text/x-shellscript", "", "#!/bin/sh", "echo after", "",
      "--==XYZ==--", "",
    ].join("\n");
    const r = await dryRun(file("seed.mime", mime));
    expect(r.code).toBe(0);
    expect(planBody(r.stdout)).toContain(plain.trimEnd().split("\n").slice(1, -1).join("\n"));
    expect(r.stdout).toMatch(/step scripts-before:\n  run script 1 from user_data part 3 \(text\/x-shellscript\) line 1 \(#!\/bin\/sh\) as root/);
    expect(r.stdout).toMatch(/step scripts-after:\n  run script 1 from user_data part 5 \(text\/x-shellscript\) line 1/);
    expect(r.stdout).toContain("note: user_data part 1 (text/cloud-config): cloud-init's; left to cloud-init");
    expect(r.stdout).toContain("note: user_data part 2 (text/ucernvm): for the µCernVM boot loader; ignored");
  });

  test("#! scripts before the INI: .before runs before the plugins, plain and .after after; each ends at its exit line", async () => {
    const text = "#!/bin/sh.before\necho one\nexit 0\n\n#!/bin/sh\necho two\nexit\n#!/bin/sh.after\necho three\nexit 3\n[cernvm]\norganisations = atlas\n";
    const r = await dryRun(file("scripts.ini", text));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("step scripts-before:\n  run script 1 from user_data line 1 (#!/bin/sh) as root");
    expect(r.stdout).toMatch(/step scripts-after:\n  run script 1 from user_data line 5 \(#!\/bin\/sh\) as root, [^\n]*\nstep scripts-after:\n  run script 2 from user_data line 8 \(#!\/bin\/sh\)/);
    expect(r.stdout).toContain("+CERNVM_ORGANISATION=atlas");
  });
});

describe("the INI rules", () => {
  test("sections are case-insensitive, keys lowercased with spaces and '-' as '_', ':' separates, '#' and ';' comment, '%' is literal", async () => {
    const text = "; a comment\n[CernVM]\nOrganisations: atlas,cms\n# another\nGroup-Profile = group-atlas\n[cvmfs]\nCVMFS_QUOTA_LIMIT = 5000\n[cernvm]\nenvironment = PCT=50%,RATIO=1:2\n";
    const r = await dryRun(file("rules.ini", text));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const line of ["+CERNVM_ORGANISATION=atlas,cms", "+CERNVM_GROUP_PROFILE=group-atlas", "+CVMFS_QUOTA_LIMIT=5000", "+export PCT=50%", "+export RATIO=1:2"])
      expect(r.stdout).toContain(line);
  });

  test("unknown sections and keys are warnings naming them (with the nearest key); the rest still applies", async () => {
    const text = "[cernvm]\norganisations = lhcb\ngroup_profle = group-lhcb\nfrobnicate = yes\n[condor]\ncondor_master = x\n[mystery]\na = b\n";
    const r = await dryRun(file("unknown.ini", text));
    expect(r.code).toBe(0);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([
      "warning: user_data line 3: [cernvm] group_profle: unknown key; ignored (did you mean group_profile?)",
      "warning: user_data line 4: [cernvm] frobnicate: unknown key; ignored",
      "warning: user_data line 5: [condor]: amiconfig's condor plugin is not part of cvm agent; section ignored",
      "warning: user_data line 7: [mystery]: unknown section; ignored",
    ]);
    expect(r.stdout).toContain("+CERNVM_ORGANISATION=lhcb");
  });

  test("the µCernVM boot loader block is skipped", async () => {
    const r = await dryRun(file("ucernvm.ini", "[ucernvm-begin]\nresize_rootfs=off\ncvmfs_branch=x\n[ucernvm-end]\n[cernvm]\norganisations = alice\n"));
    expect([r.code, r.stderr]).toEqual([0, ""]);
  });

  test("[amiconfig] disabled_plugins = cernvm: [cernvm] is not applied, and said so", async () => {
    const r = await dryRun(file("disabled.ini", "[amiconfig]\ndisabled_plugins = cernvm\n[cernvm]\norganisations = atlas\n"));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: user_data line 3: [cernvm]: the cernvm plugin is disabled; section ignored");
    expect(r.stdout).not.toContain("CERNVM_ORGANISATION");
    expect(r.stdout).toContain("step site:\n  disabled ([amiconfig] disabled_plugins = cernvm)");
  });
});

describe("malformed user_data: a one-line error with the line, nothing applied", () => {
  const untouched = async (path: string, extra: string[] = []) => {
    const before = fingerprint(root, AGENT_OWN);
    const r = await cvm(["agent", "--root", root, "--user-data", path, ...extra]);
    const lines = r.stderr.split("\n").filter(Boolean);
    expect(r.code).toBe(1);
    expect(lines.every((l) => l.startsWith("cvm: ") || l.startsWith("warning: "))).toBe(true);
    expect(r.stderr).not.toMatch(/internal error|TypeError|RangeError|    at /);
    const after = fingerprint(root, AGENT_OWN);
    return { r, line: lines[lines.length - 1], changed: before !== after };
  };

  test("a bad INI line", async () => {
    const { line, changed } = await untouched(file("bad.ini", "[cernvm]\norganisations = atlas\nthis is not ini\n"));
    expect(changed).toBe(false);
    expect(line).toBe("cvm: user_data line 3: 'this is not ini': expected KEY = VALUE, [SECTION] or a comment (nothing applied)");
  });

  test("bad base64", async () => {
    const { line, changed } = await untouched(file("bad.b64", "W2Nlcm52bV0K!!notbase64"), ["--base64"]);
    expect(line).toBe(`cvm: --user-data ${join(work, "bad.b64")}: not valid base64`);
    expect(changed).toBe(false);
  });

  test("bad gzip", async () => {
    const gz = gzipSync(SEED);
    const { line, changed } = await untouched(file("bad.gz", Buffer.concat([gz.subarray(0, 20), Buffer.from("garbage that is not deflate")])));
    expect(line).toMatch(/^cvm: user_data: not valid gzip data \(.+\)$/);
    expect(changed).toBe(false);
  });

  test("a gzip bomb stops at the inflate cap", async () => {
    const { line } = await untouched(file("bomb.gz", gzipSync(Buffer.alloc(8 << 20, 0x20))));
    expect(line).toBe("cvm: user_data: gzip data inflates to more than 4194304 bytes");
  });

  test("binary garbage is not user_data", async () => {
    const { line } = await untouched(file("bin.dat", Buffer.from([0x5b, 0x00, 0x01, 0x02])));
    expect(line).toBe("cvm: user_data: binary data, not text user_data");
  });

  test("MIME without its closing boundary still reads; MIME whose boundary never appears is refused", async () => {
    const { line } = await untouched(file("bad.mime", "Content-Type: multipart/mixed; boundary=AAA\n\n--BBB\nContent-Type: text/amiconfig\n\n[cernvm]\n"));
    expect(line).toBe("cvm: user_data: multipart user_data with no part (boundary 'AAA' not found)");
  });

  test("every problem is reported, the last as the error, and the run is refused as a whole", async () => {
    const { r } = await untouched(file("many.ini", "[cernvm]\nusers = ok:ok:,Bad User:x:\nservices = ssh d\nswap_size = lots\n"));
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([
      "cvm: user_data line 2: [cernvm] users: 'Bad User' is not a valid user name (expected [a-z_][a-z0-9_-]*, at most 32)",
      "cvm: user_data line 3: [cernvm] services: 'ssh d' is not a valid unit name",
      "cvm: user_data line 4: [cernvm] swap_size: 'lots': expected auto or a size such as 2g (3 problems; nothing applied)",
    ]);
  });
});
