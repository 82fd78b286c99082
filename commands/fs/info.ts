import { defineCommand } from "citty";
import { open, repoArgs } from "./common";

export default defineCommand({
  meta: { name: "info", description: "Revision, root hash, TTL, publish time, whitelist expiry, tags" },
  args: { ...repoArgs, json: { type: "boolean", description: "As JSON" } },
  async run({ args, rawArgs }) {
    const repo = await open(args, rawArgs);
    try {
      const { repositoryInfo } = await import("../../src/cvmfs/client/describe");
      const info = await repositoryInfo(repo);
      if (args.json) return (await import("../../src/cli/output")).printJson(info);
      const lines: [string, string][] = [
        ["name", info.fqrn], ["source", info.source], ["revision", String(info.revision)], ["root hash", info.rootHash],
        ["ttl", `${info.ttl} s`], ["published", info.published ?? "-"], ["whitelist", `valid until ${info.whitelistExpires}`],
        ["certificate", info.certificateFingerprint], ["tags", info.tags.map((t) => `${t.name} (r${t.revision})`).join(", ") || "-"],
      ];
      process.stdout.write(lines.map(([k, v]) => `${k.padEnd(11)} : ${v}\n`).join(""));
    } finally {
      repo.close();
    }
  },
});
