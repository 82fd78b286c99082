/** PEM blocks: the armoured form certificates, keys and proxy files use. */

export interface PemBlock {
  label: string;        // "CERTIFICATE", "RSA PRIVATE KEY", …
  der: Uint8Array;      // the decoded body (still encrypted for Proc-Type keys)
  text: string;         // the block as written, headers included
}

/** A block whose armour or base64 is broken; the message says which and where. */
export class PemError extends Error {}

const BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Reads every BEGIN/END block, line by line (linear in the input, whatever it
 * holds). Text outside blocks is ignored, as OpenSSL does; a block with bad
 * base64 or no END line is an error rather than garbage bytes.
 */
export function parsePem(text: string): PemBlock[] {
  const lines = text.split("\n").map((l) => l.replace(/\s+$/, ""));
  const blocks: PemBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i]);
    if (!begin) continue;
    const label = begin[1], first = i;
    const endLine = `-----END ${label}-----`;
    let end = i + 1;
    while (end < lines.length && lines[end] !== endLine) end++;
    if (end === lines.length) throw new PemError(`the ${label} block that starts on line ${first + 1} has no '${endLine}' line`);
    let body = lines.slice(first + 1, end);
    // RFC 1421 headers (Proc-Type, DEK-Info) end at a blank line; the base64 follows
    if (body[0]?.includes(":")) body = body.slice(body.indexOf("") + 1 || body.length);
    const b64 = body.join("").replace(/\s+/g, "");
    if (b64.length % 4 !== 0 || !BASE64.test(b64))
      throw new PemError(`the ${label} block that starts on line ${first + 1} is not valid base64`);
    blocks.push({ label, der: Buffer.from(b64, "base64"), text: lines.slice(first, end + 1).join("\n") + "\n" });
    i = end;
  }
  return blocks;
}

export function toPem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export const isPrivateKeyLabel = (label: string) => /^(RSA |EC |ENCRYPTED )?PRIVATE KEY$/.test(label);
