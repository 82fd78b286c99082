import { chownSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./free-port";
import { readIfExists, waitForEntries, type TestServer } from "./nginx";
import { ownTempDir, releaseTempDir, serverBinary, ServerProcess } from "./server-process";

/**
 * A real squid as a site's forward proxy: 127.0.0.1 on a free port, loopback
 * clients to loopback destinations only, a memory cache (no disk cache, so no
 * `squid -z` and nothing to clean), and squid's stock freshness rules: it
 * caches what the stratum marks cacheable (data/ objects for days, .cvmfs*
 * files for 61 s) and refetches when the client sends Cache-Control/Pragma:
 * no-cache (TCP_CLIENT_REFRESH_MISS in the access log).
 *
 * Config, pid file and logs live in its own temp directory under the system
 * temp dir. Started as root (CI), squid drops to cache_effective_user (the
 * Debian build's `proxy`, else nobody), so that directory is chowned to that
 * user; started as anyone else it simply runs as that user.
 */

export interface SquidOptions {
  /** A fixed port; default a free one. */
  port?: number;
  /** Memory cache size (default 64 MB). */
  memoryCacheMB?: number;
  /** Largest object cached (default 16 MB). */
  maxObjectMB?: number;
  /** Extra squid.conf lines (e.g. "read_timeout 5 seconds"), added before the access rules. */
  extraConfig?: string;
  /** Start deadline (default 20 s). */
  startTimeoutMs?: number;
}

/** One transaction from squid's native access log. */
export interface SquidAccess {
  /** Squid's result code, e.g. TCP_MISS, TCP_MEM_HIT, TCP_CLIENT_REFRESH_MISS, TCP_REFRESH_UNMODIFIED. */
  result: string;
  /** HTTP status sent to the client. */
  status: number;
  bytes: number;
  method: string;
  url: string;
  /** How squid got it, e.g. HIER_DIRECT/127.0.0.1 or HIER_NONE/-. */
  hierarchy: string;
  /** The line as logged. */
  line: string;
}

export interface Squid extends TestServer<SquidAccess> {
  /** http://127.0.0.1:PORT, as a CVMFS_HTTP_PROXY entry or for curl -x. */
  readonly url: string;
}

export async function startSquid(options: SquidOptions = {}): Promise<Squid> {
  const binary = serverBinary("squid");
  if (!binary) throw new Error("squid is not installed (apt-get install squid; test/system-deps.sh does it)");
  // Under the system temp dir (world-traversable), never under a caller's 0700 dir: squid's user must reach it.
  const dir = mkdtempSync(join(tmpdir(), "cvm-squid-"));
  ownTempDir(dir);
  const user = process.getuid?.() === 0 ? unprivilegedUser() : undefined;
  if (user) chownSync(dir, user.uid, user.gid);

  const fixed = options.port !== undefined;
  let server: ServerProcess | undefined;
  for (let attempt = 1; !server; attempt++) {
    const port = options.port ?? (await freePort());
    const conf = join(dir, "squid.conf");
    await Bun.write(conf, config(dir, port, user?.name, options));
    const candidate = new ServerProcess({
      name: "squid",
      // -N: no daemon, no kid processes; our child is squid itself.
      argv: [binary, "-N", "-f", conf],
      dir,
      port,
      // Not a TCP probe: squid logs every connection that closes without a request (NONE_NONE/000).
      ready: async () => acceptingOn(readIfExists(join(dir, "cache.log")), port, started(dir)),
      pidFile: join(dir, "squid.pid"),
      log: () => readIfExists(join(dir, "cache.log")),
      startTimeoutMs: options.startTimeoutMs ?? 20_000,
      stopSignal: "SIGTERM", // with shutdown_lifetime 0 it still takes squid about 2 s (its shutdown runs on 1 s event ticks)
      stopTimeoutMs: 5_000,
    });
    markStart(dir);
    try {
      await candidate.start();
      server = candidate;
    } catch (e) {
      // Someone took the free port between our probe and squid's bind: pick another.
      if (fixed || attempt >= 3 || !/Address already in use/.test(String(e))) {
        releaseTempDir(dir);
        throw e;
      }
    }
  }
  const running = server;
  const accessLog = () => parseAccessLog(readIfExists(join(dir, "access.log")));
  return {
    port: running.spec.port,
    url: `http://127.0.0.1:${running.spec.port}`,
    get running() {
      return running.running;
    },
    processes: () => running.processes(),
    stop: () => running.stop(),
    kill: () => running.kill(),
    start: async () => {
      markStart(dir);
      await running.start();
    },
    restart: async () => {
      await running.stop();
      markStart(dir);
      await running.start();
    },
    accessLog,
    waitForAccess: (match, wait) => waitForEntries(accessLog, match, wait, "squid access log"),
    remove: async () => {
      await running.stop();
      releaseTempDir(dir);
    },
    dir,
  };
}

function config(dir: string, port: number, user: string | undefined, options: SquidOptions): string {
  const path = (p: string) => plain(join(dir, p));
  const memory = options.memoryCacheMB ?? 64;
  const maxObject = options.maxObjectMB ?? 16;
  return `# written by test/servers/squid.ts
http_port 127.0.0.1:${port}
visible_hostname cvm-test-squid
${user ? `cache_effective_user ${user}` : "# not root: runs as the current user"}
workers 1
max_filedescriptors 4096

pid_filename ${path("squid.pid")}
cache_log ${path("cache.log")}
access_log stdio:${path("access.log")} squid
buffered_logs off
cache_store_log none
logfile_rotate 0
coredump_dir ${dir}
netdb_filename none
pinger_enable off
icp_port 0
htcp_port 0

# Memory cache only (no cache_dir).
cache_mem ${memory} MB
memory_cache_shared off
maximum_object_size_in_memory ${maxObject} MB
maximum_object_size ${maxObject} MB

# Stops at once instead of waiting 30 s for clients.
shutdown_lifetime 0 seconds

${options.extraConfig ?? ""}

acl loopback_src src 127.0.0.0/8 ::1
acl loopback_dst dst 127.0.0.0/8 ::1
http_access allow loopback_src loopback_dst
http_access deny all
`;
}

/** squid.conf has no quoting by default: refuse paths it would split. */
function plain(path: string): string {
  if (/[\s"'\\]/.test(path)) throw new Error(`startSquid: cannot put the path ${JSON.stringify(path)} into squid.conf`);
  return path;
}

/** The account squid drops to when started as root. */
function unprivilegedUser(): { name: string; uid: number; gid: number } {
  const passwd = readIfExists("/etc/passwd").split("\n").map((l) => l.split(":"));
  for (const name of ["proxy", "nobody"]) {
    const entry = passwd.find((f) => f[0] === name);
    if (entry) return { name, uid: Number(entry[2]), gid: Number(entry[3]) };
  }
  throw new Error("startSquid: running as root, but neither user proxy nor nobody exists for cache_effective_user");
}

// Readiness is "this start's cache.log says it accepts on our port", so a
// foreign listener that grabbed the port cannot pass for squid; we remember
// how long cache.log was when each start began.
const startOffsets = new Map<string, number>();

function markStart(dir: string): void {
  startOffsets.set(dir, readIfExists(join(dir, "cache.log")).length);
}

function started(dir: string): number {
  return startOffsets.get(dir) ?? 0;
}

function acceptingOn(log: string, port: number, from: number): boolean {
  return log.slice(from).includes(`Accepting HTTP Socket connections at`) && log.slice(from).includes(`local=127.0.0.1:${port} `);
}

function parseAccessLog(text: string): SquidAccess[] {
  // time elapsed client result/status bytes method url user hierarchy/peer type
  return text.split("\n").filter(Boolean).map((line) => {
    const f = line.trim().split(/\s+/);
    const [result, status] = (f[3] ?? "").split("/");
    return { result, status: Number(status), bytes: Number(f[4]), method: f[5], url: f[6], hierarchy: f[8], line };
  });
}
