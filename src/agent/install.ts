import { CvmError } from "../cli/errors";
import { escapeName } from "../cli/output";
import { safeAbsolutePath } from "./names";
import { RootFs } from "./root";
import { systemdRunning } from "./systemd";

export const UNIT = "cvm-agent.service";
const UNIT_PATH = `/etc/systemd/system/${UNIT}`;

/**
 * The unit that runs the agent once at boot: after the network is up (the
 * metadata service needs it) and after autofs (CernVM-FS mounts a repository
 * on its first access and reads the client configuration then, so what the
 * agent writes counts, and a pilot on /cvmfs can start), before logins, ssh
 * and the display manager, so they start configured. Type=oneshot with
 * RemainAfterExit and KillMode=process: the contextualization commands (the
 * pilot) keep running after the agent exits. Its stderr goes to the journal,
 * and the agent then writes every log line (per-step timings) there too.
 */
export function unitText(exec: string): string {
  return `# Written by 'cvm agent install'
[Unit]
Description=CernVM contextualization from user_data (cvm agent)
After=local-fs.target network-online.target autofs.service
Wants=network-online.target
Before=systemd-user-sessions.service getty.target sshd.service ssh.service display-manager.service cloud-final.service
ConditionPathExists=!/etc/cvm/agent.disabled

[Service]
Type=oneshot
ExecStart=${exec} agent
RemainAfterExit=yes
KillMode=process
TimeoutStartSec=30min
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;
}

export function installUnit(o: { root: string; exec: string }): string[] {
  if (!safeAbsolutePath(o.exec)) throw new CvmError(`--exec '${escapeName(o.exec)}': expected an absolute path`);
  const root = new RootFs(o.root);
  const done: string[] = [];
  root.mkdirs("/etc/systemd/system", 0o755);
  root.write(UNIT_PATH, unitText(o.exec), 0o644);
  done.push(`wrote ${root.hostPath(UNIT_PATH)}`);
  if (systemdRunning(root.isHostRoot)) {
    for (const argv of [["systemctl", "daemon-reload"], ["systemctl", "enable", UNIT]]) {
      const p = Bun.spawnSync({ cmd: argv, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 30_000 });
      if (p.exitCode !== 0) throw new CvmError(`${argv.join(" ")}: ${p.stderr.toString().trim().split("\n").pop() || `exit ${p.exitCode}`}`);
    }
    done.push(`enabled ${UNIT} (systemctl)`);
  } else {
    const link = `/etc/systemd/system/multi-user.target.wants/${UNIT}`;
    root.mkdirs("/etc/systemd/system/multi-user.target.wants", 0o755);
    root.symlink(link, UNIT_PATH);
    done.push(`enabled ${UNIT} (${root.hostPath(link)} -> ${UNIT_PATH})`);
  }
  if (!root.lstat(o.exec, "follow")) done.push(`note: ${o.exec} does not exist under ${root.root}; copy cvm there (or give --exec)`);
  return done;
}
