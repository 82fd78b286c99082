import { defineCommand } from "citty";
import type { CvmCommand } from "../src/cli/run";

const command: CvmCommand = defineCommand({
  meta: { name: "serve", description: "Serve repository storages over HTTP as a stratum 0/1 web server does (for demos, tests and small sites)" },
  args: {
    storage: { type: "positional", required: true, description: "Storage directory (holding .cvmfspublished and data/); several may be given, each served under /cvmfs/<its name>" },
    listen: { type: "string", description: "Address to listen on [127.0.0.1:8000]; port 0 picks a free one", valueHint: "host:port" },
  },
  async run({ args }) {
    const { parseListen } = await import("../src/cvmfs/serve/listen");
    const { startStratumServer } = await import("../src/cvmfs/serve/server");
    const { log } = await import("../src/cli/log");
    const listen = parseListen(args.listen ?? "127.0.0.1:8000");
    const storages = (args._ as string[]).filter((s) => s !== undefined && s !== "");
    const verbose = log.level >= 4;
    const server = startStratumServer({ storages, ...listen, log: verbose ? (line) => process.stderr.write(line + "\n") : undefined });
    // stdout: one line per repository, its URL first (scripts and `cvm demo` read it), then nothing until the end
    for (const r of server.repositories) process.stdout.write(`${server.url(r.fqrn)}\t${r.root}\n`);
    log.info(`serving ${server.repositories.length} repositor${server.repositories.length === 1 ? "y" : "ies"} on ${server.base}; Ctrl-C stops`);
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
