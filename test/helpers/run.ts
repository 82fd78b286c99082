import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const CVM = join(ROOT, "dist", "cvm");

export interface Result { code: number; stdout: string; stderr: string; }

/** Runs a program asynchronously (never blocking the test process) with an optional stdin. */
export async function run(argv: string[], opts: { env?: Record<string, string | undefined>; stdin?: string; cwd?: string } = {}): Promise<Result> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...opts.env })) if (v !== undefined) env[k] = v;
  const proc = Bun.spawn(argv, {
    env, cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "ignore" : new TextEncoder().encode(opts.stdin),
    stdout: "pipe", stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

/** Runs the built binary, as users do. */
export const cvm = (args: string[], opts: Parameters<typeof run>[1] = {}) => run([CVM, ...args], opts);

/** Environment without the X509_* variables of whoever runs the tests. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { X509_USER_CERT: undefined, X509_USER_KEY: undefined, X509_USER_PROXY: undefined, X509_CERT_DIR: undefined, ...extra };
}
