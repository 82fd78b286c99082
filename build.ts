// Builds dist/cvm: one self-contained executable, templates/ embedded.
import { existsSync, readdirSync } from "node:fs";

const outfile = "dist/cvm";
// Embedded assets keep their relative paths under the binary's root: at run time
// templates are at join(import.meta.dir, "templates") in the compiled binary.
const assets = existsSync("templates") && readdirSync("templates").length ? ["templates"] : [];

const result = await Bun.build({
  // Worker scripts are entry points of their own inside the binary.
  entrypoints: ["main.ts", "src/cvmfs/publish/ingest-worker.ts", "src/fuse/reader-worker.ts", "src/cvmfs/serve/serve-worker.ts"],
  format: "esm",
  splitting: true, // lazily imported commands (the AWS SDK above all) stay out of start-up
  minify: true,
  bytecode: true, // parsed ahead of time: start-up is most of a short command's run
  sourcemap: "none",
  compile: {
    outfile,
    assets,
    // A .env or bunfig.toml in the user's directory must not change what cvm does.
    autoloadDotenv: false,
    autoloadBunfig: false,
  },
});
if (!result.success) {
  for (const message of result.logs) console.error(message);
  process.exit(1);
}
console.error(`built ${outfile}`);
