import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CvmError } from "../../cli/errors";

/**
 * An OpenNebula context CD (iso9660 labelled CONTEXT holding context.sh) with
 * the user_data base64-encoded: the agent reads it as on OpenNebula. Values
 * are single-quoted; base64 and instance ids hold no quote.
 */
export function writeContextDisk(out: string, o: { userData: Uint8Array; hostname: string }): void {
  const work = mkdtempSync(join(tmpdir(), "cvm-context-"));
  try {
    const lines = [`SET_HOSTNAME='${o.hostname}'`, `USER_DATA='${Buffer.from(o.userData).toString("base64")}'`, "USERDATA_ENCODING='base64'", ""];
    writeFileSync(join(work, "context.sh"), lines.join("\n"), { mode: 0o600 });
    const r = Bun.spawnSync({ cmd: ["xorriso", "-as", "mkisofs", "-quiet", "-V", "CONTEXT", "-J", "-R", "-o", out, work], stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) throw new CvmError(`context disk ${out}: xorriso failed: ${r.stderr.toString().trim().split("\n")[0] || `exit ${r.exitCode}`}`);
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") throw new CvmError("--context disk needs xorriso (apt-get install xorriso)");
    throw err;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
