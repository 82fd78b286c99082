import { closeSync, openSync, writeSync } from "node:fs";
import tty from "node:tty";
import { CvmError } from "./errors";

/**
 * Reads a secret from the controlling terminal with echo off, as OpenSSL's
 * PEM password callback does: /dev/tty, not stdin, so a pipeline's stdin stays
 * the pipeline's. Fails with a clear message when there is no terminal.
 */
export async function promptSecret(prompt: string): Promise<string> {
  let fd: number;
  try {
    fd = openSync("/dev/tty", "r+");
  } catch {
    throw new CvmError("no terminal to ask for the passphrase on; pass it on standard input with --pwstdin");
  }
  const input = new tty.ReadStream(fd);
  try {
    input.setRawMode(true);
    writeSync(fd, prompt);
    const secret = await new Promise<string>((resolve, reject) => {
      let typed = "";
      input.on("data", (chunk: Buffer) => {
        for (const ch of chunk.toString("utf8")) {
          if (ch === "\r" || ch === "\n" || ch === "\x04") return resolve(typed);
          if (ch === "\x03") return reject(new CvmError("interrupted", 130));
          if (ch === "\x7f" || ch === "\b") typed = typed.slice(0, -1);
          else typed += ch;
        }
      });
      input.on("error", reject);
    });
    writeSync(fd, "\n");
    return secret;
  } finally {
    input.setRawMode(false);
    input.destroy();
    try { closeSync(fd); } catch { /* already closed by the stream */ }
  }
}

/** The first line of standard input, without its line ending (grid-proxy-init -pwstdin). */
export async function readSecretFromStdin(): Promise<string> {
  const text = await Bun.stdin.text();
  const line = text.split(/\r?\n/, 1)[0];
  if (text.length === 0) throw new CvmError("--pwstdin: standard input is empty; expected the passphrase on its first line");
  return line;
}
