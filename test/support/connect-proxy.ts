/**
 * An HTTP CONNECT proxy on loopback, as users behind a corporate proxy have one: it logs
 * every tunnel asked for and connects each to the test cluster's API server, whatever host
 * name was asked (so a name that only the proxy "resolves" never reaches a DNS server, and
 * nothing leaves this machine).
 */
import { createServer } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { writeFile } from "node:fs/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { KUBECONFIG } from "./cluster.ts";

export interface ConnectProxy {
  url: string;
  /** host:port of every CONNECT request, in order. */
  tunnels: string[];
  close(): Promise<void>;
}

export async function startConnectProxy(): Promise<ConnectProxy> {
  const config = new KubeConfig();
  config.loadFromFile(KUBECONFIG);
  const apiserver = new URL(config.getCurrentCluster()!.server);
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end("CONNECT only\n"));
  server.on("connect", (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? "");
    sockets.add(client);
    const upstream = connect(Number(apiserver.port || 443), apiserver.hostname, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    const done = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on("error", done);
    client.on("error", done);
    upstream.on("close", done);
    client.on("close", done);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A copy of the test kubeconfig whose cluster is reached as `server` (a name in the API
 * server's certificate, e.g. https://kubernetes.default.svc:6443), with an optional
 * proxy-url.
 */
export async function kubeconfigFor(server: string, proxyUrl?: string): Promise<string> {
  const config = new KubeConfig();
  config.loadFromFile(KUBECONFIG);
  const cluster = config.getCurrentCluster()!;
  const clusters = config.clusters.map((c) => (c.name === cluster.name ? { ...c, server, ...(proxyUrl ? { proxyUrl } : {}) } : c));
  config.loadFromOptions({ clusters, users: config.users, contexts: config.contexts, currentContext: config.currentContext });
  const path = `/tmp/podtrace-proxy-kubeconfig-${process.pid}-${written++}.yaml`;
  await writeFile(path, config.exportConfig());
  return path;
}

let written = 0;
