/**
 * Which proxy reaches the API server, decided as kubectl decides it: the kubeconfig
 * cluster's proxy-url when set; otherwise the environment as Go's net/http reads it
 * (golang.org/x/net/http/httpproxy, vendored in Go's standard library): HTTPS_PROXY or
 * https_proxy for an https server, HTTP_PROXY or http_proxy for an http one, upper case
 * first; NO_PROXY or no_proxy lists hosts, domains (with subdomains), IP addresses and CIDR
 * ranges, each with an optional port, or "*"; localhost and loopback addresses never go
 * through a proxy from the environment.
 *
 * The server is one URL for the whole run, so the decision is made once and the run's one
 * dispatcher is built for it (undici's EnvHttpProxyAgent decides per request and differs
 * from Go on loopback addresses, CIDR ranges and which case wins).
 */
import { BlockList, isIP } from "node:net";
import { domainToASCII } from "node:url";

export type ProxyEnv = Readonly<Record<string, string | undefined>>;

export interface ProxyChoice {
  /** The proxy's URL, or null for a direct connection. */
  url: string | null;
  /** Where the choice came from, for -v. */
  from: "kubeconfig proxy-url" | "HTTPS_PROXY" | "https_proxy" | "HTTP_PROXY" | "http_proxy" | null;
}

export function proxyFor(server: string, clusterProxyUrl: string | undefined, env: ProxyEnv): ProxyChoice {
  if (clusterProxyUrl) return { url: clusterProxyUrl, from: "kubeconfig proxy-url" };
  const target = new URL(server);
  const names = target.protocol === "https:" ? (["HTTPS_PROXY", "https_proxy"] as const) : (["HTTP_PROXY", "http_proxy"] as const);
  const from = names.find((n) => env[n]);
  if (!from) return { url: null, from: null };
  const url = withScheme(env[from]!);
  if (url === null) return { url: null, from: null };
  const port = target.port || (target.protocol === "https:" ? "443" : "80");
  if (!useProxy(target.hostname, port, env["NO_PROXY"] || env["no_proxy"] || "")) return { url: null, from: null };
  return { url, from };
}

/** Go's parseProxy: "proxy:3128" means http://proxy:3128; an unparseable value means none. */
function withScheme(value: string): string | null {
  for (const candidate of [value, `http://${value}`]) {
    try {
      const url = new URL(candidate);
      if (url.host) return candidate;
    } catch {
      // try the next form
    }
  }
  return null;
}

function useProxy(hostname: string, port: string, noProxy: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  if (host === "localhost") return false;
  const family = isIP(host);
  if (family && isLoopback(host, family)) return false;
  for (const raw of noProxy.split(",")) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return false;
    const cidr = /^(.+)\/(\d{1,3})$/.exec(entry);
    if (cidr) {
      const [, base, bits] = cidr;
      const baseFamily = isIP(base!);
      if (!baseFamily) continue;
      if (family === baseFamily) {
        const range = new BlockList();
        range.addSubnet(base!, Number(bits), baseFamily === 4 ? "ipv4" : "ipv6");
        if (range.check(host, family === 4 ? "ipv4" : "ipv6")) return false;
      }
      continue;
    }
    const { entryHost, entryPort } = splitHostPort(entry);
    if (!entryHost) continue;
    if (entryPort && entryPort !== port) continue;
    if (isIP(entryHost)) {
      if (family && sameAddress(entryHost, host)) return false;
      continue;
    }
    // Domain entries never match an IP address. "example.com" matches it and its
    // subdomains; ".example.com" and "*.example.com" only the subdomains.
    if (family) continue;
    const domain = domainToASCII(entryHost.replace(/^\*\./, ".")) || entryHost;
    if (domain.startsWith(".") ? host.endsWith(domain) : host === domain || host.endsWith(`.${domain}`)) return false;
  }
  return true;
}

function splitHostPort(entry: string): { entryHost: string; entryPort: string } {
  const bracketed = /^\[(.*)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { entryHost: bracketed[1]!, entryPort: bracketed[2] ?? "" };
  if (isIP(entry) === 6) return { entryHost: entry, entryPort: "" };
  const withPort = /^(.*):(\d+)$/.exec(entry);
  return withPort ? { entryHost: withPort[1]!, entryPort: withPort[2]! } : { entryHost: entry, entryPort: "" };
}

function isLoopback(host: string, family: number): boolean {
  const loopback = new BlockList();
  loopback.addSubnet("127.0.0.0", 8, "ipv4");
  loopback.addAddress("::1", "ipv6");
  loopback.addSubnet("::ffff:127.0.0.0", 104, "ipv6");
  return loopback.check(host, family === 4 ? "ipv4" : "ipv6");
}

function sameAddress(a: string, b: string): boolean {
  const list = new BlockList();
  const family = isIP(a) === 4 ? "ipv4" : "ipv6";
  list.addAddress(a, family);
  return list.check(b, isIP(b) === 4 ? "ipv4" : "ipv6");
}
