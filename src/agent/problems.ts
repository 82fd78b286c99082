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
  get errors(): Problem[] { return this.sorted().filter((p) => p.severity === "error"); }
  get warnings(): Problem[] { return this.sorted().filter((p) => p.severity === "warning"); }
  /** In the order of the user_data: by part, then by line (plugins find them in their own order). */
  private sorted(): Problem[] {
    const parts = [...new Set(this.list.map((p) => p.where))];
    return [...this.list].sort((a, b) => parts.indexOf(a.where) - parts.indexOf(b.where) || (a.line ?? 0) - (b.line ?? 0));
  }
}
