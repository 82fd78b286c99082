import { oneLine } from "./output";
import { createConsola, type ConsolaInstance, type LogObject } from "consola/core";

/**
 * Logs go to stderr so stdout stays clean for data. The format is plain
 * (`warning: …`), the way grid and unix tools print, not consola's badges.
 */
function writeToStderr(logObj: LogObject): void {
  const text = logObj.args.map((a) => (typeof a === "string" ? a : Bun.inspect(a))).join(" ");
  const prefix = logObj.type === "warn" ? "warning: " : logObj.type === "trace" ? "debug: " : "";
  // Warnings carry text from files and servers: one line, no terminal control (traces keep their lines).
  process.stderr.write(`${prefix}${logObj.type === "warn" ? oneLine(text) : text}\n`);
}

export const log: ConsolaInstance = createConsola({
  level: 3,
  reporters: [{ log: writeToStderr }],
});

/**
 * Levels: info and warnings always; `log.debug` (details) with -v;
 * `log.trace` (internals, stack traces) with --debug.
 */
export function setVerbosity(opts: { verbose: boolean; debug: boolean }): void {
  log.level = opts.debug ? 5 : opts.verbose ? 4 : 3;
}
