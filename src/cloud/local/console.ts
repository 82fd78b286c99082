import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { instanceDir, readInstance } from "./store";

/** A guest's console as text for a terminal: the guest wrote it, so no escape sequences or other control characters pass. */
export function consoleText(id: string): string {
  readInstance(id);
  const file = join(instanceDir(id), "console.log");
  if (!existsSync(file)) return "";
  return readFileSync(file, "utf8").replace(/\r/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, "?");
}
