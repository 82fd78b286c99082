/** A file mode as the tools print it: 0644. */
export const octalMode = (mode: number) => "0" + (mode & 0o7777).toString(8).padStart(3, "0");
