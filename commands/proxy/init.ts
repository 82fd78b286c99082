import { defineCommand } from "citty";
import { UsageError } from "../../src/cli/errors";

export default defineCommand({
  meta: { name: "init", description: "Make a proxy certificate from your user credential (like grid-proxy-init)" },
  args: {
    cert: { type: "string", description: "User certificate [X509_USER_CERT, then ~/.globus/usercert.pem]", valueHint: "file" },
    key: { type: "string", description: "User private key [X509_USER_KEY, then ~/.globus/userkey.pem]", valueHint: "file" },
    out: { type: "string", description: "Proxy file to write [X509_USER_PROXY, then /tmp/x509up_u<uid>]", valueHint: "file" },
    valid: { type: "string", description: "Lifetime, capped at the certificate's expiry", default: "12:00", valueHint: "H:M" },
    hours: { type: "string", description: "Lifetime in hours (deprecated; use --valid)", valueHint: "H" },
    bits: { type: "string", description: "Proxy key size: 512, 1024, 2048 or 4096", default: "2048" },
    limited: { type: "boolean", description: "Make a limited proxy (Globus policy 1.3.6.1.4.1.3536.1.1.1.9)" },
    independent: { type: "boolean", description: "Make an independent proxy (inherits no rights)" },
    "path-length": { type: "string", description: "Allow at most N further proxies below this one", valueHint: "N" },
    pwstdin: { type: "boolean", description: "Read the key passphrase from the first line of standard input" },
    rfc: { type: "boolean", description: "Make an RFC 3820 proxy (the default; accepted for compatibility)" },
    quiet: { type: "boolean", alias: "q", description: "Print nothing on success" },
  },
  async run({ args }) {
    const { parseValid, parseHours, parseNonNegativeInt, ctime } = await import("../../src/proxy/lifetime");
    const { PROXY_BITS } = await import("../../src/proxy/make");
    const bits = Number(args.bits);
    if (!PROXY_BITS.includes(bits as (typeof PROXY_BITS)[number])) throw new UsageError(`--bits '${args.bits}': expected one of ${PROXY_BITS.join(", ")}`);
    if (args.limited && args.independent) throw new UsageError("--limited and --independent exclude each other");
    const validSeconds = args.hours !== undefined ? parseHours(args.hours) : parseValid(args.valid);
    const pathLength = args["path-length"] !== undefined ? parseNonNegativeInt(args["path-length"], "--path-length") : undefined;

    const { initProxy } = await import("../../src/proxy/init");
    const { defaultProxyPath } = await import("../../src/proxy/file");
    const { oneline } = await import("../../src/proxy/dn");
    const { promptSecret, readSecretFromStdin } = await import("../../src/cli/prompt");
    const say = (text: string) => { if (!args.quiet) process.stdout.write(text); };

    const made = await initProxy(
      {
        cert: args.cert, key: args.key, out: args.out || defaultProxyPath(),
        validSeconds, bits, pathLength,
        policy: args.limited ? "limited" : args.independent ? "independent" : "impersonation",
      },
      {
        identity: (subject) => say(`Your identity: ${oneline(subject)}\n`),
        passphrase: () => (args.pwstdin ? readSecretFromStdin() : promptSecret("Enter GRID pass phrase for this identity:")),
        async creating(work) {
          say("Creating proxy .");
          const dots = setInterval(() => say("."), 50);
          try {
            return await work;
          } finally {
            clearInterval(dots);
            say(" Done\n");
          }
        },
      },
    );
    say(`Your proxy is valid until: ${ctime(made.notAfter)}\n`);
    if (made.capped)
      process.stderr.write(`Warning: your certificate and proxy will expire ${ctime(made.notAfter)}\n which is within the requested lifetime of the proxy\n`);
  },
});
