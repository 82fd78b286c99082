// Arguments of the commands that read the stock client configuration (config, probe, cache, and every read by name).
export const configArgs = {
  option: { type: "string", alias: "o", description: "Configuration KEY=VALUE over the files and environment (repeatable)", valueHint: "KEY=VALUE" },
  "config-root": { type: "string", description: "Read the configuration from DIR instead of /etc/cvmfs (CVM_CONFIG_ROOT)", valueHint: "dir" },
} as const;

/** Every `-o KEY=VALUE` given, as overrides of the configuration. */
export async function configOverrides(rawArgs: string[]): Promise<Record<string, string>> {
  const { allValues } = await import("../../src/cli/args");
  const { parseOverrides } = await import("../../src/cvmfs/client/config");
  return parseOverrides(allValues(rawArgs, ["o", "option"]));
}

// Arguments every `cvm fs` reading command takes.
export const repoArgs = {
  repo: { type: "positional", required: true, description: "Repository name (atlas.cern.ch, read with /etc/cvmfs), stratum URL (http://host/cvmfs/<fqrn>) or storage directory (a path with a '/', or file://)" },
  fqrn: { type: "string", description: "Repository name, when a URL or directory does not end in it" },
  keys: { type: "string", description: "Directory of extra master public keys (*.pub) to trust", valueHint: "dir" },
  ...configArgs,
} as const;

export interface RepoArgs { repo: string; fqrn?: string; keys?: string; "config-root"?: string }

/** A bare name (no '/' and no scheme) is a configured repository; anything else a URL or storage directory. */
export const isRepositoryName = (repo: string) => !repo.includes("/") && repo !== "." && repo !== "..";

export async function open(args: RepoArgs, rawArgs: string[] = []) {
  const overrides = await configOverrides(rawArgs);
  if (isRepositoryName(args.repo)) {
    const { openConfigured } = await import("../../src/cvmfs/client/open");
    const { repo } = await openConfigured({ name: args.repo, configRoot: args["config-root"], overrides, keys: args.keys });
    return repo;
  }
  if (Object.keys(overrides).length || args["config-root"]) {
    const { UsageError } = await import("../../src/cli/errors");
    throw new UsageError(`-o and --config-root apply to a repository given by name, not to ${args.repo}`);
  }
  const { openRepository } = await import("../../src/cvmfs/client/open-location");
  return openRepository({ location: args.repo, fqrn: args.fqrn, keys: args.keys });
}
