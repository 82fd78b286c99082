// Writes a benchmark source tree: N small text files in 100 directories and
// M bytes of large files, half random (incompressible) and half text-like.
// usage: bun bench/lib/make-tree.ts DIR SMALL_FILES LARGE_BYTES
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

const [dir, smallArg, largeArg] = Bun.argv.slice(2);
const small = Number(smallArg ?? 10000), large = Number(largeArg ?? 1 << 30);
const words = "event track vertex jet muon calorimeter trigger luminosity detector reconstruction simulation geometry".split(" ");
const text = (n: number, seed: number) => {
  let s = "";
  for (let i = 0; s.length < n; i++) s += words[(i * 7 + seed) % words.length] + (i % 11 ? " " : "\n");
  return s.slice(0, n);
};
for (let i = 0; i < small; i++) {
  const d = join(dir, "small", `d${i % 100}`);
  if (i < 100) mkdirSync(d, { recursive: true });
  writeFileSync(join(d, `f${i}.txt`), text(500 + (i * 37) % 7500, i));
}
mkdirSync(join(dir, "large"), { recursive: true });
const piece = 64 << 20;
for (let written = 0, n = 0; written < large; n++) {
  const size = Math.min(128 << 20, large - written);
  const parts: Buffer[] = [];
  for (let off = 0; off < size; off += piece) {
    const len = Math.min(piece, size - off);
    parts.push(n % 2 ? Buffer.from(text(len, n + off)) : randomBytes(len));
  }
  writeFileSync(join(dir, "large", `blob${n}.bin`), Buffer.concat(parts));
  written += size;
}
