/**
 * A TCP proxy on loopback that adds latency: every byte is forwarded the configured delay
 * after it arrived, in each direction, so a client of the local apiserver sees it as a
 * remote cluster (a round trip costs 2 x delay more; a TLS handshake one more round trip).
 * It only moves bytes: TLS stays end to end between the client and the apiserver, whose
 * certificate covers 127.0.0.1, so a kubeconfig only needs its server address changed
 * (kubeconfigThrough).
 *
 * In a test or the benchmark: `const proxy = await startDelayProxy({ delayMs: 25 })`, then
 * `kubeconfigThrough(KUBECONFIG, proxy.port, file)` and `await proxy.close()`. As a daemon:
 * hack/api-latency.sh up|down, which runs this file:
 *
 *   node test/support/delay-proxy.ts --listen 127.0.0.1:6444 --upstream 127.0.0.1:6443 --delay-ms 25 \
 *     [--kubeconfig IN --kubeconfig-out OUT]
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { dump as stringify, load as parse } from "js-yaml";

export interface DelayProxyOptions {
  /** Added to each direction, ms (whole milliseconds: timers are). */
  delayMs: number;
  upstreamHost?: string;
  upstreamPort?: number;
  /** 0 (the default) picks a free port. */
  listenPort?: number;
}

export interface DelayProxy {
  port: number;
  delayMs: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Stops listening and cuts every open connection. */
  close(): Promise<void>;
}

/**
 * Forwards `from` to `to`, each chunk `delayMs` after it arrived. Timers of one duration
 * fire in the order they were set, so order is kept; an end or an error is passed on after
 * the data before it. Reading pauses while `to` has more than its buffer's worth queued.
 */
function forwardDelayed(from: Socket, to: Socket, delayMs: number): void {
  let queued = 0;
  from.on("data", (chunk: Buffer) => {
    queued += chunk.length;
    if (queued > to.writableHighWaterMark) from.pause();
    setTimeout(() => {
      queued -= chunk.length;
      if (!to.destroyed) to.write(chunk);
      if (queued <= to.writableHighWaterMark && to.writableLength <= to.writableHighWaterMark) from.resume();
    }, delayMs);
  });
  to.on("drain", () => {
    if (queued <= to.writableHighWaterMark) from.resume();
  });
  from.on("end", () => setTimeout(() => to.end(), delayMs));
  from.on("close", (hadError) => {
    if (hadError) setTimeout(() => to.destroy(), delayMs);
  });
  // A reset by one side becomes a close of the other; the error itself is the peer's business.
  from.on("error", () => {});
}

export function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const { delayMs, upstreamHost = "127.0.0.1", upstreamPort = 6443, listenPort = 0 } = options;
  if (!Number.isInteger(delayMs) || delayMs < 0) throw new Error(`delay must be whole milliseconds >= 0, got ${delayMs}`);
  const open = new Set<Socket>();
  let accepted = 0;
  let closing = false;
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    accepted++;
    if (closing) return client.destroy();
    const upstream = connect({ host: upstreamHost, port: upstreamPort, allowHalfOpen: true, noDelay: true });
    for (const s of [client, upstream]) {
      open.add(s);
      s.on("close", () => open.delete(s));
    }
    forwardDelayed(client, upstream, delayMs);
    forwardDelayed(upstream, client, delayMs);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(listenPort, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") return reject(new Error("no TCP address"));
      resolve({
        port: address.port,
        delayMs,
        connections: () => accepted,
        close: () =>
          new Promise<void>((done) => {
            closing = true;
            server.close(() => done());
            for (const s of open) s.destroy();
          }),
      });
    });
  });
}

/** Writes a copy of a kubeconfig whose current cluster is reached through 127.0.0.1:port. */
export function kubeconfigThrough(kubeconfig: string, port: number, out: string): void {
  const config = parse(readFileSync(kubeconfig, "utf8")) as {
    "current-context"?: string;
    contexts?: { name: string; context: { cluster: string } }[];
    clusters?: { name: string; cluster: { server: string } }[];
  };
  const context = config.contexts?.find((c) => c.name === config["current-context"]);
  const cluster = config.clusters?.find((c) => c.name === context?.context.cluster);
  if (!cluster) throw new Error(`${kubeconfig}: no cluster for the current context`);
  const server = new URL(cluster.cluster.server);
  if (server.hostname !== "127.0.0.1" && server.hostname !== "localhost") {
    // The proxy listens on loopback and forwards to loopback only.
    throw new Error(`${kubeconfig}: the cluster is at ${server.host}, not on this host's loopback`);
  }
  server.hostname = "127.0.0.1";
  server.port = String(port);
  cluster.cluster.server = server.toString().replace(/\/$/, "");
  writeFileSync(out, stringify(config), { mode: 0o600 });
}

// --- as a daemon ----------------------------------------------------------------------------

function hostPort(value: string, flag: string): { host: string; port: number } {
  const m = /^(127\.\d+\.\d+\.\d+|localhost):(\d+)$/.exec(value);
  if (!m) throw new Error(`${flag} must be a loopback HOST:PORT, got ${value}`);
  return { host: m[1]!, port: Number(m[2]) };
}

async function main(argv: string[]): Promise<void> {
  const args = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) args.set(argv[i]!, argv[i + 1] ?? "");
  const listen = hostPort(args.get("--listen") ?? "127.0.0.1:6444", "--listen");
  const upstream = hostPort(args.get("--upstream") ?? "127.0.0.1:6443", "--upstream");
  const delayMs = Number(args.get("--delay-ms") ?? 25);
  const kubeconfig = args.get("--kubeconfig");
  const out = args.get("--kubeconfig-out");
  // Before listening: whoever sees the port open finds the kubeconfig in place.
  if (kubeconfig && out) kubeconfigThrough(kubeconfig, listen.port, out);
  const proxy = await startDelayProxy({ delayMs, upstreamHost: upstream.host, upstreamPort: upstream.port, listenPort: listen.port });
  process.stdout.write(
    `delay-proxy: 127.0.0.1:${proxy.port} -> ${upstream.host}:${upstream.port}, +${delayMs} ms each way${out ? `; kubeconfig ${out}` : ""}\n`,
  );
  const stop = () => void proxy.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`delay-proxy: ${(e as Error).message}\n`);
    process.exit(2);
  });
}
