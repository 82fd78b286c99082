/**
 * Serving a ReadOnlyFilesystem at a mountpoint: mount, a reader thread on
 * /dev/fuse, the session answering on the main thread, and a stop that never
 * leaves a hung mount behind.
 */
import { closeSync, writeSync } from "node:fs";
import { stat } from "node:fs/promises";
import { CvmError } from "../cli/errors";
import { FUSE_DEV_IOC_BACKING_CLOSE, FUSE_DEV_IOC_BACKING_OPEN } from "./abi";
import type { ReadOnlyFilesystem } from "./filesystem";
import * as libc from "./libc";
import { abortConnectionId, mountAt, mountFuse, unmountFuse, type MountMethod, type MountSettings } from "./mount";
import type { ReaderMessage, ReaderStart } from "./reader-worker";
import { REQUEST_BUFFER_SIZE, Session, type Device, type SessionOptions } from "./session";

export interface FuseOptions extends MountSettings, SessionOptions {
  /** How long INIT and the first answer from the mount may take (default 10 s). */
  readyTimeoutMs?: number;
}

export interface FuseHandle {
  readonly mountpoint: string;
  readonly method: MountMethod;
  /** The negotiated protocol, e.g. "7.45". */
  readonly protocol: string;
  /** Passthrough negotiated and not refused by the kernel since. */
  readonly passthrough: boolean;
  /** Why passthrough is off (null while it is on). */
  readonly passthroughOff: string | null;
  /** Requests seen so far, by operation (READ, LOOKUP, …). */
  readonly requests: Readonly<Record<string, number>>;
  /** Settles when the kernel ends the connection (unmounted or aborted); rejects on a device error. */
  readonly closed: Promise<void>;
  /** Unmounts (lazily when busy), waits for the connection to end, aborts it if it does not. */
  stop(): Promise<void>;
}

// Inside the compiled binary the worker is an entry point at its project path
// (build.ts lists it); from source it sits next to this module.
const WORKER_SCRIPT = import.meta.url.includes("/$bunfs/")
  ? "./src/fuse/reader-worker.ts"
  : new URL("./reader-worker.ts", import.meta.url).href;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref?.());

function deviceOn(fd: number): Device {
  return {
    // writev: a READ's data goes to the kernel straight from the filesystem's buffer.
    send: (header, body) => { if (body?.length) libc.writev(fd, [header, body]); else writeSync(fd, header); },
    backingOpen: (backingFd) => {
      const map = new Uint8Array(16);   // struct fuse_backing_map { int32 fd; uint32 flags; uint64 padding }
      new DataView(map.buffer).setInt32(0, backingFd, true);
      return libc.ioctl(fd, FUSE_DEV_IOC_BACKING_OPEN, map);
    },
    backingClose: (id) => {
      const arg = new Uint8Array(4);
      new DataView(arg.buffer).setUint32(0, id, true);
      libc.ioctl(fd, FUSE_DEV_IOC_BACKING_CLOSE, arg);
    },
    closeFd: (f) => { try { closeSync(f); } catch { /* already closed: nothing to release */ } },
  };
}

/** Mounts `fs` read-only at `mountpoint` and serves it; resolves once INIT is done and the mount answers. */
export async function startFuse(mountpoint: string, fs: ReadOnlyFilesystem, options: FuseOptions = {}): Promise<FuseHandle> {
  const mounted = await mountFuse(mountpoint, options);
  const target = mounted.mountpoint;
  const dev = mountAt(target)?.dev ?? null;
  const session = new Session(fs, deviceOn(mounted.fd), options);
  // A small heap: the reader's only garbage is a few objects per request, which a large
  // heap lets pile up for tens of thousands of requests before it first collects
  // (measured: ~10 MB of a mount's RSS after 300 revisions in bench/mount-lifetime.ts).
  const worker = new Worker(WORKER_SCRIPT, { smol: true });
  let ended = false;
  let fdClosed = false;
  const closeFd = () => {
    if (fdClosed) return;
    fdClosed = true;
    try { closeSync(mounted.fd); } catch { /* gone already */ }
  };
  const closed = new Promise<void>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<ReaderMessage>) => {
      const m = e.data;
      if (m instanceof Uint8Array) return session.handle(m);
      ended = true;
      session.end();
      worker.terminate();
      closeFd();
      if (m.error) reject(new CvmError(`fuse ${target}: reading /dev/fuse failed: ${m.error}`));
      else resolve();
    };
    worker.onerror = (e) => {
      const why = `the reader thread failed: ${e.message}`;
      ended = true;
      session.end(why);
      closeFd();   // nothing reads the device any more: closing it ends the connection
      reject(new CvmError(`fuse ${target}: ${why}`));
    };
  });
  closed.catch(() => {});
  worker.postMessage({ fd: mounted.fd, bufferSize: REQUEST_BUFFER_SIZE } satisfies ReaderStart);

  /** Ends the connection for good: unmount, then abort if the kernel keeps it (a busy lazy unmount). */
  const stop = async (): Promise<void> => {
    const now = mountAt(target);
    if (now && (dev === null || now.dev === dev)) {
      try {
        await unmountFuse(target, { method: mounted.method });
      } catch (e) {
        options.log?.(`fuse: ${(e as Error).message}`);
      }
    }
    if (!ended) await Promise.race([closed.catch(() => {}), sleep(2000)]);
    if (!ended && dev !== null) {
      abortConnectionId(dev);
      await Promise.race([closed.catch(() => {}), sleep(2000)]);
    }
    if (!ended) {
      // The reader is still blocked in read(2): it ends with the process.
      ended = true;
      session.end();
      worker.unref();
    }
  };

  const timeoutMs = options.readyTimeoutMs ?? 10_000;
  try {
    await Promise.race([
      session.initialized,
      closed.then(() => { throw new CvmError(`fuse ${target}: the kernel ended the connection before INIT`); }),
      sleep(timeoutMs).then(() => { throw new CvmError(`fuse ${target}: no INIT from the kernel within ${timeoutMs} ms`); }),
    ]);
    // The first answer through the mount itself (async: the main thread is the one answering).
    await Promise.race([
      stat(target),
      sleep(timeoutMs).then(() => { throw new CvmError(`fuse ${target}: the mount did not answer within ${timeoutMs} ms`); }),
    ]);
  } catch (e) {
    await stop();
    throw e instanceof CvmError ? e : new CvmError(`fuse ${target}: ${(e as Error).message}`);
  }

  return {
    mountpoint: target,
    method: mounted.method,
    get protocol() { return `7.${session.minor}`; },
    get passthrough() { return session.passthrough; },
    get passthroughOff() { return session.passthroughOff; },
    requests: session.requests,
    closed,
    stop,
  };
}
