import { closeSync, constants, fstatSync, openSync } from "node:fs";
import { join, resolve } from "node:path";
import { errnoCode, UsageError } from "../../cli/errors";
import { boundedGet, formatBytes, HttpError } from "../../sys/http";
import { httpTimeoutSeconds } from "../../sys/config";
import { RepositoryError } from "../errors";
import { readFull } from "../../sys/read-full";

/**
 * Where a reader gets repository files from: a stratum's HTTP URL or a local
 * storage directory. Every read names the most bytes it accepts, so nothing
 * unverified can grow without bound. The stratum client's fetcher (proxies,
 * fail-over, cache) implements the same interface.
 */
export interface RepositorySource {
  readonly location: string; // for messages: the URL or directory
  /**
   * The file at `path` ("data/ab/cd…C", ".cvmfspublished"), at most `maxBytes`,
   * passed through `accept`, which checks (and may transform) it and throws
   * CorruptObjectError for bad data: a fetcher with several servers then
   * tries again elsewhere. RepositoryError when it cannot be had.
   */
  get<T = Uint8Array>(path: string, maxBytes: number, accept?: (bytes: Uint8Array) => T | Promise<T>, o?: GetOptions): Promise<T>;
}

/** noCache: ask proxies on the way to fetch it anew (a stale manifest in a squid). */
export interface GetOptions { noCache?: boolean; }

const asIs = (bytes: Uint8Array) => bytes;

export class HttpSource implements RepositorySource {
  readonly location: string;
  constructor(baseUrl: string, private readonly idleTimeoutMs = 1000 * httpTimeoutSeconds()) {
    this.location = baseUrl.replace(/\/+$/, "");
  }

  async get<T = Uint8Array>(path: string, maxBytes: number, accept: (bytes: Uint8Array) => T | Promise<T> = asIs as never): Promise<T> {
    let body: Uint8Array;
    try {
      body = (await boundedGet(`${this.location}/${path}`, { maxBytes, idleTimeoutMs: this.idleTimeoutMs })).body;
    } catch (err) {
      if (err instanceof HttpError) throw new RepositoryError(err.message);
      throw err;
    }
    return await accept(body);
  }
}

export class DirectorySource implements RepositorySource {
  readonly location: string;
  constructor(dir: string) {
    this.location = resolve(dir);
  }

  /** Regular files only, judged on the open descriptor (O_NONBLOCK: a FIFO must not hang the open). */
  async get<T = Uint8Array>(path: string, maxBytes: number, accept: (bytes: Uint8Array) => T | Promise<T> = asIs as never): Promise<T> {
    return await accept(this.read(path, maxBytes));
  }

  private read(path: string, maxBytes: number): Uint8Array {
    const file = join(this.location, path);
    if (!file.startsWith(this.location + "/")) throw new RepositoryError(`${path}: outside the repository storage`);
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") throw new RepositoryError(`${file}: not found`);
      throw new RepositoryError(`${file}: ${(err as Error).message}`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw new RepositoryError(`${file}: not a regular file`);
      if (st.size > maxBytes) throw new RepositoryError(`${file}: ${st.size} bytes, more than the ${formatBytes(maxBytes)} allowed for it`);
      const out = new Uint8Array(st.size);
      const at = readFull(fd, out); // short if it shrank while reading: the hash check will say so
      return at === out.length ? out : out.subarray(0, at);
    } catch (err) {
      if (err instanceof RepositoryError) throw err;
      throw new RepositoryError(`${file}: ${(err as Error).message}`);
    } finally {
      closeSync(fd);
    }
  }
}

/** `http(s)://…` → HTTP; `file://…` or a plain path → a storage directory. */
export function sourceFor(location: string): RepositorySource {
  if (/^https?:\/\//.test(location)) {
    if (!URL.canParse(location)) throw new UsageError(`${location}: not a valid URL`);
    return new HttpSource(location);
  }
  return new DirectorySource(location.startsWith("file://") ? decodeURIComponent(new URL(location).pathname) : location);
}

/** The fqrn in a stratum URL or storage path: the last component after /cvmfs/, or the last component. */
export function guessFqrn(location: string): string | undefined {
  const path = location.replace(/^[a-z]+:\/\/[^/]*/, "").replace(/\/+$/, "");
  const last = path.split("/").pop();
  return last && /^[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9.-]+$/.test(last) ? last : undefined;
}
