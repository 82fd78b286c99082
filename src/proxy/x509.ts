// @peculiar/x509 needs the Reflect metadata polyfill loaded before it (tsyringe).
// A static import of both lets the bundler reorder them, hence the dynamic import.
import "reflect-metadata";

export const x509 = await import("@peculiar/x509");
x509.cryptoProvider.set(globalThis.crypto);
