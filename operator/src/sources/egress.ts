/**
 * Which addresses the operator may connect to on behalf of a Capsule's author. By default every
 * address that is not plain public unicast is refused: loopback, link-local (cloud metadata services),
 * private (RFC 1918), CGNAT (100.64/10), unique-local (fc00::/7), unspecified (0.0.0.0, ::), multicast,
 * broadcast, reserved and documentation ranges, and IPv6 forms that embed an IPv4 address (NAT64,
 * 6to4, Teredo; IPv4-mapped addresses are judged as the IPv4 address they carry). Extra denied
 * networks (cluster service or pod ranges outside private space) and allow rules come from the policy.
 */
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Network = [Address, number];

export interface AllowRule {
  /** As written in the policy, for logs. */
  text: string;
  /** Host name (lower case), or the domain of a "*.domain" rule. */
  host?: string;
  wildcard?: boolean;
  network?: Network;
  port?: number;
}

export interface EgressPolicy {
  allow: AllowRule[];
  deny: Network[];
}

export class PolicyFormatError extends Error {}

const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

function parsePort(text: string, entry: string): number {
  const port = Number(text);
  if (!/^[0-9]{1,5}$/.test(text) || port < 1 || port > 65535)
    throw new PolicyFormatError(`invalid port in "${entry}"`);
  return port;
}

function parseNetwork(text: string, entry: string): Network {
  try {
    if (text.includes("/")) return normalize(ipaddr.parseCIDR(text));
    const a = ipaddr.parse(text);
    return normalize([a, a.kind() === "ipv4" ? 32 : 128]);
  } catch {
    throw new PolicyFormatError(`not an IP address or CIDR: "${entry}"`);
  }
}

/** An IPv4-mapped IPv6 network (::ffff:10.0.0.0/104) is the IPv4 network it maps. */
function normalize([a, bits]: Network): Network {
  if (a.kind() === "ipv6" && (a as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96)
    return [(a as ipaddr.IPv6).toIPv4Address(), bits - 96];
  return [a, bits];
}

/**
 * One allow entry: `HOST`, `HOST:PORT`, `*.DOMAIN[:PORT]` (any name under DOMAIN), `IP`, `IP:PORT`,
 * `[IPv6]:PORT` or `CIDR`. A host entry admits whatever that name resolves to.
 */
export function parseAllowRule(raw: string): AllowRule {
  const text = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) {
    const [, addr, port] = bracketed;
    return {
      text,
      network: parseNetwork(addr as string, text),
      port: port ? parsePort(port, text) : undefined,
    };
  }
  if (text.includes("/") || isIP(text)) return { text, network: parseNetwork(text, text) };
  const m = /^([^:]+):(\d+)$/.exec(text);
  const [name, port] = m ? [m[1] as string, parsePort(m[2] as string, text)] : [text, undefined];
  if (isIP(name)) return { text, network: parseNetwork(name, text), port };
  const host = name.toLowerCase();
  if (!HOST.test(host)) throw new PolicyFormatError(`not a host, IP address or CIDR: "${text}"`);
  return host.startsWith("*.") ? { text, host: host.slice(2), wildcard: true, port } : { text, host, port };
}

/** A comma- or whitespace-separated list of allow entries and one of denied networks (IP or CIDR). */
export function parseEgressPolicy(allow = "", deny: string[] = []): EgressPolicy {
  const entries = (s: string) => s.split(/[\s,]+/).filter(Boolean);
  return {
    allow: entries(allow).map(parseAllowRule),
    deny: deny.flatMap(entries).map((d) => parseNetwork(d, d)),
  };
}

/** The default: nothing allowed beyond public unicast, and the API server's own address denied. */
export function defaultDeny(env: NodeJS.ProcessEnv = process.env): string[] {
  const host = env.KUBERNETES_SERVICE_HOST;
  return host && isIP(host) ? [host] : [];
}

const inNetwork = (a: Address, [net, bits]: Network) => a.kind() === net.kind() && a.match(net, bits);

export interface Verdict {
  allowed: boolean;
  /** Why, for the operator log: the rule that admitted it, or the range that refused it. */
  why: string;
}

/** Decides about one connection: to `address` (as resolved), for the URL's `host` and `port`. */
export function judge(policy: EgressPolicy, host: string, port: number, address: string): Verdict {
  let a: Address;
  try {
    a = ipaddr.process(address);
  } catch {
    return { allowed: false, why: `unparsable address ${address}` };
  }
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  for (const r of policy.allow) {
    if (r.port !== undefined && r.port !== port) continue;
    if (r.network && inNetwork(a, r.network)) return { allowed: true, why: `allowed by "${r.text}"` };
    if (r.host && (r.wildcard ? name.endsWith(`.${r.host}`) : name === r.host))
      return { allowed: true, why: `allowed by "${r.text}"` };
  }
  const denied = policy.deny.find((n) => inNetwork(a, n));
  if (denied) return { allowed: false, why: `${a} is in the denied network ${denied[0]}/${denied[1]}` };
  const range = a.range();
  if (range !== "unicast") return { allowed: false, why: `${a} is a ${range} address` };
  return { allowed: true, why: "public address" };
}
