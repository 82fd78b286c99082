// Runs the EC2 Query API double on loopback until killed, for benchmarks and by hand.
// usage: bun test/ec2/serve.ts [--v2] [--instances N] [--images N]; prints its URL on stdout.
import { Ec2Double } from "./server";

const argv = Bun.argv.slice(2);
const num = (flag: string, dflt: number) => (argv.includes(flag) ? Number(argv[argv.indexOf(flag) + 1]) : dflt);
const double = new Ec2Double({
  signatureVersion: argv.includes("--v2") ? 2 : 4,
  accessKeyId: process.env.BENCH_ACCESS_KEY ?? "AKIDBENCH",
  secretAccessKey: process.env.BENCH_SECRET_KEY ?? "bench-secret",
  instances: num("--instances", 100),
  images: num("--images", 20),
}).start();
process.stdout.write(double.url + "\n");
process.on("SIGTERM", () => { double.stop(); process.exit(0); });
