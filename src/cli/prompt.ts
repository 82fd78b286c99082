import { openSync, read, writeSync } from "node:fs";
import tty from "node:tty";
import { CvmError } from "./errors";

const readSome = (fd: number, buf: Buffer) =>
  new Promise<number>((resolve, reject) => read(fd, buf, 0, buf.length, null, (err, n) => (err ? reject(err) : resolve(n))));

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
  // The stream only switches the terminal to raw mode (it owns and closes fd);
  // the bytes are read with plain reads, which Bun delivers reliably on any tty fd.
  const terminal = new tty.ReadStream(fd);
  terminal.pause();
  terminal.setRawMode(true);
  try {
    writeSync(fd, prompt);
    let typed = "";
    const buf = Buffer.alloc(256);
    for (;;) {
      const n = await readSome(fd, buf);
      if (n === 0) return typed;
      for (const ch of buf.subarray(0, n).toString("utf8")) {
        if (ch === "\r" || ch === "\n" || ch === "\x04") return typed;
        if (ch === "\x03") throw new CvmError("interrupted", 130);
        typed = ch === "\x7f" || ch === "\b" ? typed.slice(0, -1) : typed + ch;
      }
    }
  } finally {
    writeSync(fd, "\n");
    terminal.setRawMode(false);
    const closed = new Promise((r) => terminal.once("close", r));
    terminal.destroy();
    await closed; // an open tty stream would keep the process alive
  }
}

/** The first line of standard input, without its line ending (grid-proxy-init -pwstdin). */
export async function readSecretFromStdin(): Promise<string> {
  const text = await Bun.stdin.text();
  if (text.length === 0) throw new CvmError("--pwstdin: standard input is empty; expected the passphrase on its first line");
  return text.split(/\r?\n/, 1)[0];
}
