import { CvmError } from "../../cli/errors";
import type { BootFlags } from "./cmdline";

export async function mountRootRepository(_flags: BootFlags): Promise<void> {
  throw new CvmError("not yet");
}
