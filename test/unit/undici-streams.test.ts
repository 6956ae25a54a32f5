/**
 * The bundle's undici (build/undici.cjs) opens every stream queued while its connection was
 * being made at once, without waiting for the server's SETTINGS (RFC 9113 allows it): a
 * run's lists, sent together before the create, then take one round trip, not two. Against
 * an HTTP/2 server on loopback behind the latency proxy, the server sees every request
 * before the client's acknowledgement of its SETTINGS, which the client sends once they
 * arrived: an order, not a duration.
 */
import { createRequire } from "node:module";
import { createServer, type Http2Server } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type * as Undici from "undici";
import { startDelayProxy, type DelayProxy } from "../support/delay-proxy.ts";

const { Agent } = createRequire(import.meta.url)("../../build/undici.cjs") as typeof Undici;

let server: Http2Server;
let proxy: DelayProxy;
/** What the server saw, in order: "stream /path" and "settings acknowledged". */
const seen: string[] = [];
/** Once the client acknowledged the server's SETTINGS (it may be after its last response). */
let acknowledged: Promise<void>;
beforeAll(async () => {
  server = createServer();
  acknowledged = new Promise((resolve) =>
    server.once("session", (session) =>
      session.once("localSettings", () => {
        seen.push("settings acknowledged");
        resolve();
      }),
    ),
  );
  server.on("stream", (stream, headers) => {
    seen.push(`stream ${String(headers[":path"])}`);
    stream.respond({ ":status": 200 });
    stream.end("ok");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  // Long enough that the client's requests and its acknowledgement cannot arrive in either
  // order by chance: they are a round trip apart.
  proxy = await startDelayProxy({ delayMs: 30, upstreamPort: (server.address() as { port: number }).port });
});
afterAll(async () => {
  await proxy.close();
  await new Promise<void>((r) => server.close(() => r()));
});

describe("the bundle's undici over HTTP/2", () => {
  it("sends the requests queued while connecting without waiting for the server's SETTINGS", async () => {
    // h2c: the same HTTP/2 client as over TLS, without a certificate to make.
    const agent = new Agent({ useH2c: true } as Undici.Agent.Options);
    const origin = `http://127.0.0.1:${proxy.port}`;
    const get = async (path: string) => (await agent.request({ origin, path, method: "GET" })).body.text();
    const first = get("/version");
    const rest = ["/pods", "/events", "/services"].map(get);
    expect(await Promise.all([first, ...rest])).toEqual(["ok", "ok", "ok", "ok"]);
    await acknowledged;
    await agent.close();
    const ack = seen.indexOf("settings acknowledged");
    expect(seen.slice(0, ack).sort()).toEqual(["stream /events", "stream /pods", "stream /services", "stream /version"]);
  });
});
