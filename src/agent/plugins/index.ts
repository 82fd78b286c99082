import { commands } from "./commands";
import { cvmfs } from "./cvmfs";
import { environment } from "./environment";
import { hostname } from "./hostname";
import { mounts } from "./mounts";
import { network } from "./network";
import { services } from "./services";
import { site } from "./site";
import { sshKeys } from "./ssh-keys";
import type { Plugin } from "./types";
import { users } from "./users";
import { x509 } from "./x509";

/**
 * The plugins in the order they run: the network (from the context), the machine's name and keys, the
 * CernVM-FS configuration and the repositories mounted with it, accounts (before the proxy, which needs a uid),
 * the proxy, the environment (before the commands that get it), CernVM's own
 * settings, services, and the contextualization commands last.
 */
export const PLUGINS: Plugin[] = [network, hostname, sshKeys, cvmfs, mounts, users, x509, environment, site, services, commands];

/** amiconfig plugin names the agent implements ([amiconfig] plugins / disabled_plugins). */
export const PLUGIN_GROUPS = ["cernvm", "hostname", "rootsshkeys", "network"];

/** amiconfig's other plugins: their sections are recognised and skipped with a warning. */
export const FOREIGN_SECTIONS = new Set(["condor", "ganglia", "squid", "puppet", "workqueue", "nss", "amildap", "yp", "tcpbuffers", "appliance-agent",
  "vaf-setup", "elastiq-setup", "hepix", "rootsshkeys", "disablesshpasswdauth", "dnsupdate", "noip", "openvpn", "storage", "sfcb-client-setup",
  "rapadminpassword", "rapcert", "raprsakey", "conaryproxy", "rmakenode", "rmakeserver", "mountvol", "kernelmodules", "vmwareguest"]);

/** The `[amiconfig]` section's own keys. */
export const AMICONFIG_KEYS: Record<string, string> = {
  plugins: "amiconfig plugins to run in addition to the defaults (all of cernvm, hostname, rootsshkeys, network run by default)",
  disabled_plugins: "plugins not to run (cernvm, hostname, rootsshkeys, network)",
};
