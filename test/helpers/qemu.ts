// Guests under qemu for the tests: the console read as it comes, waited on
// for a line with a deadline (never a fixed sleep), typed into when the guest
// has a shell, and every guest killed in the end (afterAll calls killAll).
import type { Subprocess } from "bun";
import { guestArgv, type GuestSpec } from "../../src/appliance/qemu";

const running = new Set<Guest>();

export class Guest {
  console = "";
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number>;

  private constructor(private readonly proc: Subprocess<"pipe", "pipe", "pipe">) {
    this.exited = proc.exited;
    void this.pump();
    void proc.exited.then(() => this.wake());
  }

  /** Starts a guest with its console on qemu's stdio. */
  static start(spec: Omit<GuestSpec, "serial">): Guest {
    const g = new Guest(Bun.spawn({ cmd: guestArgv(spec), stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
    running.add(g);
    return g;
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stdout) {
      this.console += decoder.decode(chunk, { stream: true }).replace(/\r/g, "");
      this.wake();
    }
    const err = await new Response(this.proc.stderr).text();
    if (err.trim()) this.console += `\n[qemu stderr] ${err}`;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  get alive(): boolean { return this.proc.exitCode === null && !this.proc.signalCode; }

  /** The console once `pattern` appears on it; an error with the console's end when `ms` pass or qemu ends first. */
  async waitFor(pattern: RegExp | string, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    const found = () => (typeof pattern === "string" ? this.console.includes(pattern) : pattern.test(this.console));
    while (!found()) {
      if (!this.alive) throw new Error(`qemu ended before ${pattern} appeared; console:\n${this.console.slice(-3000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${pattern} did not appear in ${ms / 1000} s; console:\n${this.console.slice(-3000)}`);
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return this.console;
  }

  /** Waits for qemu to end by itself (the guest powered off); the console then. */
  async powersOff(ms: number): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ended = await Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); })]);
    clearTimeout(timer);
    if (!ended) throw new Error(`the guest did not power off in ${ms / 1000} s; console:\n${this.console.slice(-3000)}`);
    return this.console;
  }

  type(line: string): void {
    this.proc.stdin.write(line + "\n");
    void this.proc.stdin.flush();
  }

  async kill(): Promise<void> {
    running.delete(this);
    if (this.alive) this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

export async function killAll(): Promise<void> {
  await Promise.all([...running].map((g) => g.kill()));
}
