import { chmodSync, rmSync } from "node:fs";
import { CvmError } from "../../cli/errors";

/**
 * The mount daemon's control socket (like cvmfs_talk): one command per
 * connection, a text answer, then the daemon closes. Local only (a unix
 * socket 0600 in the runtime directory).
 */
export type TalkHandler = (command: string) => Promise<string>;

export function serveTalk(path: string, handle: TalkHandler): { stop(): void } {
  rmSync(path, { force: true });
  const server = Bun.listen<{ buf: string }>({
    unix: path,
    socket: {
      open(s) { s.data = { buf: "" }; },
      async data(s, chunk) {
        s.data.buf += new TextDecoder().decode(chunk);
        if (s.data.buf.length > 4096) { s.end("error: command too long\n"); return; }
        const nl = s.data.buf.indexOf("\n");
        if (nl < 0) return;
        const command = s.data.buf.slice(0, nl).trim();
        let answer: string;
        try {
          answer = await handle(command);
        } catch (err) {
          answer = `error: ${(err as Error).message}`;
        }
        s.end(answer.endsWith("\n") ? answer : answer + "\n");
      },
    },
  });
  chmodSync(path, 0o600);
  return { stop: () => { server.stop(true); rmSync(path, { force: true }); } };
}

/** Sends one command and returns the answer; a daemon that does not answer within `timeoutMs` is an error. */
export async function talk(path: string, command: string, timeoutMs = 30_000): Promise<string> {
  let out = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<string>((resolve, reject) => {
      timer = setTimeout(() => reject(new CvmError(`${path}: the mount daemon did not answer within ${timeoutMs / 1000} s`)), timeoutMs);
      Bun.connect({
        unix: path,
        socket: {
          open(s) { s.write(command + "\n"); },
          data(_s, chunk) { out += new TextDecoder().decode(chunk); },
          close() { resolve(out); },
          error(_s, err) { reject(new CvmError(`${path}: ${err.message}`)); },
          connectError(_s, err) { reject(new CvmError(`${path}: no mount daemon listens here (${err.message})`)); },
        },
      }).catch((err) => reject(new CvmError(`${path}: no mount daemon listens here (${(err as Error).message})`)));
    });
  } finally {
    clearTimeout(timer);
  }
}
