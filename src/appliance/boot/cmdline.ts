import { readFileSync } from "node:fs";

/** The kernel arguments the appliance reads (README: Appliance). */
export interface BootFlags {
  once: boolean;    // cvm.once: power off when the boot is over (the pilot ended) or has failed
  shell: boolean;   // cvm.shell: a root shell on the console
  network: boolean; // cvm.net=none: no DHCP
  agentArgs: string[]; // cvm.metadata=URL: where the agent asks for user_data; cvm.metadata-timeout=S: how long it may take to answer at all
}

export function readFlags(text = readFileSync("/proc/cmdline", "utf8")): BootFlags {
  const words = text.trim().split(/\s+/);
  const value = (key: string) => words.find((w) => w.startsWith(key + "="))?.slice(key.length + 1);
  const metadata = value("cvm.metadata");
  const timeout = value("cvm.metadata-timeout");
  return {
    once: words.includes("cvm.once"),
    shell: words.includes("cvm.shell"),
    network: value("cvm.net") !== "none",
    agentArgs: [...(metadata ? ["--metadata-url", metadata] : []), ...(timeout ? ["--metadata-timeout", timeout] : [])],
  };
}
