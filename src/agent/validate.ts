import { CvmError } from "../cli/errors";
import { planUserData } from "./planner";
import { formatProblem, Problems, type Problem } from "./problems";
import { RootFs } from "./root";
import { readSmallFile, readStdin } from "./sources/read-file";
import { decodeBase64, USER_DATA_MAX } from "./decode";
import { decodeUserData } from "./userdata";

export interface Validation { file: string; valid: boolean; errors: string[]; warnings: string[]; notes: string[]; }

/**
 * `cvm agent validate FILE`: the whole user_data read and planned as a run
 * would (against --root, read-only), every problem reported with its line,
 * as `cloud-init schema` does; nothing is written.
 */
export async function validateFile(file: string, o: { root: string; base64: boolean }): Promise<Validation> {
  const problems = new Problems();
  const out: Validation = { file, valid: false, errors: [], warnings: [], notes: [] };
  try {
    let bytes = file === "-" ? await readStdin(USER_DATA_MAX) : readSmallFile(file, USER_DATA_MAX);
    if (!bytes) throw new CvmError(`${file}: no such file`);
    if (o.base64) bytes = decodeBase64(bytes.toString("latin1"), file);
    const ud = decodeUserData(bytes, problems, file === "-" ? "user_data" : file);
    await planUserData(new RootFs(o.root), ud, { publicKeys: [] }, problems);
    out.notes = ud.notes;
  } catch (err) {
    if (!(err instanceof CvmError)) throw err;
    problems.list.push({ severity: "error", where: file, message: err.message.startsWith(file) ? err.message.slice(file.length).replace(/^: /, "") : err.message } as Problem);
  }
  out.errors = problems.errors.map(formatProblem);
  out.warnings = problems.warnings.map(formatProblem);
  out.valid = out.errors.length === 0;
  return out;
}
