import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { CvmError } from "../../cli/errors";
import { accel, guestArgv } from "../../appliance/qemu";
import { LOCAL_HOST_ADDRESS, type Region } from "../regions";
import type { ImageRow, ListFilters } from "../list";
import type { InstanceRow } from "../rows";
import { writeContextDisk } from "./context";
import { instanceState, qemuPid, qmp, readReport, consoleTail } from "./guest";
import { dataDir, findImage, instanceDir, instancesDir, listImageRecords, listInstanceRecords, newId, readInstance, writeInstance, type InstanceRecord } from "./store";
import { instanceType } from "./types";

/**
 * The local region: each guest is a qemu of its own, detached (-daemonize),
 * on a user network of its own (169.254.0.0/16, restrict=on) where it reaches
 * only its metadata service at 169.254.169.254 and the host ports the region
 * forwards at ${HOST}. Everything about a guest lives in its instance directory.
 */
export const GUEST_NET = "169.254.0.0/16";
export const IMDS_ADDRESS = "169.254.169.254";
const MEMORY_RESERVE_MIB = 256; // left to the host when counting what guests may take
// The agent gives a metadata service 1 s to answer at all; here qemu starts the service for each connection,
// which on a host busy with TCG guests can take longer (initrd format only: the others bake their command line).
const METADATA_TIMEOUT_S = 10;

export interface LocalLaunch {
  image: string; count: number; instanceType?: string; key?: string; tags: [string, string][];
  userData: Uint8Array; context: "imds" | "disk";
}

/** The owner column: this machine's user (the region's only account). */
const owner = () => process.env.USER || String(process.getuid?.() ?? "-");

/**
 * Each guest gets an address of its own (each has its own network, but ls
 * should tell them apart): the next number claimed by creating its file
 * exclusively, so that two runs at once never take the same one.
 */
function claimAddress(): string {
  const dir = join(instancesDir(), "addresses");
  mkdirSync(dir, { recursive: true });
  for (let seq = readdirSync(dir).length; ; seq++) {
    try {
      closeSync(openSync(join(dir, String(seq)), "wx"));
    } catch (err) {
      if ((err as { code?: string }).code === "EEXIST") continue;
      throw err;
    }
    return `169.254.${1 + (Math.floor(seq / 200) % 168)}.${10 + (seq % 200)}`;
  }
}

function availableMiB(): number {
  const kb = Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1] ?? 0);
  return Math.floor(kb / 1024);
}

/** Refusals before anything starts: no qemu, not the RAM, a host CPU a KVM guest could not run cvm on. */
function checkMachine(count: number, memoryMiB: number, typeName: string): void {
  if (!Bun.which("qemu-system-x86_64")) throw new CvmError("qemu-system-x86_64 not found; the local region boots guests with it (apt-get install qemu-system-x86)");
  const need = count * memoryMiB, free = availableMiB() - MEMORY_RESERVE_MIB;
  if (need > free) throw new CvmError(`${count} × ${typeName} need ${need} MiB of RAM; this machine has ${Math.max(free, 0)} MiB available (keeping ${MEMORY_RESERVE_MIB} MiB for itself)`);
  if (accel().startsWith("kvm")) {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1].split(/\s+/) ?? [];
    const lacking = ["sse4_2", "popcnt"].filter((f) => !flags.includes(f));
    if (lacking.length) throw new CvmError(`CVM_QEMU_ACCEL=kvm: this CPU lacks ${lacking.join(" ")}, which cvm in the guest needs; unset CVM_QEMU_ACCEL to emulate (TCG)`);
  }
}

function row(r: InstanceRecord): InstanceRow {
  const { state, reason } = instanceState(r);
  return {
    region: "local", id: r.id, reservation: r.reservation, owner: owner(), group: "-", image: r.image, dns: r.address,
    state, reason, key: r.key || "-", index: r.index, type: r.type, launched: r.launched, tags: r.tags,
  };
}

function keyLine(name: string): string {
  const file = join(dataDir(), "local", "keys", `${name}.pub`);
  if (!existsSync(file)) throw new CvmError(`key pair '${name}': no ${file} (the local region's key pairs are public keys there)`);
  return readFileSync(file, "utf8");
}

/** Starts one guest; its instance directory is removed again if qemu does not start. */
function startGuest(region: Region, image: ReturnType<typeof findImage>, r: InstanceRecord, o: LocalLaunch, cvm: string): void {
  const dir = instanceDir(r.id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    writeInstance(r);
    writeFileSync(join(dir, "imds.key"), randomBytes(32), { mode: 0o600 });
    writeFileSync(join(dir, "user-data"), o.userData, { mode: 0o600 });
    if (r.key) writeFileSync(join(dir, "key.pub"), keyLine(r.key), { mode: 0o600 });
    const disks = [];
    if (o.context === "disk") {
      writeContextDisk(join(dir, "context.iso"), { userData: o.userData, hostname: r.id });
      disks.push({ file: join(dir, "context.iso"), cdrom: true });
    }
    const manifest = JSON.parse(readFileSync(join(image.dir, "appliance.json"), "utf8")) as { cmdline?: string };
    const argv = guestArgv({
      image: image.file, format: image.format, memoryMiB: r.memoryMiB, cpus: r.cpus, snapshot: image.format === "raw",
      append: `${(manifest.cmdline ?? "quiet").replace(/\bconsole=\S+/g, "").trim()} panic=-1${o.context === "imds" ? ` cvm.metadata-timeout=${METADATA_TIMEOUT_S}` : ""}`, disks, restrict: true,
      network: { net: GUEST_NET, dhcpStart: r.address },
      forwards: [
        ...(o.context === "imds" ? [{ guest: IMDS_ADDRESS, port: 80, command: [cvm, "appliance", "imds", dir] }] : []),
        ...(region.local?.forwards ?? []).map((p) => ({ guest: LOCAL_HOST_ADDRESS, port: p, hostPort: p })),
      ],
      serial: join(dir, "console.log"), qmp: join(dir, "qmp.sock"), pidFile: join(dir, "qemu.pid"), daemonize: true,
      extra: ["-name", `cvm-${r.id},process=cvm-${r.id}`],
    });
    writeFileSync(join(dir, "qemu.argv"), JSON.stringify(argv) + "\n", { mode: 0o600 });
    const p = Bun.spawnSync({ cmd: argv, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    if (p.exitCode !== 0) throw new CvmError(`${r.id}: qemu did not start: ${p.stderr.toString().trim().split("\n")[0] || `exit ${p.exitCode}`}`);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** `run` in the local region: N guests of one reservation, started in turn, pending until their console says ready. */
export async function launchLocal(region: Region, o: LocalLaunch): Promise<InstanceRow[]> {
  const image = findImage(o.image);
  const type = instanceType(o.instanceType ?? region.defaults.instanceType);
  checkMachine(o.count, type.memoryMiB, type.name);
  mkdirSync(instancesDir(), { recursive: true, mode: 0o700 });
  const reservation = newId("r");
  const rows: InstanceRow[] = [];
  for (let index = 0; index < o.count; index++) {
    const r: InstanceRecord = {
      id: newId("i"), reservation, image: image.id, type: type.name, index, launched: new Date().toISOString(), cpus: type.cpus, memoryMiB: type.memoryMiB,
      address: claimAddress(), context: o.context, key: o.key ?? region.defaults.key ?? "", tags: Object.fromEntries(o.tags),
    };
    startGuest(region, image, r, o, process.execPath);
    rows.push(row(r));
  }
  return rows;
}

/** A terminated guest is listed for an hour, as EC2 lists them, then its directory goes. */
const TERMINATED_SHOWN_MS = 3600_000;

export async function listLocalInstances(f: ListFilters): Promise<InstanceRow[]> {
  const now = Date.now();
  const records = listInstanceRecords().filter((r) => {
    if (!r.terminated || now - Date.parse(r.terminated) < TERMINATED_SHOWN_MS) return true;
    rmSync(instanceDir(r.id), { recursive: true, force: true });
    return false;
  });
  return records.map(row)
    .filter((i) => (!f.state || i.state === f.state) && (!f.name || i.tags.Name === f.name) && (f.tags ?? []).every(([k, v]) => i.tags[k] === v))
    .sort((a, b) => a.launched.localeCompare(b.launched) || a.index - b.index);
}

export async function listLocalImages(): Promise<ImageRow[]> {
  return listImageRecords().flatMap((i) => {
    const machine: ImageRow = { region: "local", id: i.id, location: i.file, state: "available", visibility: "private", arch: "x86_64", type: "machine", name: i.name, owner: owner() };
    return i.format === "initrd" ? [machine, { ...machine, id: i.id.replace(/^ami-/, "aki-"), location: join(i.dir, "vmlinuz"), type: "kernel" }] : [machine];
  });
}

export const localReservation = (reservation: string) => listInstanceRecords().filter((r) => r.reservation === reservation && !r.terminated).map((r) => r.id);

/** Seconds a guest gets to power off after the ACPI power button before its qemu is killed [CVM_LOCAL_STOP_SECONDS, 20]. */
const stopSeconds = () => Number(process.env.CVM_LOCAL_STOP_SECONDS) || 20;

/** Powers a guest off (ACPI through QMP; SIGKILL after the timeout), then removes what it no longer needs (its user_data holds a proxy). */
async function terminateOne(id: string): Promise<{ id: string; from: string; to: string }> {
  const r = readInstance(id);
  const from = row(r).state;
  if (r.terminated) return { id, from, to: "terminated" };
  const pid = qemuPid(id);
  if (pid !== undefined) {
    try { await qmp(id, "system_powerdown"); } catch { /* killed below */ }
    const deadline = Date.now() + stopSeconds() * 1000;
    while (qemuPid(id) !== undefined && Date.now() < deadline) await Bun.sleep(100);
    if (qemuPid(id) !== undefined) {
      try { process.kill(pid, "SIGKILL"); } catch { /* gone meanwhile */ }
      while (qemuPid(id) !== undefined) await Bun.sleep(20);
    }
  }
  for (const f of ["user-data", "imds.key", "key.pub", "context.iso", "qmp.sock"]) rmSync(join(instanceDir(id), f), { force: true });
  writeInstance({ ...r, terminated: new Date().toISOString() });
  return { id, from, to: "terminated" };
}

export async function terminateLocal(ids: string[]) {
  for (const id of ids) readInstance(id); // every id checked before any guest is stopped
  return Promise.all(ids.map(terminateOne));
}

/**
 * --wait: until no guest is pending (its console said ready or failed, or its
 * qemu ended). A guest whose contextualization failed, or that is not running,
 * is a failure with its console's error line.
 */
export async function waitLocal(rows: InstanceRow[], o: { intervalMs: number; timeoutMs: number; onProgress?: (done: number, total: number) => void }) {
  const deadline = Date.now() + o.timeoutMs;
  let current = rows;
  for (;;) {
    current = current.map((i) => ({ ...row(readInstance(i.id)) }));
    const waiting = current.filter((i) => i.state === "pending").length;
    o.onProgress?.(current.length - waiting, current.length);
    if (!waiting || Date.now() > deadline) break;
    await Bun.sleep(o.intervalMs);
  }
  const failures = current.flatMap((i) => {
    if (i.state === "pending") return [{ region: "local", message: `${i.id} still booting after ${Math.round(o.timeoutMs / 1000)} s (cvm console ${i.id})` }];
    if (i.state !== "running") return [{ region: "local", message: `${i.id} ${i.state}: ${i.reason} (cvm console ${i.id})` }];
    const failed = readReport(consoleTail(i.id)).failed;
    return failed ? [{ region: "local", message: `${i.id}: ${failed}` }] : [];
  });
  return { instances: current, failures };
}
