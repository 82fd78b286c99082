import { log } from "../cli/log";
import { keyIsEncrypted, locateCredential, openCredential, unlockKey } from "./credential";
import { writeProxyFile } from "./file";
import { makeProxy, type MadeProxy, type ProxyRequest } from "./make";

export interface InitOptions extends ProxyRequest {
  cert?: string;
  key?: string;
  out: string;
}

/** What the caller shows the user while a proxy is made; all optional. */
export interface InitHooks {
  identity?(subject: import("./dn").Name): void;
  passphrase(): Promise<string>;            // asked only when the key is encrypted
  creating?<T>(work: Promise<T>): Promise<T>; // wraps key generation and signing (progress dots)
}

/**
 * grid-proxy-init's sequence: find and check the credential, say whose it is,
 * unlock the key, make the proxy, and write it atomically with mode 0600.
 */
export async function initProxy(opts: InitOptions, hooks: InitHooks): Promise<MadeProxy & { path: string }> {
  const paths = locateCredential({ cert: opts.cert, key: opts.key });
  log.debug(`user cert file: ${paths.certPath}\nuser key file: ${paths.keyPath}\noutput file: ${opts.out}`);
  const cred = openCredential(paths, opts.now);
  hooks.identity?.(cred.cert.subject);
  const key = unlockKey(cred, keyIsEncrypted(cred) ? await hooks.passphrase() : undefined);
  const work = makeProxy(cred, key, opts);
  const made = await (hooks.creating ? hooks.creating(work) : work);
  writeProxyFile(opts.out, made.fileText);
  return { ...made, path: opts.out };
}
