/** PEM blocks: the armoured form certificates, keys and proxy files use. */

export interface PemBlock {
  label: string;        // "CERTIFICATE", "RSA PRIVATE KEY", …
  der: Uint8Array;      // the decoded body (still encrypted for Proc-Type keys)
  text: string;         // the block as written, headers included
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

export function parsePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    // RFC 1421 headers (Proc-Type, DEK-Info) end at a blank line; the base64 follows
    const body = m[2].includes(":") ? m[2].slice(m[2].search(/\r?\n\r?\n/) + 1) : m[2];
    blocks.push({ label: m[1], der: Buffer.from(body.replace(/\s+/g, ""), "base64"), text: m[0] + "\n" });
  }
  return blocks;
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export const isPrivateKeyLabel = (label: string) => /^(RSA |EC |ENCRYPTED )?PRIVATE KEY$/.test(label);
