import { UsageError } from "../../cli/errors";
import { DEFAULT_HOSTNAME } from "./server";

/** `--listen`: HOST:PORT, [IPv6]:PORT, or PORT alone (on 127.0.0.1). Port 0 asks the kernel for a free one. */
export function parseListen(value: string): { hostname: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen '${value}': expected HOST:PORT (such as 127.0.0.1:8000, 0.0.0.0:80 or [::1]:8000) with a port from 0 to 65535`);
  const hostname = m[1] || m[2] || DEFAULT_HOSTNAME;
  if (!/^[A-Za-z0-9.:-]+$/.test(hostname)) throw new UsageError(`--listen '${value}': '${hostname}' is not a host name or address`);
  return { hostname, port };
}
