import { defineCommand } from "citty";

export default defineCommand({
  meta: { name: "build", description: "Make a bootable appliance from this machine's kernel and modules, busybox and cvm (no root, nothing mounted)" },
  args: {
    format: { type: "string", alias: "f", description: "initrd (kernel + initramfs), raw (bootable disk), iso, tree (a root directory to publish); repeatable or comma-separated [initrd]", valueHint: "fmt" },
    out: { type: "string", alias: "o", description: "Output directory [./appliance]", valueHint: "dir" },
    kernel: { type: "string", description: "The kernel (bzImage) [newest /boot/vmlinuz-*]", valueHint: "file" },
    modules: { type: "string", description: "Its modules directory [/lib/modules/<version>]", valueHint: "dir" },
    module: { type: "string", description: "Another kernel module to load at boot, with what it needs (repeatable)", valueHint: "name" },
    include: { type: "string", description: "A host file or directory to put in the image at GUEST (repeatable)", valueHint: "HOST[:GUEST]" },
    package: { type: "string", description: "An installed Debian package's files, with the libraries its programs load (repeatable)", valueHint: "name" },
    cmdline: { type: "string", description: "Kernel arguments after the console ones (raw, iso: baked in; cvm.shell, cvm.once, quiet…) [quiet]", valueHint: "args" },
    "root-repository": { type: "string", description: "Boot the OS from this CernVM-FS repository (read-only, with a writable overlay), as µCernVM", valueHint: "fqrn" },
    "root-free": { type: "string", description: "MiB left free on the raw image's root [512]", valueHint: "MiB" },
    busybox: { type: "string", description: "The busybox to use [/bin/busybox]", valueHint: "file" },
    cvm: { type: "string", description: "The cvm binary to put in [this one]", valueHint: "file" },
    gzip: { type: "boolean", description: "Compress the initramfs with gzip instead of zstd" },
    json: { type: "boolean", description: "Print what was built as JSON" },
  },
  async run({ args, rawArgs }) {
    const { allValues, positiveInteger } = await import("../../src/cli/args");
    const { UsageError } = await import("../../src/cli/errors");
    const { buildAppliance, FORMATS } = await import("../../src/appliance/build");
    const formats = allValues(rawArgs, ["format", "f"]).flatMap((f) => f.split(",")).map((f) => f.trim()).filter(Boolean);
    for (const f of formats) if (!(FORMATS as readonly string[]).includes(f)) throw new UsageError(`--format '${f}': expected ${FORMATS.join(", ")}`);
    const extras = allValues(rawArgs, ["include"]).map((spec) => {
      const [host, guest = host] = spec.split(/:(?=\/)/);
      if (!host || !guest.startsWith("/") || guest.split("/").includes("..")) throw new UsageError(`--include '${spec}': expected HOST[:GUEST] with GUEST an absolute path without '..'`);
      return { host, guest };
    });
    const root = args["root-repository"];
    if (root !== undefined && !/^[a-z0-9][a-z0-9.-]*\.[a-z0-9.-]+$/i.test(root)) throw new UsageError(`--root-repository '${root}': expected a repository name such as os.cern.ch`);
    const result = await buildAppliance({
      formats: (formats.length ? [...new Set(formats)] : ["initrd"]) as typeof FORMATS[number][],
      out: args.out ?? "appliance",
      kernel: args.kernel, modulesDir: args.modules, modules: allValues(rawArgs, ["module"]),
      extras, packages: allValues(rawArgs, ["package"]),
      cmdline: args.cmdline ?? "quiet", cvm: args.cvm ?? process.execPath, busybox: args.busybox,
      rootRepository: root, rootFreeMiB: args["root-free"] === undefined ? 512 : positiveInteger(args["root-free"], "--root-free"),
      compression: args.gzip ? "gzip" : "zstd",
    });
    if (args.json) {
      const { printJson } = await import("../../src/cli/output");
      return printJson(result);
    }
    const { describeBuild } = await import("../../src/appliance/describe");
    process.stdout.write(describeBuild(result));
  },
});
