/**
 * One more `cvm serve` event loop on its own thread (cvm serve --workers N):
 * the same storages on the same port, which the kernel shares out by
 * SO_REUSEPORT. Log lines go to the main thread, which prints them.
 */
import { startStratumServer, type ServeOptions, type StratumServer } from "./server";

export type WorkerStart = Omit<ServeOptions, "log" | "notice"> & { verbose: boolean };
/** To the main thread: listening, a log line, a refusal to start, or stopped. */
export type WorkerMessage = { listening: true } | { log: string } | { notice: string } | { failed: string } | { stopped: true };

declare const self: Worker;
const post = (m: WorkerMessage) => self.postMessage(m);
let server: StratumServer | undefined;

self.onmessage = async (e: MessageEvent<WorkerStart | "stop">) => {
  if (e.data === "stop") {
    await server?.stop();
    post({ stopped: true });
    return;
  }
  const { verbose, ...o } = e.data;
  try {
    server = startStratumServer({ ...o, reusePort: true, log: verbose ? (line) => post({ log: line }) : undefined, notice: (line) => post({ notice: line }) });
    post({ listening: true });
  } catch (err) {
    post({ failed: (err as Error).message });
  }
};
