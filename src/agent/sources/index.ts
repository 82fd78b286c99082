import { CvmError } from "../../cli/errors";
import { decodeBase64, USER_DATA_MAX } from "../decode";
import type { Problems } from "../problems";
import { readContextDir } from "./context-dir";
import { readSmallFile, readStdin } from "./read-file";
import { SourceAbsent, type SourceResult } from "./types";

export interface SourceOptions {
  userData?: string;          // a file, or "-" for standard input
  base64?: boolean;           // --user-data is base64
  context?: string;           // a context directory
  metadataUrl?: string;       // the metadata service (default: the EC2 address, on the real root only)
  metadataTimeoutMs: number;  // the discovery budget of the metadata service
  hostRoot: boolean;          // --root is / (context disks and the EC2 address are probed only then)
}

/**
 * The first source that answers, in this order: --user-data; a context
 * directory (--context) or, on the real root, a labelled context disk; the
 * metadata service. Each step says on `note` what it found or why not.
 */
export async function findSource(o: SourceOptions, problems: Problems, note: (s: string) => void): Promise<SourceResult> {
  if (o.userData !== undefined) {
    const what = `--user-data ${o.userData}`;
    let bytes = o.userData === "-" ? await readStdin(USER_DATA_MAX) : readSmallFile(o.userData, USER_DATA_MAX);
    if (!bytes) throw new CvmError(`${what}: no such file`);
    if (o.base64) bytes = decodeBase64(bytes.toString("latin1"), what);
    return { name: what, userData: bytes, publicKeys: [] };
  }
  const tried: string[] = [];
  if (o.context !== undefined) {
    const r = readContextDir(o.context, problems);
    if (!r) throw new CvmError(`--context ${o.context}: no context.sh, openstack/latest/user_data, ec2/latest/user-data or user-data there`);
    return r;
  }
  if (o.hostRoot) {
    const { readContextDisk } = await import("./context-disk");
    const before = tried.length;
    const r = readContextDisk(problems, note, tried);
    if (r) return r;
    if (tried.length === before) tried.push("no context disk");
  }
  const { DEFAULT_METADATA_URL, readImds } = await import("./imds");
  const url = o.metadataUrl ?? (o.hostRoot ? DEFAULT_METADATA_URL : undefined);
  if (url) {
    try {
      return await readImds(url, o.metadataTimeoutMs, note);
    } catch (err) {
      if (!(err instanceof SourceAbsent)) throw err;
      tried.push(err.message);
    }
  } else {
    tried.push("no metadata service probed (--root is not /; give --metadata-url)");
  }
  throw new CvmError(`no user_data source answered: ${tried.join("; ")}`);
}
