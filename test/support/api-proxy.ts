/**
 * A plain-HTTP front for the real API server, on loopback, for tests that need to see or
 * steer the order of podtrace's requests: it forwards every request unchanged (streams
 * included) with the test kubeconfig's own credentials, logs each one with its arrival
 * time, and can hold a request back until the test lets it go. podtrace reaches it through
 * a kubeconfig of its own; the cluster behind it is the real one.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFile } from "node:fs/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { KUBECONFIG } from "./cluster.ts";

export interface ProxiedRequest {
  method: string;
  url: URL;
  /** performance.now() when the request reached the proxy. */
  arrivedAt: number;
  /** performance.now() when it was forwarded (later than arrivedAt when held). */
  forwardedAt: number | null;
  /** How many requests its connection carried before it: 0 for a new connection. */
  earlierOnConnection: number;
}

export interface ApiProxy {
  /** A kubeconfig that points podtrace at the proxy. */
  kubeconfig: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/** `hold` may return a promise: the request waits for it before it is forwarded. */
export async function startApiProxy(hold: (r: ProxiedRequest) => Promise<void> | null = () => null): Promise<ApiProxy> {
  const config = new KubeConfig();
  config.loadFromFile(KUBECONFIG);
  const upstream = new URL(config.getCurrentCluster()!.server);
  const tls: RequestOptions = {};
  await config.applyToHTTPSOptions(tls);
  const requests: ProxiedRequest[] = [];
  const open = new Set<ServerResponse>();

  const forward = (req: IncomingMessage, res: ServerResponse, entry: ProxiedRequest) => {
    entry.forwardedAt = performance.now();
    const headers = { ...req.headers, ...(tls.headers as Record<string, string> | undefined), host: upstream.host };
    const send = upstream.protocol === "https:" ? httpsRequest : httpRequest;
    const out = send(
      {
        ...tls,
        agent: undefined,
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: `${upstream.pathname.replace(/\/$/, "")}${req.url}`,
        headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // Watches stream: pass every chunk on as it comes.
        res.flushHeaders();
        answer.pipe(res);
      },
    );
    out.on("error", () => res.destroy());
    res.on("close", () => out.destroy());
    req.pipe(out);
  };

  const perConnection = new WeakMap<object, number>();
  const server = createServer((req, res) => {
    open.add(res);
    res.on("close", () => open.delete(res));
    const earlier = perConnection.get(req.socket) ?? 0;
    perConnection.set(req.socket, earlier + 1);
    const entry: ProxiedRequest = {
      method: req.method ?? "GET",
      url: new URL(req.url ?? "/", "http://proxy"),
      arrivedAt: performance.now(),
      forwardedAt: null,
      earlierOnConnection: earlier,
    };
    requests.push(entry);
    const gate = hold(entry);
    if (!gate) return forward(req, res, entry);
    req.pause();
    void gate.then(() => {
      if (!res.destroyed) forward(req, res, entry);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const kubeconfig = `/tmp/podtrace-api-proxy-${process.pid}-${port}.yaml`;
  await writeFile(
    kubeconfig,
    [
      "apiVersion: v1",
      "kind: Config",
      `clusters: [{name: proxy, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
      "users: [{name: proxy, user: {}}]",
      "contexts: [{name: proxy, context: {cluster: proxy, user: proxy}}]",
      "current-context: proxy",
      "",
    ].join("\n"),
  );
  return {
    kubeconfig,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A promise with its resolve function, and whether (and why) it was resolved. */
export function gate(): { promise: Promise<void>; open(why: string): void; openedBy: string | null } {
  let resolve: () => void = () => undefined;
  const g = {
    promise: new Promise<void>((r) => (resolve = r)),
    openedBy: null as string | null,
    open(why: string) {
      if (g.openedBy === null) g.openedBy = why;
      resolve();
    },
  };
  return g;
}
