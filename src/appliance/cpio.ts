/**
 * The "newc" cpio format the kernel unpacks as an initramfs (Documentation/
 * driver-api/early-userspace/buffer-format.rst): a 110-byte ASCII header of
 * hex fields, the NUL-terminated name, the data, each padded to 4 bytes.
 * Written here rather than by cpio(1) so every entry is owned by root and
 * dated alike whoever builds the image, with no fakeroot.
 */
export interface CpioEntry { path: string; mode: number; data?: Uint8Array; /* file content or link target */ }

const S_IFMT = 0o170000;
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(ino: number, mode: number, size: number, nameLength: number, mtime: number): string {
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  return "070701" + [ino, mode, 0, 0, (mode & S_IFMT) === 0o040000 ? 2 : 1, mtime, size, 0, 0, 0, 0, nameLength, 0].map(hex).join("");
}

/** Yields the archive piece by piece (the data of big files is not copied). */
export function* cpioPieces(entries: Iterable<CpioEntry>, mtime: number): Generator<Uint8Array> {
  const text = new TextEncoder();
  let ino = 1;
  const record = function* (path: string, mode: number, data: Uint8Array) {
    const name = text.encode(path + "\0");
    const head = text.encode(header(ino++, mode, data.length, name.length, mtime));
    yield head;
    yield name;
    yield new Uint8Array(pad4(head.length + name.length));
    if (data.length) { yield data; yield new Uint8Array(pad4(data.length)); }
  };
  for (const e of entries) yield* record(e.path.replace(/^\/+/, ""), e.mode, e.data ?? new Uint8Array());
  yield* record("TRAILER!!!", 0, new Uint8Array());
}
