import { RepositoryError } from "../errors";
import { hashBytes, parseHex, sameHash, toHex, type ContentHash } from "./hash";

/**
 * The layout shared by .cvmfspublished and .cvmfswhitelist (spec §1.4.4):
 * text lines (the "letter"), a line "--", the hex hash of the letter, then a
 * binary signature to the end of the file. The hash covers the letter up to
 * and including the newline before "--"; the "--" line itself is not hashed.
 */
export interface SignedText {
  letter: Uint8Array;     // bytes 0 .. the "\n" before the first "\n--\n", inclusive
  lines: string[];        // the letter's non-empty lines, without "\n" ("\r" is kept, as upstream keeps it)
  hashHex: string;        // the line after "--", as written
  signature: Uint8Array;  // everything after the hash line's "\n"
}

const SEPARATOR = "\n--\n";

export function splitSigned(bytes: Uint8Array, what: string): SignedText {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cut = buf.indexOf(SEPARATOR);
  if (cut < 0) throw new RepositoryError(`${what}: no '--' line: not a signed CernVM-FS file`);
  const afterSeparator = cut + SEPARATOR.length;
  const hashEnd = buf.indexOf(0x0a, afterSeparator);
  if (hashEnd < 0) throw new RepositoryError(`${what}: no hash line after '--' (the line must end with a newline)`);
  const letter = bytes.subarray(0, cut + 1);
  return {
    letter,
    lines: buf.toString("utf8", 0, cut + 1).split("\n").filter((l) => l.length > 0),
    hashHex: buf.toString("utf8", afterSeparator, hashEnd),
    signature: bytes.subarray(hashEnd + 1),
  };
}

/** `letter` (every line ending in "\n") + "--\n" + hash + "\n" + signature. */
export function assembleSigned(letter: string, hashHex: string, signature: Uint8Array): Uint8Array {
  if (letter.length > 0 && !letter.endsWith("\n")) throw new RepositoryError(`signed letter: the last line does not end with a newline`);
  const head = Buffer.from(`${letter}--\n${hashHex}\n`); // UTF-8, as hashBytes hashes a string
  const out = new Uint8Array(head.length + signature.length);
  out.set(head);
  out.set(signature, head.length);
  return out;
}

/** Recomputes the letter's hash with the algorithm the hash line implies (length/tag) and compares. */
export function checkLetterHash(s: SignedText, what: string): ContentHash {
  let expected: ContentHash;
  try {
    expected = parseHex(s.hashHex);
  } catch {
    throw new RepositoryError(`${what}: the hash line '${s.hashHex.slice(0, 60)}' is not a content hash (40 lowercase hex digits, optionally -rmd160 or -shake128)`);
  }
  const actual = hashBytes(expected.algorithm, s.letter);
  if (!sameHash(actual, expected)) throw new RepositoryError(`${what}: the content does not match its hash line (expected ${s.hashHex}, got ${toHex(actual)})`);
  return expected;
}
