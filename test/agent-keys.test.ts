// Every [cernvm] and [cvmfs] key applied for real against a temporary --root:
// what each writes, with which mode and owner, read back by the real readers
// (/bin/sh sources the CernVM-FS files, openssl checks the password hash,
// systemctl --root agrees on the enable links).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cvm, run } from "./helpers/run";
import { makePki, PASS } from "./helpers/pki";
import { hasTools } from "./helpers/tools";
import { Guests, guestScript, lines } from "./fixtures/agent/guest";

const isRoot = process.getuid?.() === 0;
const guests = new Guests();
const roots: string[] = [];
afterAll(() => { guests.cleanup(); for (const r of roots) rmSync(r, { recursive: true, force: true }); });
const guest = (name: string, shell = false) => guests.root(name, { shell });
const apply = (root: string, userData: string, ...extra: string[]) => guests.apply(root, userData, ...extra);

const read = (root: string, p: string) => readFileSync(join(root, p), "utf8");
const mode = (root: string, p: string) => lstatSync(join(root, p)).mode & 0o7777;
const owner = (root: string, p: string) => { const s = lstatSync(join(root, p)); return [s.uid, s.gid]; };

/** What /bin/sh makes of a variable after sourcing a file (the stock client sources these files). */
async function sourced(file: string, name: string): Promise<string> {
  const r = await run(["/bin/sh", "-c", `. "$1" && printf %s "$${name}"`, "sh", file]);
  expect(r.code).toBe(0);
  return r.stdout;
}

describe.skipIf(!isRoot)("[cernvm] and [cvmfs] keys, applied", () => {
  test("repositories, extra_repositories, proxy and [cvmfs] keys → default.local, config.d and keys, read back by /bin/sh", async () => {
    const root = guest("cvmfs");
    const gen = await run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    const pub = await run(["openssl", "pkey", "-pubout"], { stdin: gen.stdout });
    mkdirSync(join(root, "etc/cvmfs"), { recursive: true });
    writeFileSync(join(root, "etc/cvmfs/default.local"), "# site settings\nCVMFS_QUOTA_LIMIT=1000\nCVMFS_USE_GEOAPI=yes\nCVMFS_QUOTA_LIMIT=2000\n");
    const ud = [
      "[cernvm]", "repositories = atlas, grid.cern.ch,sft",
      `extra_repositories = my.example.org|s1.example.org:8000|${Buffer.from(pub.stdout).toString("base64")}, other|http://s1.example.org/cvmfs/@fqrn@|${Buffer.from(pub.stdout).toString("base64")}`,
      "proxy = http://squid1:3128|http://squid2:3128;DIRECT",
      "[cvmfs]", "quota_limit = 20000", "CVMFS_CACHE_BASE = /scratch/cvmfs", "cvmfs_server_url = http://s1.example.org/cvmfs/@fqrn@;http://s2.example.org:8000/cvmfs/@fqrn@",
      "CVMFS_CLIENT_PROFILE = single",
    ].join("\n");
    const r = await apply(root, ud);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const local = join(root, "etc/cvmfs/default.local");
    expect(read(root, "etc/cvmfs/default.local")).toBe([
      "# site settings",
      "CVMFS_QUOTA_LIMIT=20000", // replaced in place; the later duplicate (which would win when sourced) removed
      "CVMFS_USE_GEOAPI=yes",
      "CVMFS_CACHE_BASE=/scratch/cvmfs",
      "CVMFS_SERVER_URL='http://s1.example.org/cvmfs/@fqrn@;http://s2.example.org:8000/cvmfs/@fqrn@'",
      "CVMFS_CLIENT_PROFILE=single",
      "CVMFS_REPOSITORIES=atlas.cern.ch,grid.cern.ch,sft.cern.ch,my.example.org,other.cern.ch",
      "CVMFS_HTTP_PROXY='http://squid1:3128|http://squid2:3128;DIRECT'", "",
    ].join("\n"));
    expect(await sourced(local, "CVMFS_HTTP_PROXY")).toBe("http://squid1:3128|http://squid2:3128;DIRECT");
    expect(await sourced(local, "CVMFS_SERVER_URL")).toBe("http://s1.example.org/cvmfs/@fqrn@;http://s2.example.org:8000/cvmfs/@fqrn@");
    const conf = join(root, "etc/cvmfs/config.d/my.example.org.conf");
    expect(await sourced(conf, "CVMFS_SERVER_URL")).toBe("http://s1.example.org:8000/cvmfs/my.example.org");
    expect(await sourced(conf, "CVMFS_PUBLIC_KEY")).toBe("/etc/cvmfs/keys/my.example.org.pub");
    expect(await sourced(join(root, "etc/cvmfs/config.d/other.cern.ch.conf"), "CVMFS_SERVER_URL")).toBe("http://s1.example.org/cvmfs/@fqrn@");
    expect(read(root, "etc/cvmfs/keys/my.example.org.pub")).toBe(pub.stdout);
    expect(mode(root, "etc/cvmfs/keys/my.example.org.pub")).toBe(0o644);
  });

  test("a bad proxy, a bad [cvmfs] value, a key that is not base64 or not a public key: refused, each named", async () => {
    const root = guest("cvmfs-bad");
    const r = await apply(root, ["[cernvm]", "proxy = squid:3128", `extra_repositories = a.b.c|s1|${Buffer.from("not a key").toString("base64")},d.e.f|s1|@@@`, "[cvmfs]", "quota_limit = lots"].join("\n"));
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([
      "cvm: user_data line 2: [cernvm] proxy: 'squid:3128': expected proxies like http://HOST:PORT or DIRECT, '|' within a group, ';' between groups",
      "cvm: user_data line 3: [cernvm] extra_repositories: a.b.c: the key is not a base64 PEM public key",
      "cvm: user_data line 3: [cernvm] extra_repositories: d.e.f: the key is not valid base64",
      "cvm: user_data line 5: [cvmfs] quota_limit: expected a number of megabytes (-1 for no limit) (4 problems; nothing applied)",
    ]);
    expect(existsSync(join(root, "etc/cvmfs"))).toBe(false);
  });

  test("users, shell: groups and users appended (existing lines byte for byte, backups kept), homes 0700 from /etc/skel, locked or hashed passwords", async () => {
    const root = guest("users");
    const before = { passwd: read(root, "etc/passwd"), group: read(root, "etc/group"), shadow: read(root, "etc/shadow"), gshadow: read(root, "etc/gshadow") };
    const r = await apply(root, "[cernvm]\nusers = alice:physics:S3cret:pass,bob:physics:,users1::\nshell = /bin/sh\n");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(read(root, "etc/passwd")).toBe(before.passwd + "alice:x:1000:1000::/home/alice:/bin/sh\nbob:x:1001:1000::/home/bob:/bin/sh\nusers1:x:1002:1002::/home/users1:/bin/sh\n");
    expect(read(root, "etc/group")).toBe(before.group + "physics:x:1000:\nusers1:x:1002:\n");
    expect(read(root, "etc/gshadow")).toBe(before.gshadow + "physics:!::\nusers1:!::\n");
    const shadow = read(root, "etc/shadow");
    expect(shadow.startsWith(before.shadow)).toBe(true);
    const added = shadow.slice(before.shadow.length).split("\n").filter(Boolean).map((l) => l.split(":"));
    expect(added.map((f) => [f[0], f[1].startsWith("$6$") ? "sha512" : f[1], f[3], f[4], f[5]])).toEqual([["alice", "sha512", "0", "99999", "7"], ["bob", "!", "0", "99999", "7"], ["users1", "!", "0", "99999", "7"]]);
    // the hash is of the whole password (it may hold ':'), in the scheme of the root's login.defs (SHA512): openssl agrees
    const salt = added[0][1].split("$")[2];
    const again = await run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], { stdin: "S3cret:pass\n" });
    expect(again.stdout.trim()).toBe(added[0][1]);
    expect([mode(root, "etc/shadow"), mode(root, "etc/passwd")]).toEqual([0o640, 0o644]);
    expect(read(root, "etc/passwd-")).toBe(before.passwd);
    expect(read(root, "etc/shadow-")).toBe(before.shadow);
    expect([mode(root, "home/alice"), ...owner(root, "home/alice")]).toEqual([0o700, 1000, 1000]);
    expect(read(root, "home/bob/.profile")).toBe("# the guest's skeleton profile\n");
    expect(owner(root, "home/bob/.profile")).toEqual([1001, 1000]);
    expect(existsSync(join(root, "etc/passwd.lock"))).toBe(false);
    expect(r.stdout + r.stderr + read(root, "var/log/cvm-agent.log") + read(root, "var/lib/cvm/agent/status.json")).not.toContain("S3cret");
    // a second run (another instance) keeps the accounts as they are
    const again2 = await apply(root, "[cernvm]\nusers = alice:physics:Other\n", "--instance-id", "second");
    expect(again2.stderr).toContain("warning: user_data line 2: [cernvm] users: alice exists; kept as it is (its password is not changed)");
    expect(read(root, "etc/shadow")).toBe(shadow);
  });

  test("x509-cert → /tmp/x509up_u<uid> of x509-user, 0600, owned by them, byte for byte; x509-cert-file copies a file", async () => {
    const root = guest("x509");
    const pki = await makePki({ name: "agent-x509" });
    roots.push(pki.dir);
    const proxyPath = join(pki.dir, "proxy");
    const made = await cvm(["proxy", "init", "-q", "--pwstdin", "--cert", pki.userCert, "--key", pki.userKey, "--out", proxyPath], { stdin: PASS + "\n" });
    expect(made.code).toBe(0);
    const pem = readFileSync(proxyPath, "latin1");
    const r = await apply(root, `[cernvm]\nusers = pilot:pilot:,other:other:\nx509-user = pilot\nx509-cert = ${Buffer.from(pem).toString("base64")}\n`);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(readFileSync(join(root, "tmp/x509up_u1000"), "latin1")).toBe(pem);
    expect([mode(root, "tmp/x509up_u1000"), ...owner(root, "tmp/x509up_u1000")]).toEqual([0o600, 1000, 1000]);
    // x509-cert-file: a file already in the guest
    const root2 = guest("x509-file");
    mkdirSync(join(root2, "etc/grid-security"), { recursive: true });
    writeFileSync(join(root2, "etc/grid-security/pilot.pem"), pem, { mode: 0o600 });
    const r2 = await apply(root2, "[cernvm]\nusers = pilot:pilot:\nx509-cert-file = /etc/grid-security/pilot.pem\n");
    expect([r2.code, r2.stderr]).toEqual([0, ""]);
    expect(readFileSync(join(root2, "tmp/x509up_u1000"), "latin1")).toBe(pem);
    expect(owner(root2, "tmp/x509up_u1000")).toEqual([1000, 1000]);
  }, 60_000);

  test("x509: bad base64, not a proxy, an unknown user, both keys, a file that is not a credential: each refused, nothing written", async () => {
    const root = guest("x509-bad");
    writeFileSync(join(root, "etc/motd"), "hello\n");
    const cases: [string, string][] = [
      ["x509-cert = %%%", "[cernvm] x509_cert: not valid base64 (expected the base64 of a proxy file)"],
      [`x509-cert = ${Buffer.from("hello").toString("base64")}`, "[cernvm] x509_cert: not a proxy: no PEM certificate in it"],
      ["x509-user = nobody1\nx509-cert = aGVsbG8=", "[cernvm] x509_user: nobody1 is unknown (not in /etc/passwd nor in users)"],
      ["x509-cert = aGVsbG8=\nx509-cert-file = /etc/motd", "[cernvm] x509_cert_file: x509-cert and x509-cert-file exclude each other"],
      ["x509-cert-file = /etc/motd", "[cernvm] x509_cert_file: not a proxy: no PEM certificate in it"],
      ["x509-cert-file = /etc/../etc/shadow", "[cernvm] x509_cert_file: '/etc/../etc/shadow': expected an absolute path"],
    ];
    for (const [kv, message] of cases) {
      const r = await apply(root, `[cernvm]\n${kv}\n`);
      expect({ kv, code: r.code, err: r.stderr.trim().split("\n").pop() }).toEqual({ kv, code: 1, err: expect.stringContaining(message) });
    }
    expect(existsSync(join(root, "tmp/x509up_u0"))).toBe(false);
  });

  test("environment → /etc/profile.d/cvm.sh and /etc/environment (other lines kept), values literal: $(…) is never run", async () => {
    const root = guest("env");
    writeFileSync(join(root, "etc/environment"), "LANG=C.UTF-8\nCMS_ROOT=/old\n");
    const r = await apply(root, "[cernvm]\nenvironment = CMS_SITECONFIG=EC2, CMS_ROOT=/opt/cms,GREETING=hello world,A=$(id),EMPTY=\n");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("warning: user_data line 2: [cernvm] environment: A: '$' and '`' are written literally; nothing is expanded or run\n");
    expect(read(root, "etc/environment")).toBe("LANG=C.UTF-8\nCMS_ROOT=/opt/cms\nCMS_SITECONFIG=EC2\nGREETING='hello world'\nA='$(id)'\nEMPTY=\n");
    const profile = join(root, "etc/profile.d/cvm.sh");
    expect(mode(root, "etc/profile.d/cvm.sh")).toBe(0o644);
    expect(await sourced(profile, "A")).toBe("$(id)");
    expect(await sourced(profile, "GREETING")).toBe("hello world");
    expect(await sourced(profile, "CMS_ROOT")).toBe("/opt/cms");
  });

  test("services: the [Install] links systemctl would make (systemctl --root agrees), a unit with no file is recorded, and the list kept", async () => {
    const root = guest("services");
    const twin = guest("services-twin");
    for (const r of [root, twin]) {
      mkdirSync(join(r, "lib/systemd/system"), { recursive: true });
      writeFileSync(join(r, "lib/systemd/system/pilot.service"), "[Unit]\nDescription=x\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nAlias=panda.service\n");
      writeFileSync(join(r, "lib/systemd/system/worker@.service"), "[Service]\nExecStart=/bin/true %i\n[Install]\nWantedBy=multi-user.target\n");
    }
    const r = await apply(root, "[cernvm]\nservices = pilot, worker@1, missing\n");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("warning: user_data line 2: [cernvm] services: missing.service: no unit file under the root; recorded only\n");
    expect(readlinkSync(join(root, "etc/systemd/system/multi-user.target.wants/pilot.service"))).toBe("/lib/systemd/system/pilot.service");
    expect(readlinkSync(join(root, "etc/systemd/system/panda.service"))).toBe("/lib/systemd/system/pilot.service");
    expect(readlinkSync(join(root, "etc/systemd/system/multi-user.target.wants/worker@1.service"))).toBe("/lib/systemd/system/worker@.service");
    expect(read(root, "var/lib/cvm/agent/services")).toBe("pilot.service\nworker@1.service\nmissing.service\n");
    if (hasTools("systemctl")) {
      const s = await run(["systemctl", `--root=${twin}`, "enable", "pilot.service", "worker@1.service"]);
      expect(s.code).toBe(0);
      for (const link of ["multi-user.target.wants/pilot.service", "panda.service", "multi-user.target.wants/worker@1.service"])
        expect(readlinkSync(join(root, "etc/systemd/system", link))).toBe(readlinkSync(join(twin, "etc/systemd/system", link)));
      const st = await run(["systemctl", `--root=${root}`, "is-enabled", "pilot.service"]);
      expect(st.stdout.trim()).toBe("enabled");
    }
  });

  test("contextualization_command: run directly as the user, with the environment and the arguments as they were written", async () => {
    const root = guest("commands", true);
    guestScript(root, "/opt/ctx/run.sh", '#!/bin/sh\nprintf "%s|%s|%s|%s|%s\\n" "$USER" "$HOME" "$SITE" "$1" "$2" > "$HOME/ran"\n');
    const r = await apply(root, "[cernvm]\nusers = worker:worker:\nenvironment = SITE=CERN\ncontextualization_command = worker:/opt/ctx/run.sh a;rm $(id)\n");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "home/worker/ran")).toBe("worker|/home/worker|CERN|a;rm|$(id)\n");
    expect(owner(root, "home/worker/ran")).toEqual([1000, 1000]);
    // without user: it runs as the first of users
    const r2 = await apply(root, "[cernvm]\nusers = worker:worker:\ncontextualization_command = /opt/ctx/run.sh again\n", "--instance-id", "two");
    expect(r2.code).toBe(0);
    expect(read(root, "home/worker/ran")).toBe("worker|/home/worker||again|\n");
  });

  test("contextualization_command: an unknown user, a relative or '..' path is refused before anything; a missing program fails its step", async () => {
    const root = guest("commands-bad", true);
    for (const [v, message] of [
      ["ghost:/bin/sh", "[cernvm] contextualization_command: unknown user ghost (not in /etc/passwd nor in users)"],
      ["root:bin/sh", "[cernvm] contextualization_command: 'bin/sh': expected an absolute path of plain characters (no '..')"],
      ["root:/opt/../bin/sh", "[cernvm] contextualization_command: '/opt/../bin/sh': expected an absolute path of plain characters (no '..')"],
    ]) {
      const r = await apply(root, `[cernvm]\nusers = x1:x1:\ncontextualization_command = ${v}\n`);
      expect({ v, code: r.code, err: r.stderr.trim() }).toEqual({ v, code: 1, err: `cvm: user_data line 3: ${message} (nothing applied)` });
      expect(read(root, "etc/passwd")).not.toContain("x1:");
    }
    const r = await apply(root, "[cernvm]\ncontextualization_command = root:/opt/none.sh\n");
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("cvm: step commands: /opt/none.sh (as root): /opt/none.sh: no such file in the root\n");
  });

  test("site settings → /etc/cernvm/site.conf; obsolete keys are understood and said to do nothing", async () => {
    const root = guest("site");
    const ud = ["[cernvm]", "organisations = atlas,lhcb", "users = pilot:pilot:", "auto_login = yes", "group_profile = group-atlas", "edition = desktop",
      "screenRes = 1280x700", "startXDM = on", "keyboard = de", "gridUiVersion = 3.2.1", "swap_size = auto", "desktop_icons = on",
      "eos-user = pilot", "eos-server = eos.cern.ch", "eos-readaheadsize = 4000000", "eos-readcachesize = 16000000",
      "contextualization_key = 0123:secret", "entitlement_key = xyz", "config_url = http://cernvm.cern.ch/config"].join("\n");
    const r = await apply(root, ud);
    expect(r.code).toBe(0);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([
      "warning: user_data line 17: [cernvm] contextualization_key: CernVM Online pairing no longer exists; ignored",
      "warning: user_data line 18: [cernvm] entitlement_key: CernVM-FS dropped entitlement keys; ignored",
      "warning: user_data line 19: [cernvm] config_url: amiconfig never used it; ignored",
    ]);
    expect(lines(root, "etc/cernvm/site.conf").slice(1)).toEqual([
      "CERNVM_ORGANISATION=atlas,lhcb", "CERNVM_GROUP_PROFILE=group-atlas", "CERNVM_EDITION=Desktop", "CERNVM_SCREEN_RES=1280x700", "CERNVM_START_XDM=on",
      "CERNVM_KEYBOARD=de", "CERNVM_GRID_UI_VERSION=3.2.1", "CERNVM_SWAP_SIZE=auto", "CERNVM_DESKTOP_ICONS=on", "CERNVM_EOS_USER=pilot",
      "CERNVM_EOS_SERVER=eos.cern.ch", "CERNVM_EOS_READAHEADSIZE=4000000", "CERNVM_EOS_READCACHESIZE=16000000",
      "CERNVM_USER=pilot", "CERNVM_USER_GROUP=pilot", "CERNVM_USER_SHELL=/bin/bash", "CERNVM_AUTOLOGIN=on",
    ]);
    expect(read(root, "etc/cernvm/site.conf")).not.toContain("secret");
  });

  test("hostname from [hostname]; root's ssh keys come from the metadata (see agent-sources)", async () => {
    const root = guest("hostname");
    const r = await apply(root, "[hostname]\nhostname = wn-001.example.org\n");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "etc/hostname")).toBe("wn-001.example.org\n");
    const bad = await apply(root, "[hostname]\nhostname = -bad-.example\n", "--instance-id", "b");
    expect(bad.stderr.trim()).toBe("cvm: user_data line 2: [hostname] hostname: '-bad-.example' is not a valid host name (letters, digits, inner '-', dot-separated) (nothing applied)");
  });
});
