import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "resign", description: "Renew the whitelist (sign it again with the master key)" },
  args: {
    fqrn: { type: "positional", required: true, description: "Repository name" },
    storage: { type: "string", description: "Storage directory [as recorded by init]", valueHint: "dir" },
    keys: { type: "string", description: "Key directory [as recorded by init]", valueHint: "dir" },
    days: { type: "string", description: "Validity of the new whitelist", default: "30" },
  },
  async run({ args }) {
    const { readPublisherConfig, validateFqrn } = await import("../../src/cvmfs/publish/config");
    const { writeWhitelist } = await import("../../src/cvmfs/publish/init");
    const fqrn = validateFqrn(args.fqrn);
    const { positiveInteger } = await import("../../src/cli/args");
    const { MAX_WHITELIST_DAYS } = await import("../../src/cvmfs/format/whitelist");
    const days = positiveInteger(args.days, "days", MAX_WHITELIST_DAYS);
    const c = readPublisherConfig(fqrn, { storage: args.storage, keys: args.keys });
    const expires = writeWhitelist({ fqrn, storage: c.storage, keysDir: c.keys, days, algorithm: c.algorithm });
    process.stdout.write(`Whitelist of ${fqrn} signed, valid until ${expires.toISOString()}\n`);
  },
});
