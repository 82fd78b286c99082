import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { errnoCode } from "../cli/errors";
import { RepositoryError } from "./errors";
import { httpTimeoutSeconds } from "../sys/config";

/**
 * Where a reader gets repository files from: a stratum's HTTP URL or a local
 * storage directory. This is the one place the fetcher (proxies, fail-over,
 * cache) plugs in later: everything above asks for relative paths only.
 */
export interface RepositorySource {
  readonly location: string;                // for messages: the URL or directory
  get(path: string): Promise<Uint8Array>;   // "data/ab/cd…C", ".cvmfspublished"; RepositoryError if absent
}

const fetchTimeoutMs = () => 1000 * httpTimeoutSeconds();

export class HttpSource implements RepositorySource {
  readonly location: string;
  constructor(baseUrl: string, private readonly timeoutMs = fetchTimeoutMs()) {
    this.location = baseUrl.replace(/\/+$/, "");
  }

  async get(path: string): Promise<Uint8Array> {
    const url = `${this.location}/${path}`;
    let response: Response;
    try {
      response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { "User-Agent": "cvm" } });
    } catch (err) {
      const why = (err as Error).name === "TimeoutError" ? `no answer within ${this.timeoutMs / 1000} s` : (err as Error).message;
      throw new RepositoryError(`${url}: ${why}`);
    }
    if (response.status === 404) throw new RepositoryError(`${url}: not found (HTTP 404)`);
    if (!response.ok) throw new RepositoryError(`${url}: HTTP ${response.status} ${response.statusText}`);
    return new Uint8Array(await response.arrayBuffer());
  }
}

export class DirectorySource implements RepositorySource {
  readonly location: string;
  constructor(dir: string) {
    this.location = resolve(dir);
  }

  async get(path: string): Promise<Uint8Array> {
    const file = join(this.location, path);
    if (!file.startsWith(this.location + "/")) throw new RepositoryError(`${path}: outside the repository storage`);
    try {
      return readFileSync(file);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") throw new RepositoryError(`${file}: not found`);
      throw new RepositoryError(`${file}: ${(err as Error).message}`);
    }
  }
}

/** `http(s)://…` → HTTP; `file://…` or a plain path → a storage directory. */
export function sourceFor(location: string): RepositorySource {
  if (/^https?:\/\//.test(location)) return new HttpSource(location);
  return new DirectorySource(location.startsWith("file://") ? decodeURIComponent(new URL(location).pathname) : location);
}

/** The fqrn in a stratum URL or storage path: the last component after /cvmfs/, or the last component. */
export function guessFqrn(location: string): string | undefined {
  const path = location.replace(/^[a-z]+:\/\/[^/]*/, "").replace(/\/+$/, "");
  const last = path.split("/").pop();
  return last && /^[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9.-]+$/.test(last) ? last : undefined;
}
