import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort, portAccepts } from "./free-port";
import { liveGroupOf, ownTempDir, releaseTempDir, serverBinary, ServerProcess } from "./server-process";

/**
 * A real nginx serving repository storage directories as a stratum 1 does:
 * /cvmfs/<fqrn>/… maps to the storage directory, with the headers of
 * upstream's Apache config (cvmfs_server_apache.sh, reference/cvmfs-format.md
 * §1.1): `.cvmfs*` files are application/x-cvmfs with max-age=61 (and
 * Expires), JSON too, everything else (data/ objects) 3 days; no
 * Last-Modified, no ETag, If-Modified-Since ignored; no directory listings,
 * 404 for anything missing (directories included).
 *
 * Everything lives in its own temp directory: config, pid file, logs, temp
 * paths. It listens on 127.0.0.1 only, on a free port (or the one given), runs
 * in the foreground as our child and never touches /etc/nginx or the system
 * service.
 */

export interface NginxOptions {
  /** fqrn → storage directory (the one holding .cvmfspublished and data/). */
  storageDirs: Record<string, string>;
  /** A fixed port; default a free one. */
  port?: number;
  /** Extra directives inside the server block (e.g. "keepalive_timeout 0;"). */
  extraConfig?: string;
  /** Start deadline (default 20 s). */
  startTimeoutMs?: number;
  /** worker_processes (default 1). */
  workers?: number;
  /** worker_connections (default 1024). */
  workerConnections?: number;
}

/** One request as nginx logged it. */
export interface NginxAccess {
  method: string;
  /** The request URI as sent (path and query). */
  uri: string;
  status: number;
  bytes: number;
  /** Request headers, "" when absent. */
  cacheControl: string;
  pragma: string;
  userAgent: string;
  /** Set when the request came through a proxy (squid adds Via). */
  via: string;
}

/** What the tests can do with a server they started (nginx, squid): its life cycle and its log. */
export interface TestServer<Access> {
  readonly port: number;
  readonly running: boolean;
  /** Live processes of its process group (for asserting a stop left nothing behind). */
  processes(): number[];
  /** Stops it (SIGTERM, then SIGKILL after 5 s); the port is free afterwards. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL to all its processes at once: a crash, and the fastest stop (squid's clean stop takes ~2 s). */
  kill(): Promise<void>;
  /** Starts it again on the same port (no-op when running; squid comes back with an empty memory cache). */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** Every request logged so far, oldest first (survives stop/start). */
  accessLog(): Access[];
  /**
   * Waits (bounded, default 5 s) until the log has `count` (default 1) entries matching, and returns all matching.
   * Servers log a request after the client has its reply, so read the log through this, not right after a fetch.
   */
  waitForAccess(match: (entry: Access) => boolean, wait?: LogWait): Promise<Access[]>;
  /** Stops it and deletes its temp directory. */
  remove(): Promise<void>;
  /** The temp directory (its config and logs). */
  readonly dir: string;
}

export interface Nginx extends TestServer<NginxAccess> {
  /** http://127.0.0.1:PORT */
  readonly base: string;
  /** The repository URL: http://127.0.0.1:PORT/cvmfs/<fqrn> */
  url(fqrn: string): string;
}

const FQRN = /^[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*$/;

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = serverBinary("nginx");
  if (!binary) throw new Error("nginx is not installed (apt-get install nginx; test/system-deps.sh does it)");
  const dir = mkdtempSync(join(tmpdir(), "cvm-nginx-"));
  ownTempDir(dir);
  // /cvmfs/<fqrn> → storage, as Apache's Alias does, by a symlink under the document root.
  mkdirSync(join(dir, "htdocs", "cvmfs"), { recursive: true });
  for (const [fqrn, storage] of Object.entries(options.storageDirs)) {
    if (!FQRN.test(fqrn)) throw new Error(`startNginx: "${fqrn}" is not a repository name`);
    const target = resolve(storage);
    if (!existsSync(target) || !statSync(target).isDirectory()) throw new Error(`startNginx: ${fqrn}: ${target} is not a directory`);
    symlinkSync(target, join(dir, "htdocs", "cvmfs", fqrn));
  }
  for (const temp of ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, "temp", temp), { recursive: true });

  const fixed = options.port !== undefined;
  let server: ServerProcess | undefined;
  for (let attempt = 1; !server; attempt++) {
    const port = options.port ?? (await freePort());
    writeFileSync(join(dir, "nginx.conf"), config(dir, port, options.extraConfig ?? "", options.workers ?? 1, options.workerConnections ?? 1024));
    const candidate = new ServerProcess({
      name: "nginx",
      argv: [binary, "-p", `${dir}/`, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")],
      dir,
      port,
      // nginx writes its pid file once its socket is bound: a pid of our group there means the port is ours.
      ready: async (group) => pidFileIn(join(dir, "nginx.pid"), group) && (await portAccepts(port)),
      pidFile: join(dir, "nginx.pid"),
      log: () => readIfExists(join(dir, "error.log")),
      startTimeoutMs: options.startTimeoutMs ?? 20_000,
      stopSignal: "SIGTERM", // nginx's fast shutdown; SIGQUIT would wait for keep-alive clients
      stopTimeoutMs: 5_000,
    });
    try {
      await candidate.start();
      server = candidate;
    } catch (e) {
      // Someone took the free port between our probe and nginx's bind: pick another.
      if (fixed || attempt >= 3 || !/Address already in use/.test(String(e))) {
        releaseTempDir(dir);
        throw e;
      }
    }
  }
  const running = server;
  const base = `http://127.0.0.1:${running.spec.port}`;
  const accessLog = () => parseAccessLog(readIfExists(join(dir, "access.log")));
  return {
    port: running.spec.port,
    base,
    url: (fqrn) => `${base}/cvmfs/${fqrn}`,
    get running() {
      return running.running;
    },
    processes: () => running.processes(),
    stop: () => running.stop(),
    kill: () => running.kill(),
    start: () => running.start(),
    restart: async () => {
      await running.stop();
      await running.start();
    },
    accessLog,
    waitForAccess: (match, wait) => waitForEntries(accessLog, match, wait, "nginx access log"),
    remove: async () => {
      await running.stop();
      releaseTempDir(dir);
    },
    dir,
  };
}

function config(dir: string, port: number, extra: string, workers: number, workerConnections: number): string {
  const path = (p: string) => quote(join(dir, p));
  return `# written by test/servers/nginx.ts
${process.getuid?.() === 0 ? "user root root; # the storage is in the test's 0700 temp dirs" : ""}
daemon off;
master_process on;
worker_processes ${workers};
pid ${path("nginx.pid")};
lock_file ${path("nginx.lock")};
error_log ${path("error.log")} info;

events {
  worker_connections ${workerConnections};
}

http {
  client_body_temp_path ${path("temp/client_body")};
  proxy_temp_path ${path("temp/proxy")};
  fastcgi_temp_path ${path("temp/fastcgi")};
  uwsgi_temp_path ${path("temp/uwsgi")};
  scgi_temp_path ${path("temp/scgi")};

  log_format cvmtest escape=json '{"method":"$request_method","uri":"$request_uri","status":$status,"bytes":$body_bytes_sent,'
    '"cacheControl":"$http_cache_control","pragma":"$http_pragma","userAgent":"$http_user_agent","via":"$http_via"}';
  access_log ${path("access.log")} cvmtest;

  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  server_tokens off;

  # Apache's ExpiresByType: the .cvmfs* files and JSON for 61 s ("60 seconds and
  # below is not cached at all by Squid default"), everything else 3 days.
  map $sent_http_content_type $cvm_expires {
    default 3d;
    application/x-cvmfs 61s;
    application/json 61s;
    text/html 15m;
  }

  types {
    application/json json;
  }
  default_type application/octet-stream;

  server {
    listen 127.0.0.1:${port};
    server_name _;
    root ${path("htdocs")};
    autoindex off;
    etag off;
    if_modified_since off;
    add_header Last-Modified "";

    location /cvmfs/ {
      try_files $uri =404;
      expires $cvm_expires;
      location ~ "/\\.cvmfs[^/]*$" {
        types { }
        default_type application/x-cvmfs;
        try_files $uri =404;
        expires $cvm_expires;
      }
    }

    location / {
      return 404;
    }
${extra}
  }
}
`;
}

/** A path for nginx.conf, double-quoted; refuses what nginx would read as syntax or a variable. */
function quote(path: string): string {
  if (/["\\${};\x00-\x1f]/.test(path)) throw new Error(`startNginx: cannot put the path ${JSON.stringify(path)} into nginx.conf`);
  return `"${path}"`;
}

function pidFileIn(file: string, group: number): boolean {
  const pid = Number(readIfExists(file).trim());
  return pid > 0 && liveGroupOf(pid) === group;
}

export function readIfExists(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

function parseAccessLog(text: string): NginxAccess[] {
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as NginxAccess);
}

/** How long to wait for how many matching log entries; a number is the timeout in ms. */
export type LogWait = number | { count?: number; timeoutMs?: number };

/** Polls a log until `count` entries match (bounded); the servers write their log line after the client has its reply. */
export async function waitForEntries<T>(read: () => T[], match: (entry: T) => boolean, wait: LogWait | undefined, what: string): Promise<T[]> {
  const { count = 1, timeoutMs = 5_000 } = typeof wait === "number" ? { timeoutMs: wait } : (wait ?? {});
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = read().filter(match);
    if (found.length >= count) return found;
    if (performance.now() > deadline) throw new Error(`${found.length} matching entries in the ${what} after ${timeoutMs / 1000} s, expected ${count}`);
    await Bun.sleep(20);
  }
}
