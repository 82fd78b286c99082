import { defineCommand } from "citty";
import type { CvmCommand } from "../src/cli/run";

const command: CvmCommand = defineCommand({
  meta: { name: "serve", description: "Serve repository storages over HTTP as a stratum 0/1 web server does" },
  args: {
    storage: { type: "positional", required: true, description: "Storage directory (holding .cvmfspublished and data/); several may be given, each served under /cvmfs/<its name>" },
    listen: { type: "string", description: "Address to listen on [127.0.0.1:8000]; port 0 picks a free one", valueHint: "host:port" },
    "max-connections": { type: "string", description: "Connections held at once; more are answered 503 [4096]", valueHint: "n" },
    "max-per-client": { type: "string", description: "Connections held at once from one client address [512]", valueHint: "n" },
    "idle-timeout": { type: "string", description: "Seconds a connection may make no progress (no request, or an answer not read) before it is closed [60]", valueHint: "s" },
    "object-cache": { type: "string", description: "MiB of small data objects kept in memory (their bytes never change); 0 keeps none [32]", valueHint: "MiB" },
    workers: { type: "string", description: "Event loops (threads) sharing the port with SO_REUSEPORT; one per core uses them all [1]", valueHint: "n" },
  },
  async run({ args }) {
    const { parseListen } = await import("../src/cvmfs/serve/listen");
    const { DEFAULT_CAPS } = await import("../src/cvmfs/serve/connection-limits");
    const { DEFAULT_IDLE_TIMEOUT, DEFAULT_OBJECT_CACHE } = await import("../src/cvmfs/serve/server");
    const { startServeWorkers } = await import("../src/cvmfs/serve/workers");
    const { positiveInteger } = await import("../src/cli/args");
    const { log } = await import("../src/cli/log");
    const listen = parseListen(args.listen ?? "127.0.0.1:8000");
    const count = (name: string, fallback: number, max?: number) => (args[name] === undefined ? fallback : positiveInteger(String(args[name]), name, max));
    const caps = { total: count("max-connections", DEFAULT_CAPS.total), perClient: count("max-per-client", DEFAULT_CAPS.perClient) };
    const idleTimeout = count("idle-timeout", DEFAULT_IDLE_TIMEOUT, 86400);
    const workers = count("workers", 1, 256);
    const cacheMiB = args["object-cache"] === "0" ? 0 : count("object-cache", DEFAULT_OBJECT_CACHE >> 20, 65536);
    const storages = (args._ as string[]).filter((s) => s !== undefined && s !== "");
    const verbose = log.level >= 4;
    const server = await startServeWorkers({
      storages, ...listen, caps, idleTimeout, objectCacheBytes: cacheMiB * 1048576,
      log: verbose ? (line) => process.stderr.write(line + "\n") : undefined,
      notice: (line) => log.warn(line),
    }, workers);
    // stdout: one line per repository, its URL first (scripts and `cvm demo` read it), then nothing until the end
    for (const r of server.repositories) process.stdout.write(`${server.url(r.fqrn)}\t${r.root}\n`);
    log.info(`serving ${server.repositories.length} repositor${server.repositories.length === 1 ? "y" : "ies"} on ${server.base}${workers > 1 ? ` with ${workers} workers` : ""}; Ctrl-C stops`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    await server.stop();
    log.info(`stopped (${signal})`);
  },
});
command.variadic = true; // several storage directories
export default command;
