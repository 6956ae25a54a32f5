/**
 * The watch's reconnect machinery against a small local HTTP server that misbehaves on
 * purpose: it closes streams, goes silent, answers 410 Gone both as a watch event and as
 * an HTTP status. The watch must resume from the last resourceVersion it saw, relist after
 * 410, and say what happened as status items.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fetch } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { watch, type WatchItem, type WatchTransport } from "../../src/kube/watch.ts";

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

async function serve(handlers: Handler[]): Promise<{ base: string; requests: URL[]; close: () => Promise<void> }> {
  const requests: URL[] = [];
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    requests.push(url);
    open.add(res);
    res.on("close", () => open.delete(res));
    const handler = handlers[requests.length - 1];
    if (!handler) {
      res.writeHead(500).end();
      return;
    }
    handler(req, res, url);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.close(() => resolve());
      }),
  };
}

function transport(base: string): WatchTransport {
  return {
    list: async (path, signal) => {
      const r = await fetch(`${base}${path}`, { signal });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
    open: async (path, signal) => {
      const r = await fetch(`${base}${path}`, { signal });
      return { status: r.status, body: r.body as ReadableStream<Uint8Array> | null, text: () => r.text() };
    },
  };
}

const list =
  (rv: string, names: string[]): Handler =>
  (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({ metadata: { resourceVersion: rv }, items: names.map((name) => ({ metadata: { name, resourceVersion: rv } })) }),
    );
  };
const line = (type: string, name: string, rv: string) =>
  `${JSON.stringify({ type, object: { metadata: { name, resourceVersion: rv } } })}\n`;

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function collect(
  stream: AsyncGenerator<WatchItem>,
  until: (items: WatchItem[]) => boolean,
  abort: AbortController,
): Promise<WatchItem[]> {
  const items: WatchItem[] = [];
  for await (const item of stream) {
    items.push(item);
    if (until(items)) {
      abort.abort();
      break;
    }
  }
  return items;
}

describe("watch", () => {
  it("resumes from the last resourceVersion after a close, a stall and 410 Gone", async () => {
    const server = await serve([
      list("10", ["a"]),
      // Watch 1: one event, then the server closes the stream.
      (_req, res) => {
        res.writeHead(200);
        res.end(line("ADDED", "b", "11"));
      },
      // Watch 2: one event and a bookmark, then silence: the watchdog must cut it.
      (_req, res) => {
        res.writeHead(200);
        res.write(line("MODIFIED", "b", "12"));
        res.write(`${JSON.stringify({ type: "BOOKMARK", object: { metadata: { resourceVersion: "13" } } })}\n`);
      },
      // Watch 3: 410 Gone as a watch event.
      (_req, res) => {
        res.writeHead(200);
        res.end(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, message: "too old resource version" } })}\n`);
      },
      list("20", ["a", "b"]),
      // Watch 4: 410 Gone as an HTTP status.
      (_req, res) => {
        res.writeHead(410, { "content-type": "application/json" });
        res.end(JSON.stringify({ kind: "Status", code: 410 }));
      },
      list("30", ["b"]),
      // Watch 5: healthy; split one event across two writes to test line reassembly.
      (_req, res) => {
        res.writeHead(200);
        const l = line("DELETED", "b", "31");
        res.write(l.slice(0, 10));
        setTimeout(() => res.write(l.slice(10)), 20);
      },
    ]);
    cleanup = server.close;
    const abort = new AbortController();
    const items = await collect(
      watch({
        transport: transport(server.base),
        path: "/api/v1/pods",
        params: { fieldSelector: "metadata.name=b" },
        signal: abort.signal,
        inactivityMs: 300,
        delay: async () => undefined,
      }),
      (all) => all.some((i) => i.type === "event" && i.event === "DELETED"),
      abort,
    );

    const summary = items.map((i) =>
      i.type === "event"
        ? `${i.event} ${String((i.object["metadata"] as { name: string }).name)}`
        : i.type === "sync"
          ? `sync ${i.objects.length}`
          : i.status,
    );
    expect(summary).toEqual([
      "sync 1",
      "connected",
      "ADDED b",
      "closed",
      "connected",
      "MODIFIED b",
      "stalled",
      "connected",
      "gone",
      "sync 2",
      "gone",
      "sync 1",
      "connected",
      "DELETED b",
    ]);
    const watchVersions = server.requests
      .filter((u) => u.searchParams.get("watch") === "true")
      .map((u) => u.searchParams.get("resourceVersion"));
    // After the bookmark the watch resumes from 13, not from its last object's 12.
    expect(watchVersions).toEqual(["10", "11", "13", "20", "30"]);
    for (const u of server.requests) expect(u.searchParams.get("fieldSelector")).toBe("metadata.name=b");
    expect(
      server.requests
        .filter((u) => u.searchParams.get("watch") === "true")
        .every((u) => u.searchParams.get("allowWatchBookmarks") === "true"),
    ).toBe(true);
  });

  it("starts from the caller's resourceVersion without listing, and relists in full after 410", async () => {
    const server = await serve([
      (_req, res) => {
        res.writeHead(410, { "content-type": "application/json" });
        res.end(JSON.stringify({ kind: "Status", code: 410 }));
      },
      list("9", ["old-1", "new"]),
      (_req, res) => {
        res.writeHead(200);
        res.write(line("ADDED", "x", "10"));
      },
    ]);
    cleanup = server.close;
    const abort = new AbortController();
    const items = await collect(
      watch({
        transport: transport(server.base),
        path: "/api/v1/events",
        signal: abort.signal,
        resourceVersion: "7",
        delay: async () => undefined,
      }),
      (all) => all.some((i) => i.type === "event"),
      abort,
    );
    // No initial list: the first request is the watch from the given resourceVersion.
    expect(server.requests[0]!.searchParams.get("watch")).toBe("true");
    expect(server.requests[0]!.searchParams.get("resourceVersion")).toBe("7");
    const syncs = items.filter((i) => i.type === "sync");
    expect(syncs.map((i) => (i.type === "sync" ? [i.objects.length, i.initial] : null))).toEqual([[2, false]]);
    expect(server.requests[2]!.searchParams.get("resourceVersion")).toBe("9");
  });

  it("retries with growing back-off while the server refuses, and reports each failure", async () => {
    const server = await serve([
      list("5", []),
      (_req, res) => res.writeHead(500).end("etcd unavailable"),
      (_req, res) => res.writeHead(503).end("apiserver shutting down"),
      (_req, res) => {
        res.writeHead(200);
        res.write(line("ADDED", "x", "6"));
      },
    ]);
    cleanup = server.close;
    const abort = new AbortController();
    const delays: number[] = [];
    const items = await collect(
      watch({
        transport: transport(server.base),
        path: "/api/v1/pods",
        signal: abort.signal,
        minBackoffMs: 100,
        delay: async (ms) => {
          delays.push(ms);
        },
      }),
      (all) => all.some((i) => i.type === "event"),
      abort,
    );
    expect(items.filter((i) => i.type === "status" && i.status === "error")).toHaveLength(2);
    expect(delays).toEqual([100, 200]);
    expect(server.requests.filter((u) => u.searchParams.get("watch") === "true").map((u) => u.searchParams.get("resourceVersion"))).toEqual(
      ["5", "5", "5"],
    );
  });

  it("ends quietly when aborted while connected (a hang here fails by the test timeout)", async () => {
    const server = await serve([
      list("1", []),
      (_req, res) => {
        res.writeHead(200);
        res.write(line("ADDED", "x", "2"));
      },
    ]);
    cleanup = server.close;
    const abort = new AbortController();
    const items: WatchItem[] = [];
    for await (const item of watch({ transport: transport(server.base), path: "/p", signal: abort.signal })) {
      items.push(item);
      if (item.type === "event") setTimeout(() => abort.abort(), 10);
    }
    expect(items.at(-1)?.type).toBe("event");
  });
});
