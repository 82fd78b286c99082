import { existsSync, readFileSync } from "node:fs";
import { version } from "../../../package.json";
import { CvmError } from "../../cli/errors";
import { readFlags, type BootFlags } from "./cmdline";
import { say, seconds } from "./console";
import { configureNetwork } from "./network";
import { mountBasics, run, setHostname } from "./system";

export interface BootOptions { stage: "root" | "system"; }

/** PRETTY_NAME of /etc/os-release: which system booted (a root repository's revision may change it). */
const osName = () => /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(existsSync("/etc/os-release") ? readFileSync("/etc/os-release", "utf8") : "")?.[1] ?? "unknown system";

/** RAM in use (MemTotal less MemAvailable) of what the guest has, as free(1) counts it. */
function memoryUse(): string {
  const info = readFileSync("/proc/meminfo", "utf8");
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(info)?.[1] ?? 0);
  return `RAM used ${Math.round((kb("MemTotal") - kb("MemAvailable")) / 1024)} of ${Math.round(kb("MemTotal") / 1024)} MiB`;
}

const uptime = () => `${readFileSync("/proc/uptime", "utf8").split(" ")[0]} s`;

/** One step of the boot: its line on the console with its time; a failure said, not thrown. */
async function step(name: string, work: () => Promise<void> | void): Promise<boolean> {
  const t0 = performance.now();
  try {
    await work();
    return true;
  } catch (err) {
    say(`${name}: failed: ${(err as Error).message} (${seconds(t0)})`);
    return false;
  }
}

/**
 * `cvm appliance boot`, run by busybox init once the root is in place: the
 * system's mounts, the network, the agent (which mounts the repositories,
 * starts the services and runs the contextualization command, echoing its
 * output here), then a one-line report. With cvm.once the guest powers off
 * when all that is over.
 */
export async function bootAppliance(o: BootOptions): Promise<number> {
  // it reconfigures the network and runs the agent on /: never on a machine that is not an appliance
  if (!existsSync("/etc/cvm-appliance.conf")) {
    throw new CvmError("appliance boot: this is not an appliance (no /etc/cvm-appliance.conf); it is run by an appliance's init, and would reconfigure this machine's network");
  }
  const flags = readFlags();
  if (o.stage === "root") {
    const { mountRootRepository } = await import("./root-repository");
    return (await step("root", () => mountRootRepository(flags))) ? 0 : 1;
  }
  say(`cvm ${version} started at ${uptime()} after power-on (${osName()})`);
  await step("system", () => { mountBasics(); setHostname(); });
  if (flags.network) await step("network", configureNetwork);
  const agent = await runAgent(flags);
  say(agent === 0 ? `ready at ${uptime()}: contextualized (${memoryUse()})` : `failed at ${uptime()}: the agent exited ${agent} (cvm agent status; /var/log/cvm-agent.log)`);
  if (flags.once) {
    say("powering off (cvm.once)");
    run(["poweroff"], "poweroff");
  }
  return agent;
}

async function runAgent(flags: BootFlags): Promise<number> {
  const t0 = performance.now();
  say("agent: started");
  // -v: each step's line on the console as well as in the agent's log; --follow: it stays until the
  // contextualization commands end, their output on the console, prefixed with the program's name
  const p = Bun.spawn({ cmd: [process.execPath, "-v", "agent", "run", "--follow", ...flags.agentArgs], stdin: "ignore", stdout: "inherit", stderr: "inherit" });
  const code = await p.exited;
  say(`agent: exit ${code} (${seconds(t0)})`);
  return code;
}
