// The network configuration a context gives, from each of the three
// published formats (OpenNebula's ETH<n>_* context variables, OpenStack's
// network_data.json, cloud-init's network-config v1 and v2 on a NoCloud
// seed): written under --root as systemd-networkd files (or an ifupdown
// stanza file where the root uses ifupdown), shown by --dry-run, hostile
// values refused in one line with nothing touched; and the same model applied
// live with busybox `ip` in a network namespace, as the appliance boots.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { liveSteps, networkFromContextDir } from "../src/agent/network/index";
import { cvm, run } from "./helpers/run";
import { hasTools } from "./helpers/tools";
import { AGENT_OWN, Guests, fingerprint } from "./fixtures/agent/guest";
import { contextDirs } from "./helpers/context-dir";

const isRoot = process.getuid?.() === 0;
const guests = new Guests();
const work = mkdtempSync(join(tmpdir(), "cvm-agent-network-"));
afterAll(() => { guests.cleanup(); rmSync(work, { recursive: true, force: true }); });

/** A context directory with these files (bytes or text). */
const dir = contextDirs(work);
const agent = (root: string, ...args: string[]) => cvm(["agent", "--root", root, ...args]);
const read = (root: string, p: string) => readFileSync(join(root, p), "utf8");

/** OpenNebula's context for one static NIC, both families, as its documentation lists the variables. */
const ONE = [
  "ETH0_MAC='02:00:0a:00:00:05'", "ETH0_IP='10.0.0.5'", "ETH0_MASK='255.255.255.0'", "ETH0_GATEWAY='10.0.0.1'",
  "ETH0_DNS='10.0.0.2 10.0.0.3'", "ETH0_SEARCH_DOMAIN='example.org'", "ETH0_MTU='1450'",
  "ETH0_IP6='2001:db8::5'", "ETH0_IP6_PREFIX_LENGTH='64'", "ETH0_IP6_GATEWAY='2001:db8::1'",
  "ETH1_MAC='02:00:c0:a8:01:07'", "ETH1_METHOD='dhcp'", "ETH1_IP6_METHOD='auto'",
  "DNS='192.0.2.53'", "VMID=12",
].join("\n") + "\n";

/** A config drive's network_data.json as the OpenStack metadata documentation shows it: a static IPv4 + IPv6 link and a DHCP one. */
const NETWORK_DATA = {
  links: [
    { ethernet_mac_address: "fa:16:3e:9c:bf:3d", id: "tapcd9f6d46-4a", mtu: 1450, type: "ovs", vif_id: "cd9f6d46-4a3a-43ab-a466-994af9db96fc" },
    { ethernet_mac_address: "fa:16:3e:11:22:33", id: "tap8b2c", mtu: null, type: "phy" },
    { id: "bond0", type: "bond", bond_links: ["tap8b2c"], bond_mode: "802.1ad" },
  ],
  networks: [
    { id: "network0", link: "tapcd9f6d46-4a", network_id: "99e88329-f20d-4741-9593-25bf07847b16", type: "ipv4", ip_address: "10.0.0.5", netmask: "255.255.255.0",
      routes: [{ network: "0.0.0.0", netmask: "0.0.0.0", gateway: "10.0.0.1" }, { network: "172.16.0.0", netmask: "255.255.0.0", gateway: "10.0.0.254" }],
      services: [{ type: "dns", address: "10.0.0.2" }] },
    { id: "network1", link: "tapcd9f6d46-4a", type: "ipv6", ip_address: "2001:db8::5", netmask: "ffff:ffff:ffff:ffff::",
      routes: [{ network: "::", netmask: "::", gateway: "2001:db8::1" }] },
    { id: "network2", link: "tap8b2c", type: "ipv4_dhcp" },
  ],
  services: [{ type: "dns", address: "8.8.8.8" }],
};

const V1 = `version: 1
config:
  - type: physical
    name: eth0
    mac_address: "52:54:00:12:34:00"
    mtu: 1450
    subnets:
      - type: static
        address: 192.168.1.10/24
        gateway: 192.168.1.1
        dns_nameservers: [192.168.1.2]
        dns_search: [lab.example.org]
        routes:
          - network: 10.20.0.0
            netmask: 255.255.0.0
            gateway: 192.168.1.254
      - type: static6
        address: "2001:db8:1::10/64"
  - type: physical
    name: eth1
    subnets: [{type: dhcp}]
  - type: nameserver
    address: [9.9.9.9]
    search: [example.org]
`;

const V2 = `network:
  version: 2
  ethernets:
    lan:
      match: {macaddress: "52:54:00:12:34:01"}
      set-name: lan
      addresses: [192.168.2.10/24, "2001:db8:2::10/64"]
      gateway4: 192.168.2.1
      routes: [{to: 10.30.0.0/16, via: 192.168.2.254, metric: 100}]
      nameservers: {addresses: [192.168.2.2], search: [lab.example.org]}
    eth9:
      dhcp4: true
      dhcp6: true
    all-en:
      match: {name: "en*"}
      dhcp4: true
`;

describe("written under --root as systemd-networkd files", () => {
  test("OpenNebula ETH<n>_*: each NIC matched by its MAC; addresses, gateways, DNS (its own, then the global), MTU; DHCP and SLAAC by method", async () => {
    const root = guests.root("net-one");
    const ctx = dir({ "context.sh": ONE });
    const r = await agent(root, "--context", ctx);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "etc/systemd/network/10-cvm-02000a000005.network")).toBe([
      `# Written by cvm agent from ${ctx}/context.sh (ETH0).`, "[Match]", "MACAddress=02:00:0a:00:00:05", "", "[Link]", "MTUBytes=1450", "",
      "[Network]", "DHCP=no", "Address=10.0.0.5/24", "Address=2001:db8::5/64", "Gateway=10.0.0.1", "Gateway=2001:db8::1",
      "DNS=10.0.0.2", "DNS=10.0.0.3", "DNS=192.0.2.53", "Domains=example.org", "",
    ].join("\n"));
    expect(read(root, "etc/systemd/network/10-cvm-0200c0a80107.network")).toContain("[Match]\nMACAddress=02:00:c0:a8:01:07\n\n[Network]\nDHCP=ipv4\nIPv6AcceptRA=yes\nDNS=192.0.2.53\n");
    expect(read(root, "etc/resolv.conf")).toBe("# Written by cvm agent.\nsearch example.org\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 192.0.2.53\n");
    expect(read(root, "etc/hostname")).toBe("ip-10-0-0-5\n"); // no SET_HOSTNAME: from ETH0_IP, as cloud-init
  });

  test("OpenStack network_data.json: links by MAC with their MTU, static networks with routes (the 0.0.0.0/0 one is the gateway), DHCP; a bond is warned of and left out", async () => {
    const root = guests.root("net-os");
    const drive = dir({ "openstack/latest/meta_data.json": JSON.stringify({ uuid: "i-os-net", hostname: "vm-net" }), "openstack/latest/network_data.json": JSON.stringify(NETWORK_DATA) });
    const r = await agent(root, "--context", drive);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`warning: network: ${drive}/openstack/latest/network_data.json: links[2] (bond0): link type bond is not supported; left out\n`);
    expect(read(root, "etc/systemd/network/10-cvm-fa163e9cbf3d.network")).toBe([
      `# Written by cvm agent from ${drive}/openstack/latest/network_data.json (link tapcd9f6d46-4a).`, "[Match]", "MACAddress=fa:16:3e:9c:bf:3d", "", "[Link]", "MTUBytes=1450", "",
      "[Network]", "DHCP=no", "IPv6AcceptRA=no", "Address=10.0.0.5/24", "Address=2001:db8::5/64", "Gateway=10.0.0.1", "Gateway=2001:db8::1", "DNS=10.0.0.2", "DNS=8.8.8.8", "",
      "[Route]", "Destination=172.16.0.0/16", "Gateway=10.0.0.254", "",
    ].join("\n"));
    expect(read(root, "etc/systemd/network/10-cvm-fa163e112233.network")).toContain("MACAddress=fa:16:3e:11:22:33\n\n[Network]\nDHCP=ipv4\n");
    expect(read(root, "etc/hostname")).toBe("vm-net\n");
  });

  test("NoCloud network-config v1: physical interfaces with subnets and routes, global name servers", async () => {
    const root = guests.root("net-v1");
    const seed = dir({ "meta-data": "instance-id: iid-v1\n", "network-config": V1 });
    const r = await agent(root, "--context", seed);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "etc/systemd/network/10-cvm-eth0.network")).toBe([
      `# Written by cvm agent from ${seed}/network-config (eth0).`, "[Match]", "MACAddress=52:54:00:12:34:00", "", "[Link]", "MTUBytes=1450", "",
      "[Network]", "DHCP=no", "Address=192.168.1.10/24", "Address=2001:db8:1::10/64", "Gateway=192.168.1.1", "DNS=192.168.1.2", "DNS=9.9.9.9", "Domains=lab.example.org example.org", "",
      "[Route]", "Destination=10.20.0.0/16", "Gateway=192.168.1.254", "",
    ].join("\n"));
    expect(read(root, "etc/systemd/network/10-cvm-eth1.network")).toContain("[Match]\nName=eth1\n\n[Network]\nDHCP=ipv4\n");
  });

  test("NoCloud network-config v2 (under network:): match by MAC, addresses of both families, routes with a metric; a match by name pattern is warned of", async () => {
    const root = guests.root("net-v2");
    const seed = dir({ "meta-data": "instance-id: iid-v2\n", "network-config": V2 });
    const r = await agent(root, "--context", seed);
    expect([r.code, r.stderr]).toEqual([0, `warning: network: ${seed}/network-config: ethernets.all-en: match by a name pattern is not supported; left out\n`]);
    expect(read(root, "etc/systemd/network/10-cvm-525400123401.network")).toBe([
      `# Written by cvm agent from ${seed}/network-config (lan).`, "[Match]", "MACAddress=52:54:00:12:34:01", "",
      "[Network]", "DHCP=no", "Address=192.168.2.10/24", "Address=2001:db8:2::10/64", "Gateway=192.168.2.1", "DNS=192.168.2.2", "Domains=lab.example.org", "",
      "[Route]", "Destination=10.30.0.0/16", "Gateway=192.168.2.254", "Metric=100", "",
    ].join("\n"));
    expect(read(root, "etc/systemd/network/10-cvm-eth9.network")).toContain("[Match]\nName=eth9\n\n[Network]\nDHCP=yes\n");
  });

  test("a v2 interface key is only a label: a line break in it cannot add a setting to the file", async () => {
    const root = guests.root("net-label");
    const seed = dir({ "meta-data": "instance-id: iid-label\n", "network-config": 'version: 2\nethernets:\n  "x\\n[Network]\\nDNS=203.0.113.66":\n    match: {macaddress: "52:54:00:12:34:09"}\n    dhcp4: true\n' });
    const r = await agent(root, "--context", seed);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const file = read(root, "etc/systemd/network/10-cvm-525400123409.network");
    expect(file.split("\n")[0]).toStartWith(`# Written by cvm agent from ${seed}/network-config (x\\n[Network]\\nDNS=`);
    expect(file).not.toMatch(/^DNS=/m);
  });

  test("a root that uses ifupdown gets one stanza file in interfaces.d instead; a resolv.conf that is a link (to a resolver's) is left alone", async () => {
    const root = guests.root("net-ifupdown");
    mkdirSync(join(root, "etc/network"), { recursive: true });
    writeFileSync(join(root, "etc/network/interfaces"), "auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n");
    symlinkSync("../run/systemd/resolve/stub-resolv.conf", join(root, "etc/resolv.conf"));
    const seed = dir({ "meta-data": "instance-id: iid-eni\n", "network-config": V1 });
    const r = await agent(root, "--context", seed);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(read(root, "etc/network/interfaces.d/50-cvm")).toBe([
      `# Written by cvm agent from ${seed}/network-config.`, "",
      "auto eth0", "iface eth0 inet static", "    address 192.168.1.10/24", "    gateway 192.168.1.1", "    mtu 1450",
      "    dns-nameservers 192.168.1.2 9.9.9.9", "    dns-search lab.example.org example.org", "    up ip route add 10.20.0.0/16 via 192.168.1.254 dev eth0",
      "iface eth0 inet6 static", "    address 2001:db8:1::10/64", "", "auto eth1", "iface eth1 inet dhcp", "    dns-nameservers 9.9.9.9", "    dns-search example.org", "",
    ].join("\n"));
    expect(existsSync(join(root, "etc/systemd/network"))).toBe(false);
    expect(readFileSync(join(root, "etc/network/interfaces"), "utf8")).toContain("source /etc/network/interfaces.d/*");
  });

  test("--dry-run shows the network step (each file with its content) and changes nothing", async () => {
    const root = guests.root("net-dry");
    const before = fingerprint(root);
    const ctx = dir({ "context.sh": ONE });
    const r = await agent(root, "--context", ctx, "--dry-run");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain(`step network:\n  2 interfaces from ${ctx}/context.sh; read by the network service when it next starts (networkctl reload, ifup, or the next boot)\n  mkdir /etc/systemd (0755 0:0)\n  mkdir /etc/systemd/network (0755 0:0)\n  write /etc/systemd/network/10-cvm-02000a000005.network (0644 0:0, new)\n`);
    expect(r.stdout).toContain("    +Address=10.0.0.5/24\n");
    expect(r.stdout).toContain("  write /etc/resolv.conf (0644 0:0, new)\n");
    expect(fingerprint(root)).toBe(before);
  });

  test("[amiconfig] disabled_plugins = network leaves the network alone", async () => {
    const root = guests.root("net-disabled");
    const r = await agent(root, "--context", dir({ "context.sh": ONE + `USER_DATA='[amiconfig]\ndisabled_plugins = network\n'\n` }), "--dry-run");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain("step network:\n  disabled ([amiconfig] disabled_plugins = network)\n");
  });
});

describe("hostile values: one line, nothing touched", () => {
  const os = (links: unknown[], networks: unknown[]) => ({ "openstack/latest/meta_data.json": "{}", "openstack/latest/network_data.json": JSON.stringify({ links, networks }) });
  const link = { id: "t0", type: "phy", ethernet_mac_address: "fa:16:3e:00:00:01" };
  const cases: [string, Record<string, string>, (d: string) => string][] = [
    ["an address out of range", { "context.sh": "ETH0_MAC='02:00:0a:00:00:05'\nETH0_IP='10.0.0.256'\n" },
      (d) => `${d}/context.sh: ETH0_IP: '10.0.0.256': expected an IPv4 address (a.b.c.d)`],
    ["a netmask with holes", { "context.sh": "ETH0_MAC='02:00:0a:00:00:05'\nETH0_IP='10.0.0.5'\nETH0_MASK='255.0.255.0'\n" },
      (d) => `${d}/context.sh: ETH0_MASK: '255.0.255.0': not a contiguous netmask`],
    ["a loopback gateway", { "context.sh": "ETH0_MAC='02:00:0a:00:00:05'\nETH0_IP='10.0.0.5'\nETH0_GATEWAY='127.0.0.1'\n" },
      (d) => `${d}/context.sh: ETH0_GATEWAY: '127.0.0.1': not a unicast address (unspecified, loopback, multicast or broadcast)`],
    ["the MAC of another interface (two NICs, one MAC)", { "context.sh": "ETH0_MAC='02:00:0a:00:00:05'\nETH0_IP='10.0.0.5'\nETH1_MAC='02:00:0A:00:00:05'\nETH1_IP='10.0.1.5'\n" },
      (d) => `${d}/context.sh: ETH1: MAC: '02:00:0a:00:00:05': given to ETH0 as well`],
    ["a multicast MAC", { "context.sh": "ETH0_MAC='01:00:5e:00:00:01'\nETH0_IP='10.0.0.5'\n" },
      (d) => `${d}/context.sh: ETH0_MAC: '01:00:5e:00:00:01': a multicast address is no interface's`],
    ["a name server with a command after it", { "context.sh": "ETH0_MAC='02:00:0a:00:00:05'\nETH0_IP='10.0.0.5'\nETH0_DNS='10.0.0.2;reboot'\n" },
      (d) => `${d}/context.sh: ETH0_DNS: '10.0.0.2;reboot': expected an IPv4 or IPv6 address`],
    ["a search domain that would add a line to resolv.conf", { "meta-data": "instance-id: x\n", "network-config": 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n    nameservers: {search: ["example.org\\nnameserver 203.0.113.66"]}\n' },
      (d) => `${d}/network-config: ethernets.eth0.nameservers.search: 'example.org\\nnameserver 203.0.113.66': expected a domain name (letters, digits, inner '-', dot-separated)`],
    ["an interface name that would open a section", os([{ ...link, name: "eth0\n[Network]" }], []),
      (d) => `${d}/openstack/latest/network_data.json: links[0].name: 'eth0\\n[Network]': expected an interface name (letters, digits, '_', '.', '-'; 15 at most)`],
    ["an MTU with a setting after it", os([{ ...link, mtu: "1500\nDNS=203.0.113.66" }], []),
      (d) => `${d}/openstack/latest/network_data.json: links[0].mtu: '1500\\nDNS=203.0.113.66': expected an MTU of 68 to 65535`],
    ["an IPv6 address with a zone", os([link], [{ id: "n", link: "t0", type: "ipv6", ip_address: "fe80::1%eth0", netmask: "64" }]),
      (d) => `${d}/openstack/latest/network_data.json: networks[0].ip_address: 'fe80::1%eth0': expected an IPv6 address`],
    ["a v1 version that is not one", { "meta-data": "instance-id: x\n", "network-config": "version: 3\n" },
      (d) => `${d}/network-config: version: '3': expected 1 or 2`],
  ];
  for (const [what, files, message] of cases)
    test(what, async () => {
      const root = guests.root("net-hostile");
      const d = dir(files);
      const before = fingerprint(root, AGENT_OWN);
      const r = await agent(root, "--context", d);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 1, stderr: `cvm: ${message(d)}\n` });
      expect(fingerprint(root, AGENT_OWN)).toBe(before);
    });
});

describe("the appliance's way: the model from a context directory, applied live with busybox ip", () => {
  const v2 = 'version: 2\nethernets:\n  lan:\n    match: {macaddress: "52:54:00:aa:00:01", name: ens3}\n    addresses: [10.9.0.5/24]\n';

  test("a MAC the system gives to another interface than the one named is refused", () => {
    const seed = dir({ "meta-data": "instance-id: x\n", "network-config": v2 });
    expect(() => networkFromContextDir(seed, [{ name: "ens4", mac: "52:54:00:aa:00:01" }, { name: "ens3", mac: "52:54:00:aa:00:02" }]))
      .toThrow(`${seed}/network-config: lan: MAC: '52:54:00:aa:00:01': belongs to ens4, not ens3`);
    expect(networkFromContextDir(seed, [{ name: "ens3", mac: "52:54:00:aa:00:01" }]).network?.interfaces[0]).toMatchObject({ name: "ens3", mac: "52:54:00:aa:00:01" });
  });

  test("only the network is read: user_data the agent would refuse does not keep the network down", () => {
    const ctx = dir({ "context.sh": "EC2_USER_DATA='!!!'\n" + ONE });
    const { network, warnings } = networkFromContextDir(ctx);
    expect(warnings).toEqual([]);
    expect(network?.interfaces.map((i) => [i.label, i.mac, i.addresses.map((a) => `${a.address}/${a.prefix}`)])).toEqual([
      ["ETH0", "02:00:0a:00:00:05", ["10.0.0.5/24", "2001:db8::5/64"]], ["ETH1", "02:00:c0:a8:01:07", []],
    ]);
    expect(() => networkFromContextDir(dir({ "context.sh": "ETH0_IP='10.0.0.5'\n;\n" }))).toThrow("line 2: ';' with no command before it");
  });

  test.skipIf(!isRoot || !hasTools("busybox", "unshare", "ip"))("OpenNebula's context applied in a network namespace: the kernel has the addresses, routes and MTU; DHCP left to the caller", async () => {
    const ctx = dir({ "context.sh": ONE + "ETH0_ROUTES_IGNORED='x'\n" });
    const nics = [{ name: "nic0", mac: "02:00:0a:00:00:05" }, { name: "nic1", mac: "02:00:c0:a8:01:07" }];
    const { network } = networkFromContextDir(ctx, nics);
    const steps = liveSteps(network!, nics, ["busybox", "ip"]);
    expect(steps.commands[0]).toEqual(["busybox", "ip", "link", "set", "dev", "nic0", "mtu", "1450", "up"]);
    expect({ dhcp4: steps.dhcp4, dhcp6: steps.dhcp6, missing: steps.missing }).toEqual({ dhcp4: ["nic1"], dhcp6: [], missing: [] });
    expect(steps.resolvConf).toBe("# Written by cvm agent.\nsearch example.org\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 192.0.2.53\n");
    const r = await run(["unshare", "-n", "--", process.execPath, join(import.meta.dir, "fixtures/agent/live-net.ts"), JSON.stringify({ nics, commands: steps.commands })]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toMatch(/nic0\s+inet 10\.0\.0\.5\/24 /);
    expect(r.stdout).toMatch(/nic0\s+inet6 2001:db8::5\/64 /);
    expect(r.stdout).toContain("default via 10.0.0.1 dev nic0");
    expect(r.stdout).toContain("default via 2001:db8::1 dev nic0");
    expect(r.stdout).toMatch(/nic0: <[^>]*UP[^>]*> mtu 1450 /);
  });
});
