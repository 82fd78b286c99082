import { readFileSync } from "node:fs";
import { version } from "../../../package.json";
import { readFlags, type BootFlags } from "./cmdline";
import { say, seconds } from "./console";
import { configureNetwork } from "./network";
import { mountBasics, run, setHostname } from "./system";

export interface BootOptions { stage: "root" | "system"; }

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
  const flags = readFlags();
  if (o.stage === "root") {
    const { mountRootRepository } = await import("./root-repository");
    return (await step("root", () => mountRootRepository(flags))) ? 0 : 1;
  }
  say(`cvm ${version} started at ${uptime()} after power-on`);
  await step("system", () => { mountBasics(); setHostname(); });
  if (flags.network) await step("network", configureNetwork);
  const agent = await runAgent(flags);
  say(agent === 0 ? `ready at ${uptime()}: contextualized` : `failed at ${uptime()}: the agent exited ${agent} (cvm agent status; /var/log/cvm-agent.log)`);
  if (flags.once) {
    say("powering off (cvm.once)");
    run(["poweroff"], "poweroff");
  }
  return agent;
}

async function runAgent(flags: BootFlags): Promise<number> {
  const t0 = performance.now();
  say("agent: started");
  const p = Bun.spawn({ cmd: [process.execPath, "agent", "run", ...flags.agentArgs], stdin: "ignore", stdout: "inherit", stderr: "inherit" });
  const code = await p.exited;
  say(`agent: exit ${code} (${seconds(t0)})`);
  return code;
}
