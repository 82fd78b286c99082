import { boundedGet, HttpError } from "../../sys/http";
import { RepositoryError } from "../errors";
import { CorruptObjectError } from "../format/object";
import type { GetOptions, RepositorySource } from "./source";
import { DIRECT, type ProxyGroup } from "./proxies";

/**
 * The download manager (spec §5.2–5.4): a chain of stratum servers reached
 * through fail-over groups of load-balanced proxies, as the stock client
 * does it. Host and proxy choice is shared by every request of the process:
 * a failed proxy is "burned" and another of its group taken, an exhausted
 * group moves on to the next, a failed host moves the chain round-robin, and
 * after the reset time the client goes back to the first host and group.
 * Data that fails its check is fetched once more with no-cache headers (so
 * a squid refreshes its copy), then from the next host.
 */

export interface FetcherOptions {
  fqrn: string;
  hosts: string[];                 // stratum URLs ending in /cvmfs/<fqrn>
  proxies: ProxyGroup[];           // fail-over groups; [[DIRECT]] for none
  timeoutProxyMs: number;          // idle timeout through a proxy (CVMFS_TIMEOUT)
  timeoutDirectMs: number;         // without one (CVMFS_TIMEOUT_DIRECT)
  maxRetries: number;              // same-URL retries of a transfer error
  backoffInitMs: number;
  backoffMaxMs: number;
  proxyResetAfterMs: number;
  hostResetAfterMs: number;
  followRedirects: boolean;
  parallel: number;                // downloads at once
  userAgent?: string;
  log?: (message: string) => void; // switches and retries, for -v
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

type Outcome = "host" | "proxy" | "retry" | "bad-data";

/** Where a failed download points the blame (download.cc's classification, spec §5.4). */
function classify(err: unknown, viaProxy: boolean): Outcome {
  if (err instanceof CorruptObjectError) return "bad-data";
  if (!(err instanceof HttpError)) return viaProxy ? "proxy" : "host";
  switch (err.failure) {
    case "refused": // certain and immediate: retrying the same address gains nothing
      return viaProxy ? "proxy" : "host";
    case "network":
    case "timeout":
      return "retry";
    case "status":
      if (err.proxyError) return "proxy";
      if (err.status === 404 || err.status === 400 || err.status === 429 || (err.status ?? 0) >= 500) return "host";
      return viaProxy ? "proxy" : "host";
    case "too-large":
    case "encoding":
      return "bad-data";
    case "redirect":
      return "host";
  }
}

/** A counting semaphore: at most `n` downloads at once. */
class Slots {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async take(): Promise<void> {
    if (this.free > 0) { this.free--; return; }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

export class Fetcher implements RepositorySource {
  readonly location: string;
  private host = 0;
  private hostLeftAt?: number;          // when the chain left host 0
  private group = 0;
  private groupLeftAt?: number;         // when the chain left group 0 (or the first choice of a group)
  private readonly burned = new Set<string>();
  private current?: string;             // the proxy in use in the current group
  private readonly inFlight = new Map<string, Promise<unknown>>();
  private readonly slots: Slots;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: FetcherOptions) {
    if (o.hosts.length === 0) throw new RepositoryError(`${o.fqrn}: no stratum server configured`);
    this.location = o.hosts.length === 1 ? o.hosts[0] : `${o.fqrn} (${o.hosts.length} servers)`;
    this.slots = new Slots(Math.max(1, o.parallel));
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** The stratum in use and the proxy in use ("DIRECT" without one), as `cvm fs talk host info` shows. */
  get currentHost(): string { return this.o.hosts[this.host]; }
  get currentProxy(): string { return this.proxy(); }
  get hosts(): readonly string[] { return this.o.hosts; }

  /** Moves the chain past the current host (it answered, but with something unusable: a stale replica). */
  skipHost(): void {
    this.switchHost(this.host);
  }

  /** Concurrent requests for one path share one download. */
  get<T = Uint8Array>(path: string, maxBytes: number, accept: (bytes: Uint8Array) => T | Promise<T> = ((b: Uint8Array) => b) as never, o: GetOptions = {}): Promise<T> {
    const known = o.noCache ? undefined : this.inFlight.get(path);
    if (known) return known as Promise<T>;
    const p = this.attempts(path, maxBytes, accept, !!o.noCache).finally(() => this.inFlight.delete(path));
    this.inFlight.set(path, p);
    return p;
  }

  /** After the reset times, back to the first host and the first proxy group. */
  private resetIfDue(): void {
    const t = this.now();
    if (this.hostLeftAt !== undefined && t - this.hostLeftAt >= this.o.hostResetAfterMs) {
      this.host = 0;
      this.hostLeftAt = undefined;
      this.o.log?.(`${this.o.fqrn}: back to the first server ${this.o.hosts[0]}`);
    }
    if (this.groupLeftAt !== undefined && t - this.groupLeftAt >= this.o.proxyResetAfterMs) {
      this.group = 0;
      this.groupLeftAt = undefined;
      this.burned.clear();
      this.current = undefined;
    }
  }

  /** One random live member of the current group, kept for every request until it fails. */
  private proxy(): string {
    const groups = this.o.proxies.length ? this.o.proxies : [[DIRECT]];
    const group = groups[this.group % groups.length];
    if (this.current && group.includes(this.current) && !this.burned.has(this.current)) return this.current;
    const live = group.filter((m) => !this.burned.has(m));
    const pool = live.length ? live : group;
    this.current = pool[Math.floor(this.random() * pool.length) % pool.length];
    return this.current;
  }

  private switchProxy(failed: string): boolean {
    const groups = this.o.proxies.length ? this.o.proxies : [[DIRECT]];
    const group = groups[this.group % groups.length];
    if (!group.includes(failed)) return true; // a concurrent request has already moved on
    this.burned.add(failed);
    this.current = undefined;
    this.groupLeftAt ??= this.now();
    if (group.some((m) => !this.burned.has(m))) return true;
    if (this.group + 1 < groups.length) {
      this.group++;
      this.o.log?.(`${this.o.fqrn}: proxy group ${this.group} failed, trying group ${this.group + 1} (${groups[this.group].join("|")})`);
      return true;
    }
    return false; // every proxy of every group failed for this host
  }

  private resetProxies(): void {
    this.group = 0;
    this.burned.clear();
    this.current = undefined;
  }

  private switchHost(from: number): void {
    if (this.host !== from) return; // a concurrent request has already moved on
    if (this.host === 0) this.hostLeftAt = this.now();
    this.host = (this.host + 1) % this.o.hosts.length;
    this.o.log?.(`${this.o.fqrn}: switching to server ${this.o.hosts[this.host]}`);
  }

  private async attempts<T>(path: string, maxBytes: number, accept: (bytes: Uint8Array) => T | Promise<T>, fresh: boolean): Promise<T> {
    const failures: string[] = [];
    const hostsTried = new Set<number>();
    let noCache = fresh;
    let retries = 0;
    let backoff = this.o.backoffInitMs;
    const proxyCount = Math.max(1, this.o.proxies.flat().length);
    // Every host, through every proxy, with a retry and a no-cache refetch each: the most a request can take.
    const budget = this.o.hosts.length * proxyCount * (this.o.maxRetries + 2) + 2;
    for (let attempt = 0; attempt < budget; attempt++) {
      this.resetIfDue();
      const host = this.host;
      const proxy = this.proxy();
      const viaProxy = proxy !== DIRECT;
      hostsTried.add(host);
      const url = `${this.o.hosts[host]}/${path}`;
      try {
        // A slot is held for the transfer only: checking and inflating one object overlaps the next download.
        await this.slots.take();
        let body: Uint8Array;
        try {
          ({ body } = await boundedGet(url, {
            maxBytes,
            idleTimeoutMs: viaProxy ? this.o.timeoutProxyMs : this.o.timeoutDirectMs,
            proxy: viaProxy ? proxy : undefined,
            maxRedirects: this.o.followRedirects ? 4 : 0,
            headers: {
              "User-Agent": this.o.userAgent ?? "cvm",
              ...(noCache ? { "Cache-Control": "no-cache", Pragma: "no-cache" } : {}),
            },
          }));
        } finally {
          this.slots.give();
        }
        return await accept(body);
      } catch (err) {
        if (!(err instanceof HttpError) && !(err instanceof CorruptObjectError)) throw err;
        const message = err instanceof CorruptObjectError ? `${url}${viaProxy ? ` (via ${proxy})` : ""}: ${err.message}` : err.message;
        failures.push(message);
        let outcome = classify(err, viaProxy);
        if (outcome === "retry") {
          if (retries < this.o.maxRetries) {
            retries++;
            const wait = Math.floor(this.random() * backoff);
            backoff = Math.min(backoff * 2, this.o.backoffMaxMs);
            this.o.log?.(`${message}; retrying in ${wait} ms`);
            await this.sleep(wait);
            continue;
          }
          outcome = viaProxy ? "proxy" : "host";
        }
        if (outcome === "bad-data") {
          if (!noCache) {
            noCache = true; // a proxy may hold a bad copy: ask it to fetch again
            this.o.log?.(`${message}; fetching again with no-cache`);
            continue;
          }
          outcome = "host";
        }
        retries = 0;
        backoff = this.o.backoffInitMs;
        if (outcome === "proxy") {
          this.o.log?.(`${message}; proxy ${proxy} failed`);
          if (this.switchProxy(proxy)) continue;
          this.resetProxies(); // every proxy failed: blame the host (kFailHostAfterProxy)
        }
        noCache = fresh;
        if (hostsTried.size >= this.o.hosts.length) break;
        this.switchHost(host);
      }
    }
    throw new RepositoryError(`${path}: every server failed (${failures.length} attempt${failures.length === 1 ? "" : "s"}): ${summarize(failures)}`);
  }
}

/** The distinct failures, last first, kept to one readable line. */
function summarize(failures: string[]): string {
  const distinct = [...new Set([...failures].reverse())];
  const shown = distinct.slice(0, 4).join("; ");
  return distinct.length > 4 ? `${shown}; and ${distinct.length - 4} more` : shown;
}
