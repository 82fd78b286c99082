import { defineCommand } from "citty";
import { CvmError } from "../../src/cli/errors";
import { open, repoArgs } from "./common";

export default defineCommand({
  meta: { name: "verify", description: "Check that every object of the current revision (or --all) exists and matches its hash" },
  args: { ...repoArgs, all: { type: "boolean", description: "Every revision named in the history" }, json: { type: "boolean", description: "The report as JSON" } },
  async run({ args, rawArgs }) {
    const repo = await open(args, rawArgs);
    try {
      const { verifyRepository } = await import("../../src/cvmfs/client/verify");
      const { Progress } = await import("../../src/cli/progress");
      const progress = new Progress("verifying", 0);
      const r = await verifyRepository(repo, { all: args.all, onProgress: (n) => progress.update(n, "objects", n) });
      progress.done();
      if (args.json) (await import("../../src/cli/output")).printJson(r);
      else {
        for (const f of r.failures) process.stderr.write(`cvm: ${f}\n`);
        process.stdout.write(`${repo.fqrn}: ${r.objects} objects (${r.catalogs} catalogs, ${(r.bytes / 1048576).toFixed(1)} MB) in revision${r.revisions.length > 1 ? "s" : ""} ${r.revisions.join(", ")}: ${r.failures.length ? `${r.failures.length} FAILED` : "OK"}\n`);
      }
      if (r.failures.length) throw new CvmError(`${repo.fqrn}: verification failed for ${r.failures.length} object(s)`);
    } finally {
      repo.close();
    }
  },
});
