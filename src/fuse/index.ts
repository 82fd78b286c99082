/** The FUSE side's public surface: serve a ReadOnlyFilesystem at a mountpoint, and clean up after one. */
export { FuseError, type Attr, type DirEntry, type Entry, type OpenResult, type ReadOnlyFilesystem, type Statfs } from "./filesystem";
export { startFuse, type FuseHandle, type FuseOptions } from "./server";
export { abortConnection, forceUnmount, isFuseMount, mountAt, unmountFuse, type MountMethod, type MountSettings } from "./mount";
