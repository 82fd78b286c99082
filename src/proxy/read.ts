import { closeSync, constants, fstatSync, openSync, statSync, type Stats } from "node:fs";
import { CvmError, errnoCode } from "../cli/errors";
import { PemError, parsePem, type PemBlock } from "./pem";
import { readFull } from "../sys/read-full";

/** Certificates, keys and proxy chains are a few KiB; anything near this is not one. */
export const CREDENTIAL_MAX_BYTES = 1 << 20;

export interface CredentialFile { path: string; stat: Stats; text: string; blocks: PemBlock[]; }

function typeOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a fifo";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  return "not a regular file";
}

/**
 * Reads a certificate, key or proxy file (`what` names it in messages) and
 * splits it into PEM blocks. Only regular files are read — a FIFO, a device
 * or a directory is refused by its type before any read — and at most
 * CREDENTIAL_MAX_BYTES of it. Links are followed, as the Globus tools do.
 */
export function readCredentialFile(path: string, what: string, missing = `no such ${what} file`): CredentialFile {
  const fail = (why: string) => new CvmError(`${path}: ${why}`);
  const notRegular = (st: Stats) => fail(`is ${typeOf(st)}, not a ${what} file`);
  let fd: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw notRegular(st);
    // O_NONBLOCK: should a FIFO take the file's place after the stat, the open must not hang
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    if (err instanceof CvmError) throw err;
    if (errnoCode(err) === "ENOENT") throw fail(missing);
    throw fail(`cannot read the ${what} file: ${reason(err)}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw notRegular(stat);
    const tooLarge = () => fail(`too large for a ${what} file (more than ${CREDENTIAL_MAX_BYTES} bytes)`);
    if (stat.size > CREDENTIAL_MAX_BYTES) throw tooLarge();
    // read one byte past the cap: the file may have grown since the fstat
    const buf = Buffer.alloc(CREDENTIAL_MAX_BYTES + 1);
    const at = readFull(fd, buf);
    if (at > CREDENTIAL_MAX_BYTES) throw tooLarge();
    const text = buf.subarray(0, at).toString("latin1");
    let blocks: PemBlock[];
    try {
      blocks = parsePem(text);
    } catch (err) {
      if (err instanceof PemError) throw fail(err.message);
      throw err;
    }
    return { path, stat, text, blocks };
  } catch (err) {
    if (err instanceof CvmError) throw err;
    throw fail(`cannot read the ${what} file: ${reason(err)}`);
  } finally {
    closeSync(fd);
  }
}

/** The system's words for a failed call, without Node's "EACCES: …, open '<path>'" wrapping. */
function reason(err: unknown): string {
  const m = /^E[A-Z]+: (.*?), \w+ '.*'$/.exec((err as Error).message);
  return m ? m[1] : (err as Error).message;
}

/**
 * The message for a file without the block wanted (its path goes before it):
 * says whether it is empty, binary DER, or PEM of another kind.
 */
export function noBlockMessage(file: CredentialFile, kind: "certificate" | "private key"): string {
  if (file.text.trim() === "") return `the file is empty; expected a PEM ${kind}`;
  const base = kind === "certificate" ? "not a PEM certificate (no 'BEGIN CERTIFICATE' block" : "not a PEM private key (no 'BEGIN … PRIVATE KEY' block";
  if (!file.blocks.length && file.text.charCodeAt(0) === 0x30)
    return `${base}; binary DER? convert it with 'openssl ${kind === "certificate" ? "x509" : "pkey"} -inform der')`;
  const labels = [...new Set(file.blocks.map((b) => `'${b.label}'`))];
  if (!labels.length) return `${base})`;
  return `${base}; it holds ${labels.length === 1 ? `a ${labels[0]} block` : `${labels.join(", ")} blocks`})`;
}
