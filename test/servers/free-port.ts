import { createServer, connect } from "node:net";

/**
 * A loopback TCP port nobody listens on right now: the kernel picks one for a
 * listener on port 0, which we close at once. Another process could take it
 * before the caller binds it; the server helpers retry with a new port when
 * their bind fails, so that window only costs a retry.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      server.close(() => (address && typeof address === "object" ? resolve(address.port) : reject(new Error("no port from the kernel"))));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port (a refused or silent port answers false within timeoutMs). */
export function portAccepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
