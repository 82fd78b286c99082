import { defineCommand } from "citty";
import { UsageError } from "../../src/cli/errors";

export default defineCommand({
  meta: { name: "init", description: "Create a repository: keys, storage, whitelist, and revision 1 (empty)" },
  args: {
    fqrn: { type: "positional", required: true, description: "Repository name, e.g. demo.example.org" },
    storage: { type: "string", required: true, description: "Storage directory to create (what a web server serves as /cvmfs/<fqrn>)", valueHint: "dir" },
    keys: { type: "string", description: "Key directory [~/.config/cvm/keys]", valueHint: "dir" },
    "hash-algorithm": { type: "string", description: "sha1, rmd160 or shake128", default: "sha1" },
    ttl: { type: "string", description: "Seconds clients wait before looking for a new revision", default: "240" },
    "whitelist-days": { type: "string", description: "Whitelist validity", default: "30" },
  },
  async run({ args }) {
    const { validateFqrn, defaultKeysDir } = await import("../../src/cvmfs/publish/config");
    const { parseAlgorithmName } = await import("../../src/cvmfs/format/hash");
    const { initRepository } = await import("../../src/cvmfs/publish/init");
    const { toHex } = await import("../../src/cvmfs/format/hash");
    const fqrn = validateFqrn(args.fqrn);
    const { positiveInteger } = await import("../../src/cli/args");
    const { MAX_WHITELIST_DAYS } = await import("../../src/cvmfs/format/whitelist");
    let algorithm;
    try { algorithm = parseAlgorithmName(args["hash-algorithm"]); } catch (err) { throw new UsageError(`--hash-algorithm: ${(err as Error).message}`); }
    const keysDir = args.keys ?? defaultKeysDir();
    const r = await initRepository({
      fqrn, storage: args.storage, keysDir, algorithm,
      ttl: positiveInteger(args.ttl, "ttl"), whitelistDays: positiveInteger(args["whitelist-days"], "whitelist-days", MAX_WHITELIST_DAYS),
    });
    const domain = fqrn.split(".").slice(1).join(".");
    process.stdout.write(
      `Created ${fqrn}: revision ${r.result.revision}, root catalog ${toHex(r.result.rootHash)}\n` +
      `  storage:   ${args.storage}\n  keys:      ${keysDir}${r.createdKeys.length ? "" : " (existing keys reused)"}\n` +
      `  whitelist: valid until ${r.whitelistExpires.toISOString()} (renew with 'cvm publish resign ${fqrn}')\n` +
      `  config:    ${r.configFile}\n\n` +
      `Clients need the public master key below: for cvmfs, as /etc/cvmfs/keys/${domain}/${fqrn}.pub (or in CVMFS_KEYS_DIR);\n` +
      `for cvm fs / cvm mount, in a directory given with --keys or CVMFS_KEYS_DIR.\n\n${r.masterPublicKey}`,
    );
  },
});
