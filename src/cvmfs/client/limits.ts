/**
 * How much of each kind of repository file a reader accepts before its hash
 * or signature is known. A server can make us wait or fail, never make us
 * allocate without bound.
 */

const MiB = 1 << 20;

/** .cvmfspublished, .cvmfswhitelist, the certificate: a few KiB in practice. */
export const SIGNED_FILE_LIMIT = 256 * 1024;
export const CERTIFICATE_LIMIT = 256 * 1024;
/** Meta-info JSON. */
export const METAINFO_LIMIT = 4 * MiB;

/**
 * Catalogs and the history database, compressed and inflated: a setting
 * (CVM_CATALOG_LIMIT_MB), generous by default; the largest catalogs of the
 * big experiment repositories are a few hundred MB inflated.
 */
export function catalogLimit(env = process.env): number {
  const mb = Number(env.CVM_CATALOG_LIMIT_MB);
  return (Number.isSafeInteger(mb) && mb > 0 ? mb : 1024) * MiB;
}

/**
 * A data object's stored size for `size` bytes of content: zlib never grows
 * data by more than 5 bytes per 16 KiB block plus its header, so 0.1 % and a
 * KiB of slack cover any honest object.
 */
export const storedLimit = (size: number) => size + Math.ceil(size / 1000) + 1024;
