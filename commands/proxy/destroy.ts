import { defineCommand } from "citty";
import type { CvmCommand } from "../../src/cli/run";

const command: CvmCommand = defineCommand({
  meta: { name: "destroy", description: "Wipe and remove a proxy file (like grid-proxy-destroy)" },
  args: {
    file: { type: "string", alias: "f", description: "Proxy file [X509_USER_PROXY, then /tmp/x509up_u<uid>]", valueHint: "file" },
    files: { type: "positional", required: false, description: "Further proxy files to remove" },
  },
  async run({ args }) {
    const { defaultProxyPath, destroyProxyFile } = await import("../../src/proxy/file");
    const extra = args._ as string[];
    const paths = args.file || !extra.length ? [args.file || defaultProxyPath(), ...extra] : extra;
    for (const path of paths) destroyProxyFile(path);
  },
});
command.variadic = true;
export default command;
