import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { CvmError, errnoCode } from "../../cli/errors";
import { writeFileAtomic } from "../../sys/atomic";

/**
 * The local region's data: $CVM_DATA_DIR, else $XDG_DATA_HOME/cvm, else
 * ~/.local/share/cvm; under it local/images/ami-…/ (a registered appliance)
 * and local/instances/i-…/ (a guest: its record, console, QMP socket, pid).
 */
export const dataDir = (env = process.env) => env.CVM_DATA_DIR || join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "cvm");
export const imagesDir = (env = process.env) => join(dataDir(env), "local", "images");
export const instancesDir = (env = process.env) => join(dataDir(env), "local", "instances");

/** An EC2-looking id: a prefix and 17 hex digits (ami-…, i-…, r-…). */
export const newId = (prefix: string) => `${prefix}-${randomBytes(9).toString("hex").slice(0, 17)}`;
const ID = /^(ami|aki|i|r)-[0-9a-f]{8,17}$/;

export interface Image {
  id: string;                 // ami-…; its kernel (initrd format) is aki-<same digits>
  name: string;
  dir: string;
  format: "initrd" | "raw" | "iso";
  file: string;               // what qemu boots
  registered: string;
}

/** Which of an appliance's formats the local region boots: the initrd (all in RAM, takes cvm.metadata=), else raw, else the ISO. */
const BOOTABLE: [Image["format"], string][] = [["initrd", "initrd.img"], ["raw", "disk.raw"], ["iso", "appliance.iso"]];

function readJson<T>(file: string, what: string): T {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (err) {
    throw new CvmError(`${file}: ${errnoCode(err) === "ENOENT" ? "no such file" : `not readable as ${what}: ${(err as Error).message}`}`);
  }
}

/**
 * Copies what `cvm appliance build` wrote in `dir` into the image store,
 * through a temporary directory renamed when whole: the image cannot change
 * under a running guest, whatever happens to `dir` afterwards.
 */
export function registerImage(dir: string, name?: string): Image {
  const src = resolve(dir);
  const manifest = join(src, "appliance.json");
  if (!existsSync(manifest)) throw new CvmError(`${src}: no appliance.json; expected a directory written by cvm appliance build`);
  readJson(manifest, "an appliance manifest");
  const found = BOOTABLE.find(([, f]) => existsSync(join(src, f)));
  if (!found) throw new CvmError(`${src}: none of ${BOOTABLE.map(([, f]) => f).join(", ")}; build with -f initrd (or raw, iso)`);
  if (found[0] === "initrd" && !existsSync(join(src, "vmlinuz"))) throw new CvmError(`${src}: initrd.img without vmlinuz beside it`);
  const id = newId("ami");
  const final = join(imagesDir(), id), tmp = `${final}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  try {
    for (const f of ["appliance.json", "vmlinuz", ...BOOTABLE.map(([, x]) => x)]) if (existsSync(join(src, f))) copyFileSync(join(src, f), join(tmp, f));
    const image: Image = { id, name: name ?? (src.split("/").pop() || id), dir: final, format: found[0], file: join(final, found[1]), registered: new Date().toISOString() };
    writeFileAtomic(join(tmp, "image.json"), JSON.stringify(image, null, 2) + "\n");
    renameSync(tmp, final);
    return image;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export function listImageRecords(): Image[] {
  const dir = imagesDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((d) => ID.test(d)).flatMap((d) => (existsSync(join(dir, d, "image.json")) ? [readJson<Image>(join(dir, d, "image.json"), "an image record")] : []));
}

export function findImage(id: string): Image {
  const image = listImageRecords().find((i) => i.id === id || i.id === id.replace(/^aki-/, "ami-"));
  if (!image) throw new CvmError(`image ${id}: not registered (cvm appliance register DIR; cvm --region local ls -i lists them)`);
  return image;
}

/** A guest as launched: what `ls` shows besides its live state. */
export interface InstanceRecord {
  id: string; reservation: string; image: string; type: string; index: number; launched: string;
  cpus: number; memoryMiB: number; address: string; context: "imds" | "disk"; key: string; tags: Record<string, string>;
  terminated?: string;
}

export const instanceDir = (id: string) => join(instancesDir(), id);

export function readInstance(id: string): InstanceRecord {
  if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new CvmError(`'${id}' is not an instance ID (i-…)`);
  const file = join(instanceDir(id), "instance.json");
  if (!existsSync(file)) throw new CvmError(`instance ${id}: no such instance in the local region`);
  return readJson<InstanceRecord>(file, "an instance record");
}

export const writeInstance = (r: InstanceRecord) => writeFileAtomic(join(instanceDir(r.id), "instance.json"), JSON.stringify(r, null, 2) + "\n", 0o600);

export function listInstanceRecords(): InstanceRecord[] {
  const dir = instancesDir();
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((d) => ID.test(d) && existsSync(join(dir, d, "instance.json"))).map((d) => readInstance(d));
}
