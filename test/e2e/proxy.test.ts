/**
 * Reaching the cluster through a proxy as kubectl does, on the real cluster, through an
 * HTTP CONNECT proxy on loopback that the test starts: the kubeconfig's proxy-url, and
 * HTTPS_PROXY for a server that is not a loopback address (here the API server's own
 * certificate name kubernetes.default.svc, which only the proxy maps to the cluster).
 * Loopback servers never use HTTPS_PROXY (Go's rule); which names NO_PROXY exempts is
 * tested in test/unit/proxy.test.ts, as going direct to a name would ask a DNS server.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Timeline } from "../../src/core/timeline.ts";
import { podtrace } from "../support/cli.ts";
import { createNamespace, deleteNamespace, KUBECONFIG, leftovers, APISERVER_ON_LOOPBACK } from "../support/cluster.ts";
import { kubeconfigFor, startConnectProxy, type ConnectProxy } from "../support/connect-proxy.ts";
import { KubeConfig } from "@kubernetes/client-node";

let ns = "";
let proxy: ConnectProxy;
let port = "";
beforeAll(async () => {
  ns = await createNamespace("proxy-e2e");
  proxy = await startConnectProxy();
  const config = new KubeConfig();
  config.loadFromFile(KUBECONFIG);
  port = new URL(config.getCurrentCluster()!.server).port || "443";
});
afterAll(async () => {
  await proxy?.close();
  if (ns) await deleteNamespace(ns);
});

async function traceThrough(kubeconfig: string, env: Record<string, string>): Promise<Timeline> {
  const r = await podtrace(
    ["run", "test/fixtures/manifests/one-container.yaml", "-n", ns, "--kubeconfig", kubeconfig, "-o", "json", "-v"],
    env,
  );
  expect(r.stderr).not.toMatch(/ERROR/);
  expect(r.code).toBe(0);
  expect(await leftovers(ns)).toEqual([]);
  return JSON.parse(r.stdout) as Timeline;
}

describe("through a proxy", () => {
  it("uses the kubeconfig's proxy-url, even for a loopback server, before HTTPS_PROXY", async () => {
    const before = proxy.tunnels.length;
    const kubeconfig = await kubeconfigFor(`https://127.0.0.1:${port}`, proxy.url);
    // HTTPS_PROXY points nowhere: had it been used, the run would fail.
    const t = await traceThrough(kubeconfig, { HTTPS_PROXY: "http://127.0.0.1:1" });
    expect(t.verdict.outcome).toBe("ready");
    const tunnels = proxy.tunnels.slice(before);
    expect(tunnels.length).toBeGreaterThan(0);
    expect(new Set(tunnels)).toEqual(new Set([`127.0.0.1:${port}`]));
  });

  it("uses HTTPS_PROXY for a server that is not on loopback, and one connection for most of the run", async () => {
    const before = proxy.tunnels.length;
    const kubeconfig = await kubeconfigFor(`https://kubernetes.default.svc:${port}`);
    const t = await traceThrough(kubeconfig, { HTTPS_PROXY: proxy.url, NO_PROXY: "" });
    expect(t.verdict.outcome).toBe("ready");
    const tunnels = proxy.tunnels.slice(before);
    expect(new Set(tunnels)).toEqual(new Set([`kubernetes.default.svc:${port}`]));
    // One dispatcher for the run: a tunnel per connection, not per request (a run makes
    // more than a dozen requests and three watches).
    expect(tunnels.length).toBeLessThanOrEqual(4);
  });

  it.runIf(APISERVER_ON_LOOPBACK)("never sends a loopback server to HTTPS_PROXY", async () => {
    const before = proxy.tunnels.length;
    const t = await traceThrough(KUBECONFIG, { HTTPS_PROXY: proxy.url });
    expect(t.verdict.outcome).toBe("ready");
    expect(proxy.tunnels.slice(before)).toEqual([]);
  });
});
