import { RepositoryError } from "./errors";
import { hashBytes, parseHex, sameHash, toHex, type ContentHash } from "./hash";

/**
 * The layout shared by .cvmfspublished and .cvmfswhitelist: text lines (the
 * "letter"), a line "--", the hex hash of the letter, then a binary signature
 * to the end of the file. The hash covers the letter up to and including the
 * newline before "--".
 */
export interface SignedText {
  letter: Uint8Array;
  lines: string[];        // the letter's non-empty lines, without "\n"
  hashHex: string;
  signature: Uint8Array;
}

const SEPARATOR = new TextEncoder().encode("\n--\n");

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export function splitSigned(bytes: Uint8Array, what: string): SignedText {
  const cut = indexOf(bytes, SEPARATOR);
  if (cut < 0) throw new RepositoryError(`${what}: no '--' line: not a signed CernVM-FS file`);
  const letter = bytes.subarray(0, cut + 1);
  const rest = bytes.subarray(cut + SEPARATOR.length);
  const nl = rest.indexOf(0x0a);
  if (nl < 0) throw new RepositoryError(`${what}: the hash line after '--' is not terminated`);
  const hashHex = new TextDecoder().decode(rest.subarray(0, nl));
  const lines = new TextDecoder().decode(letter).split("\n").filter((l) => l.length > 0);
  return { letter, lines, hashHex, signature: rest.subarray(nl + 1) };
}

export function assembleSigned(letter: string, hashHex: string, signature: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(`${letter}--\n${hashHex}\n`);
  const out = new Uint8Array(head.length + signature.length);
  out.set(head);
  out.set(signature, head.length);
  return out;
}

/** Recomputes the letter's hash (algorithm from the hash line) and compares. */
export function checkLetterHash(s: SignedText, what: string): ContentHash {
  let expected: ContentHash;
  try {
    expected = parseHex(s.hashHex);
  } catch {
    throw new RepositoryError(`${what}: the hash line '${s.hashHex.slice(0, 60)}' is not a content hash`);
  }
  const actual = hashBytes(expected.algorithm, s.letter);
  if (!sameHash(actual, expected)) throw new RepositoryError(`${what}: the content does not match its hash line (expected ${s.hashHex}, got ${toHex(actual)})`);
  return expected;
}
