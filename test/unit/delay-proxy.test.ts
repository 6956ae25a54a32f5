/**
 * The latency proxy the end-to-end tests and the benchmark put between podtrace and the
 * apiserver, against an echo server on loopback: each direction gets the delay, bytes stay
 * in order, a half-close passes through, and closing the proxy cuts its connections.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { load as parse } from "js-yaml";
import { kubeconfigThrough, startDelayProxy, type DelayProxy } from "../support/delay-proxy.ts";

let echo: Server;
let echoPort = 0;
beforeAll(async () => {
  // Echoes everything back and answers a half-close with "bye" and its own close.
  echo = createServer({ allowHalfOpen: true }, (s) => {
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end("bye"));
  });
  await new Promise<void>((r) => echo.listen(0, "127.0.0.1", r));
  echoPort = (echo.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((r) => echo.close(() => r())));

function connectTo(proxy: DelayProxy): Promise<Socket> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port: proxy.port, allowHalfOpen: true }, () => resolve(s));
  });
}

function readUntil(s: Socket, expected: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= expected) {
        s.off("data", onData);
        resolve(Buffer.concat(chunks));
      }
    };
    s.on("data", onData);
  });
}

describe("delay proxy", () => {
  it("adds the delay to each direction of a round trip", async () => {
    const proxy = await startDelayProxy({ delayMs: 40, upstreamPort: echoPort });
    const s = await connectTo(proxy);
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      s.write("ping");
      expect((await readUntil(s, 4)).toString()).toBe("ping");
      // A lower bound only: timers never fire early.
      expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 40 - 1);
    }
    s.destroy();
    await proxy.close();
  });

  it("keeps the order of many writes and large ones", async () => {
    const proxy = await startDelayProxy({ delayMs: 5, upstreamPort: echoPort });
    const s = await connectTo(proxy);
    const parts = Array.from({ length: 200 }, (_, i) => Buffer.alloc(1 + ((i * 7919) % 70_000), i % 251));
    const total = parts.reduce((n, p) => n + p.length, 0);
    const received = readUntil(s, total);
    for (const p of parts) s.write(p);
    expect((await received).equals(Buffer.concat(parts))).toBe(true);
    s.destroy();
    await proxy.close();
  });

  it("passes a half-close through and the peer's answer back", async () => {
    const proxy = await startDelayProxy({ delayMs: 5, upstreamPort: echoPort });
    const s = await connectTo(proxy);
    const ended = new Promise<string>((resolve) => {
      let text = "";
      s.on("data", (d: Buffer) => (text += d.toString()));
      s.on("end", () => resolve(text));
    });
    s.end("last");
    expect(await ended).toBe("lastbye");
    await proxy.close();
  });

  it("cuts open connections when closed", async () => {
    const proxy = await startDelayProxy({ delayMs: 5, upstreamPort: echoPort });
    const s = await connectTo(proxy);
    // The proxy closes its side: the client reads the end of the stream.
    const closed = new Promise<void>((r) => s.on("end", () => r()));
    s.on("error", () => {});
    // The proxy accepts asynchronously: close once it has the connection.
    while (proxy.connections() === 0) await new Promise((r) => setTimeout(r, 5));
    await proxy.close();
    await closed;
    expect(proxy.connections()).toBe(1);
  });

  it("refuses a delay that is not whole milliseconds", () => {
    expect(() => startDelayProxy({ delayMs: 2.5 })).toThrow(/whole milliseconds/);
  });
});

describe("kubeconfigThrough", () => {
  const dir = mkdtempSync(`${tmpdir()}/delay-proxy-`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (server: string) => {
    const file = `${dir}/in-${Math.random()}`;
    writeFileSync(
      file,
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: local",
        "clusters:",
        "  - name: other",
        "    cluster: { server: 'https://10.0.0.1:6443' }",
        "  - name: local",
        `    cluster: { server: '${server}', certificate-authority-data: Q0E= }`,
        "contexts:",
        "  - name: local",
        "    context: { cluster: local, user: admin }",
        "users:",
        "  - name: admin",
        "    user: { token: abc }",
      ].join("\n"),
    );
    return file;
  };

  it("points the current context's cluster at the proxy and keeps the rest", () => {
    const out = `${dir}/out`;
    kubeconfigThrough(write("https://127.0.0.1:6443"), 6444, out);
    const config = parse(readFileSync(out, "utf8")) as { clusters: { name: string; cluster: Record<string, string> }[]; users: unknown };
    expect(config.clusters.find((c) => c.name === "local")!.cluster).toEqual({
      server: "https://127.0.0.1:6444",
      "certificate-authority-data": "Q0E=",
    });
    expect(config.clusters.find((c) => c.name === "other")!.cluster["server"]).toBe("https://10.0.0.1:6443");
    expect(config.users).toEqual([{ name: "admin", user: { token: "abc" } }]);
  });

  it("refuses a cluster that is not on this host's loopback", () => {
    expect(() => kubeconfigThrough(write("https://192.0.2.1:6443"), 6444, `${dir}/out2`)).toThrow(/not on this host's loopback/);
  });
});
