import { CvmError } from "../cli/errors";

/**
 * The shared libraries (and the ELF interpreter) a program loads, as the
 * host's dynamic linker resolves them (ldd). Empty for a static program.
 */
export function sharedLibraries(program: string): string[] {
  const p = Bun.spawnSync({ cmd: ["ldd", program], stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin", LC_ALL: "C" } });
  const out = p.stdout.toString();
  if (p.exitCode !== 0) {
    if (/not a dynamic executable|statically linked/.test(out + p.stderr.toString())) return [];
    throw new CvmError(`${program}: cannot list its shared libraries (ldd: ${p.stderr.toString().trim().split("\n")[0] || `exit ${p.exitCode}`})`);
  }
  if (/statically linked/.test(out)) return [];
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    if (/=> not found/.test(line)) throw new CvmError(`${program}: needs ${line.trim().split(" ")[0]}, which this machine does not have`);
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}
