/**
 * What is wrong with user_data, with where it is: errors stop the run before
 * anything is touched; warnings are printed and the rest still applies.
 */
export interface Problem {
  severity: "error" | "warning";
  where: string;        // "user_data", "user_data part 2 (text/amiconfig)"
  line?: number;        // 1-based, in `where`
  message: string;      // never a secret value
}

export const formatProblem = (p: Problem) => `${p.where}${p.line ? ` line ${p.line}` : ""}: ${p.message}`;

export class Problems {
  readonly list: Problem[] = [];
  error(where: string, line: number | undefined, message: string): void {
    this.list.push({ severity: "error", where, line, message });
  }
  warn(where: string, line: number | undefined, message: string): void {
    this.list.push({ severity: "warning", where, line, message });
  }
  get errors(): Problem[] { return this.list.filter((p) => p.severity === "error"); }
  get warnings(): Problem[] { return this.list.filter((p) => p.severity === "warning"); }
}
