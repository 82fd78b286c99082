export {}; // a module: top-level await below
// Times commands by wall clock over repeated runs and prints medians.
// usage: bun bench/lib/time.ts [--runs N] [--warmup K] [--stdin TEXT] -- CMD... [::: CMD...]
// With two commands (separated by :::) the runs alternate A, B, A, B… so that
// a noisy machine slows both alike, and the ratio A/B is printed.
const argv = Bun.argv.slice(2);
let runs = 20, warmup = 2, stdin: string | undefined;
while (argv[0] !== "--") {
  const flag = argv.shift();
  if (flag === "--runs") runs = Number(argv.shift());
  else if (flag === "--warmup") warmup = Number(argv.shift());
  else if (flag === "--stdin") stdin = argv.shift()!.replace(/\\n/g, "\n");
  else throw new Error(`unknown flag ${flag}`);
}
argv.shift();
const commands: string[][] = [[]];
for (const a of argv) a === ":::" ? commands.push([]) : commands[commands.length - 1].push(a);

async function once(cmd: string[]): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "ignore", stderr: "pipe" });
  const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${err}`);
  return ms;
}

const samples: number[][] = commands.map(() => []);
for (let i = 0; i < warmup; i++) for (const c of commands) await once(c);
for (let i = 0; i < runs; i++) for (const [k, c] of commands.entries()) samples[k].push(await once(c));

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const medians = samples.map(median);
commands.forEach((c, k) => {
  const s = samples[k];
  console.log(`${c.join(" ").replace(/\s+/g, " ").slice(0, 90)}\n  median ${medians[k].toFixed(1)} ms  min ${Math.min(...s).toFixed(1)}  max ${Math.max(...s).toFixed(1)}  (n=${s.length})`);
});
if (commands.length === 2) console.log(`ratio (first / second): ${(medians[0] / medians[1]).toFixed(2)}`);
