import { describe, expect, test } from "bun:test";
import { cvm, ROOT } from "./helpers/run";

const { version } = await Bun.file(`${ROOT}/package.json`).json();

describe("cvm command line", () => {
  test("--version prints the package version", async () => {
    const r = await cvm(["--version"]);
    expect(r).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  test("--help lists the commands on stdout without colour codes when piped", async () => {
    const r = await cvm(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("USAGE cvm");
    expect(r.stdout).toContain("proxy");
    expect(r.stdout).not.toContain("\x1b[");
  });

  test("<cmd> --help shows the full command path and the options", async () => {
    const r = await cvm(["proxy", "info", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("USAGE cvm proxy info");
    expect(r.stdout).toContain("--exists");
  });

  test("an unknown command is a usage error (exit 2), one line plus a hint", async () => {
    const r = await cvm(["frobnicate"]);
    expect(r).toEqual({ code: 2, stdout: "", stderr: "cvm: unknown command 'frobnicate'\nRun 'cvm --help' for usage.\n" });
  });

  test("an unknown option is a usage error (exit 2)", async () => {
    const r = await cvm(["proxy", "info", "--frob"]);
    expect(r).toEqual({ code: 2, stdout: "", stderr: "cvm: unknown option --frob\nRun 'cvm proxy info --help' for usage.\n" });
  });

  test("an option without its value is a usage error (exit 2)", async () => {
    const r = await cvm(["proxy", "info", "-f"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("cvm: option -f needs a value\nRun 'cvm proxy info --help' for usage.\n");
  });

  test("a stray argument is a usage error (exit 2)", async () => {
    const r = await cvm(["proxy", "info", "extra"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toStartWith("cvm: unexpected argument 'extra'\n");
  });

  test("a group without a subcommand prints its usage on stderr (exit 2)", async () => {
    const r = await cvm(["proxy"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("cvm proxy init|info|destroy");
    expect(r.stderr).toEndWith("cvm: proxy: missing command\nRun 'cvm proxy --help' for usage.\n");
  });

  test("Globus-style single-dash long options are accepted", async () => {
    const r = await cvm(["proxy", "info", "-file", "/nonexistent", "-exists"]);
    expect(r).toEqual({ code: 1, stdout: "", stderr: "" });
  });

  test("-v gives details; --debug adds a stack trace to a user error", async () => {
    const verbose = await cvm(["proxy", "info", "-f", "/nonexistent", "-e", "-v"]);
    expect(verbose.stderr).toBe("/nonexistent: no proxy file there (make one with 'cvm proxy init')\n");
    const debug = await cvm(["--debug", "proxy", "info", "-f", "/nonexistent"]);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toStartWith("cvm: /nonexistent: no proxy file there");
    expect(debug.stderr).toContain("debug: CvmError");
  });
});
