// Context directories for `cvm agent --context`: each call makes a new one under `work` holding the files given.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export function contextDirs(work: string): (files: Record<string, string | Uint8Array>) => string {
  let n = 0;
  return (files) => {
    const d = join(work, `ctx-${++n}`);
    for (const [f, data] of Object.entries(files)) {
      mkdirSync(join(d, f, ".."), { recursive: true });
      writeFileSync(join(d, f), data);
    }
    return d;
  };
}
