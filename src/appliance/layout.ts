import { closeSync, existsSync, openSync, readSync, realpathSync } from "node:fs";
import { basename } from "node:path";
import { CvmError } from "../cli/errors";
import { version as cvmVersion } from "../../package.json";
import type { Kernel } from "./kernel";
import { sharedLibraries } from "./libs";
import { modulesDep, type KernelModule } from "./modules";
import { ACPID_CONF, INIT, UDHCPC_SCRIPT, stageConfig, type StageConfig } from "./scripts";
import { ImageTree } from "./tree";

export interface Extra { host: string; guest: string; }

/** Where busybox is, static first: the initramfs of a disk image has no libraries. */
export function findBusybox(given?: string): string {
  const path = given ?? ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
  if (!path || !existsSync(path)) throw new CvmError(`${given ? `--busybox ${given}` : "busybox"}: not found (apt-get install busybox-static)`);
  return path;
}

/** busybox's own list of its applets, each a link to it where nothing else stands. */
function addBusybox(tree: ImageTree, busybox: string): void {
  tree.copy("/bin/busybox", busybox, 0o755);
  addLibraries(tree, busybox);
  const p = Bun.spawnSync({ cmd: [busybox, "--list-full"], stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new CvmError(`${busybox}: cannot list its applets (--list-full: exit ${p.exitCode})`);
  for (const applet of p.stdout.toString().split("\n").filter(Boolean)) {
    const path = "/" + applet;
    if (!tree.has(path)) tree.link(path, "/bin/busybox");
  }
}

/** A program's libraries, each at the path the loader asks for, as the file it resolves to (/lib64/ld-linux… is a link on the host). */
function addLibraries(tree: ImageTree, program: string): void {
  for (const lib of sharedLibraries(program)) if (!tree.has(lib)) tree.copy(lib, realpathSync(lib), 0o755);
}

function addModules(tree: ImageTree, kernel: Kernel, modules: KernelModule[]): void {
  const dir = `/lib/modules/${kernel.version}`;
  for (const m of modules) tree.file(`${dir}/${m.path}`, m.bytes);
  tree.file(`${dir}/modules.dep`, modulesDep(modules));
  // the load order /init follows: dependencies first
  tree.file(`${dir}/cvm.load`, modules.map((m) => `${m.name} ${m.path}\n`).join(""));
}

const BASE_DIRS = ["/proc", "/sys", "/dev", "/run", "/tmp", "/newroot", "/mnt", "/home", "/var/log", "/var/lib", "/var/tmp", "/cvmfs", "/etc/cvmfs/keys"];

/** The few files every stage reads: the init, its configuration, accounts, the DHCP and ACPI hooks. */
function addBase(tree: ImageTree, stage: StageConfig): void {
  for (const d of BASE_DIRS) tree.dir(d);
  tree.dir("/tmp", 0o1777);
  tree.dir("/var/tmp", 0o1777);
  tree.dir("/root", 0o700);
  tree.file("/init", INIT, 0o755);
  tree.file("/etc/cvm-appliance.conf", stageConfig(stage));
  tree.file("/usr/share/udhcpc/default.script", UDHCPC_SCRIPT, 0o755);
  tree.file("/etc/acpid.conf", ACPID_CONF);
}

/** Accounts, names and the release: what a root file system holds for the agent and the pilot. */
function addSystem(tree: ImageTree): void {
  tree.file("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  tree.file("/etc/group", "root:x:0:\nnogroup:x:65534:\n");
  tree.file("/etc/shadow", "root:*:1::::::\nnobody:*:1::::::\n", 0o600);
  tree.file("/etc/hostname", "cernvm\n");
  tree.file("/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");
  tree.file("/etc/nsswitch.conf", "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n");
  tree.file("/etc/os-release", `NAME="cvm appliance"\nID=cvm-appliance\nVERSION_ID=${cvmVersion}\nPRETTY_NAME="cvm appliance ${cvmVersion}"\n`);
  tree.file("/etc/profile", "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
}

/** cvm with the libraries it loads, and the names it answers to (mount -t cvmfs). */
function addCvm(tree: ImageTree, cvm: string): void {
  tree.copy("/usr/bin/cvm", cvm, 0o755);
  addLibraries(tree, cvm);
  tree.link("/sbin/mount.cvmfs", "/usr/bin/cvm");
}

function addExtras(tree: ImageTree, extras: Extra[], packages: string[]): void {
  for (const e of extras) {
    tree.copy(e.guest, e.host);
    if (isProgram(e.host)) addLibraries(tree, e.host);
  }
  for (const name of packages) {
    const p = Bun.spawnSync({ cmd: ["dpkg", "-L", name], stdout: "pipe", stderr: "pipe" });
    if (p.exitCode !== 0) throw new CvmError(`--package ${name}: not installed on this machine (dpkg -L: ${p.stderr.toString().trim().split("\n")[0] || `exit ${p.exitCode}`})`);
    for (const path of p.stdout.toString().split("\n").filter((l) => l.startsWith("/") && l !== "/.")) {
      if (!existsSync(path) || tree.has(path)) continue;
      tree.copyEntry(path, path);
      if (isProgram(path)) addLibraries(tree, path);
    }
  }
}

/** An ELF executable or shared object (its libraries come along). */
function isProgram(path: string): boolean {
  try {
    const head = new Uint8Array(4);
    const fd = openSync(path, "r");
    try { readSync(fd, head, 0, 4, 0); } finally { closeSync(fd); }
    return head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46 && !basename(path).endsWith(".ko");
  } catch {
    return false;
  }
}

export interface TreeParts {
  kernel: Kernel; modules: KernelModule[]; busybox: string; cvm?: string;
  stage: StageConfig; extras?: Extra[]; packages?: string[];
}

/** A whole root: the initramfs of the initrd format, the ext4 root of the raw one. */
export function rootTree(p: TreeParts): ImageTree {
  const tree = new ImageTree();
  addBase(tree, p.stage);
  addSystem(tree);
  addBusybox(tree, p.busybox);
  addModules(tree, p.kernel, p.modules);
  if (p.cvm) addCvm(tree, p.cvm);
  addExtras(tree, p.extras ?? [], p.packages ?? []);
  return tree;
}

/** The raw image's initramfs: only what finds and mounts the root disk. */
export function bootTree(p: TreeParts): ImageTree {
  const tree = new ImageTree();
  addBase(tree, p.stage);
  addBusybox(tree, p.busybox);
  addModules(tree, p.kernel, p.modules);
  return tree;
}
