/**
 * The proxy a run uses, decided as kubectl (Go's net/http and client-go) decides it. The
 * expectations are Go's own: golang.org/x/net/http/httpproxy's rules as vendored in the Go
 * standard library that builds kubectl.
 */
import { describe, expect, it } from "vitest";
import { proxyFor } from "../../src/kube/proxy.ts";

const remote = "https://api.example.com:6443";

describe("proxyFor", () => {
  it("prefers the kubeconfig cluster's proxy-url to the environment, even for loopback servers", () => {
    expect(proxyFor("https://127.0.0.1:6443", "socks5://127.0.0.1:1080", { HTTPS_PROXY: "http://proxy:3128" })).toEqual({
      url: "socks5://127.0.0.1:1080",
      from: "kubeconfig proxy-url",
    });
  });

  it("reads HTTPS_PROXY for https servers and HTTP_PROXY for http ones, upper case first", () => {
    const env = { HTTPS_PROXY: "http://upper:3128", https_proxy: "http://lower:3128", HTTP_PROXY: "http://plain:3128" };
    expect(proxyFor(remote, undefined, env)).toEqual({ url: "http://upper:3128", from: "HTTPS_PROXY" });
    expect(proxyFor(remote, undefined, { https_proxy: "http://lower:3128" })).toEqual({ url: "http://lower:3128", from: "https_proxy" });
    expect(proxyFor("http://api.example.com:8080", undefined, env)).toEqual({ url: "http://plain:3128", from: "HTTP_PROXY" });
    // An empty value counts as unset.
    expect(proxyFor(remote, undefined, { HTTPS_PROXY: "", https_proxy: "http://lower:3128" }).from).toBe("https_proxy");
    expect(proxyFor(remote, undefined, {}).url).toBeNull();
  });

  it("reads a proxy without a scheme as http://", () => {
    expect(proxyFor(remote, undefined, { HTTPS_PROXY: "proxy.corp:3128" }).url).toBe("http://proxy.corp:3128");
  });

  it("never proxies localhost or loopback addresses from the environment", () => {
    const env = { HTTPS_PROXY: "http://proxy:3128" };
    for (const server of ["https://localhost:6443", "https://127.0.0.1:6443", "https://127.4.5.6", "https://[::1]:6443"]) {
      expect(proxyFor(server, undefined, env).url, server).toBeNull();
    }
    expect(proxyFor("https://10.0.0.1:6443", undefined, env).url).toBe("http://proxy:3128");
  });

  it("honours NO_PROXY (upper case first): hosts, domains, IPs, CIDR ranges, ports and *", () => {
    const via = (server: string, noProxy: string, extra: Record<string, string> = {}) =>
      proxyFor(server, undefined, { HTTPS_PROXY: "http://proxy:3128", NO_PROXY: noProxy, ...extra }).url;
    // "example.com" covers the domain and its subdomains; ".example.com" and "*.example.com" only subdomains.
    expect(via(remote, "example.com")).toBeNull();
    expect(via("https://example.com", "example.com")).toBeNull();
    expect(via(remote, ".example.com")).toBeNull();
    expect(via("https://example.com", ".example.com")).toBe("http://proxy:3128");
    expect(via(remote, "*.example.com")).toBeNull();
    expect(via("https://notexample.com", "example.com")).toBe("http://proxy:3128");
    // Case, spaces and empty entries.
    expect(via(remote, " , API.Example.COM ")).toBeNull();
    // Ports: an entry with a port matches only that port (443 is https's default).
    expect(via(remote, "api.example.com:6443")).toBeNull();
    expect(via(remote, "api.example.com:443")).toBe("http://proxy:3128");
    expect(via("https://api.example.com", "api.example.com:443")).toBeNull();
    // IP addresses and CIDR ranges match IP servers only; domains never match an IP.
    expect(via("https://10.1.2.3:6443", "10.0.0.0/8")).toBeNull();
    expect(via("https://11.1.2.3:6443", "10.0.0.0/8")).toBe("http://proxy:3128");
    expect(via("https://10.1.2.3:6443", "10.1.2.3")).toBeNull();
    expect(via("https://10.1.2.3:6443", "10.1.2.3:443")).toBe("http://proxy:3128");
    expect(via("https://[fd00::5]:6443", "fd00::/8")).toBeNull();
    expect(via("https://[fd00::5]:6443", "[fd00::5]:6443")).toBeNull();
    expect(via("https://10.1.2.3:6443", "3.2.1.10.in-addr.arpa,example.com")).toBe("http://proxy:3128");
    expect(via(remote, "*")).toBeNull();
    // NO_PROXY wins over no_proxy; no_proxy is read when NO_PROXY is unset.
    expect(via(remote, "other.org", { no_proxy: "example.com" })).toBe("http://proxy:3128");
    expect(proxyFor(remote, undefined, { HTTPS_PROXY: "http://proxy:3128", no_proxy: "example.com" }).url).toBeNull();
  });
});
