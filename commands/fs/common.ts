// Arguments every `cvm fs` command takes.
export const repoArgs = {
  repo: { type: "positional", required: true, description: "Stratum URL (http://host/cvmfs/<fqrn>) or storage directory (path or file://)" },
  fqrn: { type: "string", description: "Repository name, when the location does not end in it" },
  keys: { type: "string", description: "Directory of extra master public keys (*.pub) to trust", valueHint: "dir" },
} as const;

export async function open(args: { repo: string; fqrn?: string; keys?: string }) {
  const { openRepository } = await import("../../src/cvmfs/open");
  return openRepository({ location: args.repo, fqrn: args.fqrn, keys: args.keys });
}
