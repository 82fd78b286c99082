import { defineCommand } from "citty";
import { SilentExit, UsageError } from "../../src/cli/errors";

// Single-field options, printed in the order given, as grid-proxy-info does.
const FIELDS = {
  subject: "subject", s: "subject", issuer: "issuer", i: "issuer", identity: "identity",
  type: "type", strength: "strength", timeleft: "timeleft", path: "path",
} as const;
type Field = (typeof FIELDS)[keyof typeof FIELDS];

export default defineCommand({
  meta: { name: "info", description: "Describe a proxy (like grid-proxy-info); -exists tests one" },
  args: {
    file: { type: "string", alias: "f", description: "Proxy file [X509_USER_PROXY, then /tmp/x509up_u<uid>]", valueHint: "file" },
    all: { type: "boolean", alias: "a", description: "All seven lines (the default)" },
    subject: { type: "boolean", alias: "s", description: "The proxy's subject" },
    issuer: { type: "boolean", alias: "i", description: "The proxy's issuer" },
    identity: { type: "boolean", description: "The identity the proxy speaks for (the end-entity subject)" },
    type: { type: "boolean", description: "The proxy type, as Globus names it" },
    strength: { type: "boolean", description: "Key size in bits" },
    timeleft: { type: "boolean", description: "Seconds left (-1 once expired)" },
    path: { type: "boolean", description: "The proxy file's path" },
    rfc2253: { type: "boolean", description: "Print names in RFC 2253 form" },
    exists: { type: "boolean", alias: "e", description: "Exit 0 if a valid proxy exists (see --valid, --bits), else 1; print nothing" },
    valid: { type: "string", description: "With --exists: valid for at least this long", valueHint: "H:M" },
    hours: { type: "string", description: "With --exists: valid for at least H hours", valueHint: "H" },
    bits: { type: "string", alias: "b", description: "With --exists: a key of at least B bits", valueHint: "B" },
    json: { type: "boolean", description: "Everything as JSON" },
  },
  async run({ args, rawArgs }) {
    const { flagsInOrder } = await import("../../src/cli/args");
    const { readProxyFile, secondsLeft, formatTimeLeft } = await import("../../src/proxy/describe");
    const { defaultProxyPath } = await import("../../src/proxy/file");
    const { parseValid, parseHours, parseNonNegativeInt } = await import("../../src/proxy/lifetime");
    const { oneline, rfc2253 } = await import("../../src/proxy/dn");
    const path = args.file || defaultProxyPath();

    if (args.exists) {
      const need = args.valid !== undefined ? parseValid(args.valid) : args.hours !== undefined ? parseHours(args.hours) : 0;
      const bits = args.bits !== undefined ? parseNonNegativeInt(args.bits, "--bits") : 0;
      const { log } = await import("../../src/cli/log");
      let ok = false;
      try {
        const p = readProxyFile(path);
        const left = secondsLeft(p);
        ok = left > 0 && left >= need && p.bits >= bits;
        log.debug(ok ? `${path}: valid proxy` : `${path}: ${left <= 0 ? "expired" : left < need ? `only ${formatTimeLeft(left)} left` : `${p.bits}-bit key`}`);
      } catch (err) {
        log.debug((err as Error).message);
      }
      if (!ok) throw new SilentExit(1);
      return;
    }
    if (args.valid !== undefined || args.hours !== undefined || args.bits !== undefined) throw new UsageError("--valid, --hours and --bits go with --exists");

    const p = readProxyFile(path);
    const left = secondsLeft(p);
    const dn = args.rfc2253 ? rfc2253 : oneline;
    const values: Record<Field, string> = {
      subject: dn(p.proxy.subject),
      issuer: dn(p.proxy.issuer),
      identity: dn(p.identity),
      type: p.classified.type,
      strength: String(p.bits),
      path,
      timeleft: String(left > 0 ? left : -1),
    };
    if (args.json) {
      const { printJson } = await import("../../src/cli/output");
      printJson({
        ...values, strength: p.bits, timeleft: Math.max(left, 0), expired: left <= 0,
        kind: p.classified.kind, policy: p.classified.policy ?? null, pathLength: p.classified.pathLength ?? null,
        notBefore: p.proxy.notBefore.toISOString(), notAfter: p.proxy.notAfter.toISOString(), goodUntil: p.goodUntil.toISOString(),
        hasKey: p.hasKey, chain: p.chain.map((c) => dn(c.subject)),
      });
      return;
    }
    const fields = args.all ? [] : flagsInOrder(rawArgs, FIELDS);
    if (fields.length) {
      process.stdout.write(fields.map((f) => values[f as Field]).join("\n") + "\n");
      return;
    }
    const line = (label: string, value: string) => `${label.padEnd(8)} : ${value}\n`;
    process.stdout.write(
      line("subject", values.subject) + line("issuer", values.issuer) + line("identity", values.identity) +
      line("type", values.type) + line("strength", `${p.bits} bits`) + line("path", path) + line("timeleft", formatTimeLeft(left)),
    );
  },
});
