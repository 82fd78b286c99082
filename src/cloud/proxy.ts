import { readFileSync } from "node:fs";
import { promptSecret } from "../cli/prompt";
import { log } from "../cli/log";
import { readProxyFile, secondsLeft } from "../proxy/describe";
import { defaultProxyPath } from "../proxy/file";
import { initProxy } from "../proxy/init";
import { parseValid } from "../proxy/lifetime";

/**
 * The proxy to put into user_data: the current one (X509_USER_PROXY, then
 * /tmp/x509up_u<uid>) when it is valid long enough, else a new one made as
 * `cvm proxy init` makes it (and saved there for next time).
 */
export async function proxyForLaunch(o: { valid: string; limited: boolean }): Promise<string> {
  const need = parseValid(o.valid, "--proxy-valid");
  const path = defaultProxyPath();
  try {
    const p = readProxyFile(path);
    if (secondsLeft(p) >= need) return readFileSync(path, "latin1");
    log.debug(`${path}: not valid for ${o.valid} any more; making a new proxy`);
  } catch (err) {
    log.debug(`${(err as Error).message}; making a new proxy`);
  }
  await initProxy({ out: path, validSeconds: need, bits: 2048, policy: o.limited ? "limited" : "impersonation" },
    { passphrase: () => promptSecret("Enter GRID pass phrase for this identity:") });
  return readFileSync(path, "latin1");
}
