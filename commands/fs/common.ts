// Arguments every `cvm fs` command takes.
export const repoArgs = {
  repo: { type: "positional", required: true, description: "Repository name (atlas.cern.ch, read with /etc/cvmfs), stratum URL (http://host/cvmfs/<fqrn>) or storage directory (a path with a '/', or file://)" },
  fqrn: { type: "string", description: "Repository name, when a URL or directory does not end in it" },
  keys: { type: "string", description: "Directory of extra master public keys (*.pub) to trust", valueHint: "dir" },
  option: { type: "string", alias: "o", description: "Configuration KEY=VALUE over the files and environment (repeatable)", valueHint: "KEY=VALUE" },
  "config-root": { type: "string", description: "Read the configuration from DIR instead of /etc/cvmfs (CVM_CONFIG_ROOT)", valueHint: "dir" },
} as const;

export interface RepoArgs { repo: string; fqrn?: string; keys?: string; "config-root"?: string }

/** A bare name (no '/' and no scheme) is a configured repository; anything else a URL or storage directory. */
export const isRepositoryName = (repo: string) => !repo.includes("/") && repo !== "." && repo !== "..";

export async function open(args: RepoArgs, rawArgs: string[] = []) {
  const { allValues } = await import("../../src/cli/args");
  const options = allValues(rawArgs, ["o", "option"]);
  if (isRepositoryName(args.repo)) {
    const { parseOverrides } = await import("../../src/cvmfs/client/config");
    const { openConfigured } = await import("../../src/cvmfs/client/open");
    const { repo } = await openConfigured({ name: args.repo, configRoot: args["config-root"], overrides: parseOverrides(options), keys: args.keys });
    return repo;
  }
  if (options.length || args["config-root"]) {
    const { UsageError } = await import("../../src/cli/errors");
    throw new UsageError(`-o and --config-root apply to a repository given by name, not to ${args.repo}`);
  }
  const { openRepository } = await import("../../src/cvmfs/client/open-location");
  return openRepository({ location: args.repo, fqrn: args.fqrn, keys: args.keys });
}
