import { renderUsage, runCommand, type ArgsDef, type CommandDef } from "citty";
import { CvmError, EXIT, UsageError } from "./errors";
import { log, setVerbosity } from "./log";
import { oneLine } from "./output";
import { checkOptions, normalizeSingleDash } from "./args";

/** A citty command plus what our option checker needs to know. */
export type CvmCommand = CommandDef<any> & { variadic?: boolean };
type Resolvable<T> = T | Promise<T> | (() => T | Promise<T>);

const resolve = async <T>(v: Resolvable<T> | undefined): Promise<T | undefined> =>
  typeof v === "function" ? (v as () => T | Promise<T>)() : v;

interface Globals { debug: boolean; verbose: boolean; }

/** --debug and -v/--verbose are understood anywhere before `--`. */
function takeGlobals(argv: string[]): { globals: Globals; rest: string[] } {
  const globals: Globals = { debug: false, verbose: false };
  const rest: string[] = [];
  let afterDashDash = false;
  for (const t of argv) {
    if (t === "--") afterDashDash = true;
    if (!afterDashDash && t === "--debug") globals.debug = true;
    else if (!afterDashDash && (t === "-v" || t === "--verbose")) globals.verbose = true;
    else rest.push(t);
  }
  return { globals, rest };
}

function takesValue(token: string, argsDef: ArgsDef): boolean {
  if (token.includes("=")) return false;
  const name = token.replace(/^--?/, "");
  return Object.entries(argsDef).some(([key, def]) => {
    const aliases = "alias" in def && def.alias ? [def.alias].flat() : [];
    return (key === name || aliases.includes(name)) && (def.type === "string" || def.type === "enum");
  });
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
const isHelp = (t: string) => t === "--help" || t === "-h";
const beforeDashDash = (tokens: string[]) => (tokens.includes("--") ? tokens.slice(0, tokens.indexOf("--")) : tokens);

/**
 * Walks the command tree (subcommands are loaded lazily, so `cvm --version`
 * loads nothing), checks the leaf's options, runs it, and turns errors into
 * one-line messages and exit codes. Options given before a subcommand name
 * (`cvm -H ls`) are handed to the leaf. Returns the exit code.
 */
export async function runCli(root: CvmCommand, argv: string[], version: string): Promise<number> {
  const { globals, rest } = takeGlobals(argv);
  setVerbosity(globals);
  const path: string[] = [];
  try {
    let cmd = root;
    let tokens = rest;
    const carried: string[] = [];
    for (;;) {
      const subs = await resolve(cmd.subCommands);
      if (!subs || Object.keys(subs).length === 0) break;
      const argsDef = ((await resolve(cmd.args)) ?? {}) as ArgsDef;
      let i = 0;
      for (; i < tokens.length && tokens[i].startsWith("-") && tokens[i] !== "--"; i++) {
        if (isHelp(tokens[i])) return printUsage(cmd, path, EXIT.ok);
        if (cmd === root && tokens[i] === "--version") { console.log(version); return EXIT.ok; } // console.log: process.stdout would load Node's streams, most of start-up
        carried.push(tokens[i]);
        if (takesValue(tokens[i], argsDef) && i + 1 < tokens.length) carried.push(tokens[++i]);
      }
      const name = tokens[i];
      if (name === undefined || name === "--") {
        await printUsage(cmd, path, EXIT.usage);
        throw new UsageError(`${path.length ? path.join(" ") + ": " : ""}missing command`);
      }
      const sub = (await resolve(subs[name])) as CvmCommand | undefined;
      if (!sub) throw new UsageError(`unknown command '${[...path, name].join(" ")}'`);
      path.push(name);
      cmd = sub;
      tokens = tokens.slice(i + 1);
    }
    const leafArgs = [...carried, ...tokens];
    if (beforeDashDash(leafArgs).some(isHelp)) return printUsage(cmd, path, EXIT.ok);
    const argsDef = ((await resolve(cmd.args)) ?? {}) as ArgsDef;
    const normalized = normalizeSingleDash(leafArgs, argsDef);
    checkOptions(normalized, argsDef, { variadic: cmd.variadic });
    await runCommand(cmd, { rawArgs: normalized });
    return EXIT.ok;
  } catch (err) {
    return report(err, path, globals.debug);
  }
}

/** Usage goes to stdout when asked for (--help), to stderr when it explains a mistake. */
async function printUsage(cmd: CvmCommand, path: string[], code: number): Promise<number> {
  const out = code === EXIT.ok ? process.stdout : process.stderr;
  // citty names only one parent level; give it the whole path ("cvm proxy") as the parent's name.
  const parent = path.length ? ({ meta: { name: ["cvm", ...path.slice(0, -1)].join(" ") } } as CvmCommand) : undefined;
  const text = await renderUsage(cmd, parent);
  out.write((out.isTTY ? text : stripAnsi(text)) + "\n");
  return code;
}

function report(err: unknown, path: string[], debug: boolean): number {
  const where = ["cvm", ...path].join(" ");
  if (err instanceof CvmError) {
    if (err.message) process.stderr.write(`cvm: ${oneLine(err.message)}\n`);
    if (err.exitCode === EXIT.usage) process.stderr.write(`Run '${where} --help' for usage.\n`);
    if (debug && err.stack) log.trace(err.stack);
    return err.exitCode;
  }
  // citty's own argument errors (missing positional, bad enum value) are usage errors
  if (err instanceof Error && err.name === "CLIError") {
    process.stderr.write(`cvm: ${oneLine(stripAnsi(err.message))}\nRun '${where} --help' for usage.\n`);
    return EXIT.usage;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`cvm: internal error: ${oneLine(message)}${debug ? "" : " (run with --debug for details)"}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(err.stack + "\n");
  return EXIT.failure;
}
