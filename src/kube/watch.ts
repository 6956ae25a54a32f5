/**
 * A watch that survives: a closed stream resumes from the last resourceVersion, a silent
 * stream is cut by an inactivity watchdog and resumed, 410 Gone relists and resumes from
 * the list. Errors are values in the stream, never exceptions, so the caller decides.
 *
 * Every stream asks the server to close it after `serverTimeoutSeconds` (timeoutSeconds),
 * so a healthy stream shows life at least that often; silence beyond that plus a grace
 * period means the connection is dead (a half-open TCP connection, a stalled proxy).
 */
import { clientNow } from "./clock.ts";
import type { RawObject } from "../core/observation.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export type WatchItem =
  | { type: "event"; event: WatchEventType; object: RawObject; arrivedAt: number }
  /** The complete current state after a list: the initial one, or after 410 Gone. */
  | { type: "sync"; objects: RawObject[]; arrivedAt: number; initial: boolean }
  | { type: "status"; status: "connected" | "closed" | "stalled" | "gone" | "error"; detail: string; arrivedAt: number };

/** What a watch needs from the API client; small so reconnect logic is testable alone. */
export interface WatchTransport {
  list(path: string, signal: AbortSignal): Promise<{ status: number; body: RawObject }>;
  open(path: string, signal: AbortSignal): Promise<{ status: number; body: AsyncIterable<Uint8Array> | null; text(): Promise<string> }>;
}

export interface WatchOptions {
  transport: WatchTransport;
  /** Collection path, e.g. /api/v1/namespaces/default/pods. */
  path: string;
  /** Selectors and other list options. */
  params?: Record<string, string>;
  signal: AbortSignal;
  serverTimeoutSeconds?: number;
  /** Cut a stream silent for this long; defaults to the server timeout plus 15 s. */
  inactivityMs?: number;
  /** Waits between failed attempts; injected so tests do not sleep. */
  delay?: (ms: number, signal: AbortSignal) => Promise<void>;
  clock?: () => number;
  /**
   * Start from this resourceVersion instead of listing: for a caller that took it from a
   * list made before anything it cares about existed (its objects are created after that
   * list), so nothing is missed and a busy namespace's thousands of Events are never
   * fetched; or "0" ("any"), where the stream begins with the state as it is (each
   * matching object as ADDED) and goes on with every change, for a selection small enough
   * to have its state sent. Relists after 410 Gone are full, as always.
   */
  resourceVersion?: string;
  /** Backoff bounds for failed connections. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export async function* watch(options: WatchOptions): AsyncGenerator<WatchItem> {
  const clock = options.clock ?? clientNow;
  const delay = options.delay ?? sleep;
  const serverTimeout = options.serverTimeoutSeconds ?? 60;
  const inactivityMs = options.inactivityMs ?? serverTimeout * 1000 + 15_000;
  const minBackoff = options.minBackoffMs ?? 200;
  const maxBackoff = options.maxBackoffMs ?? 5_000;
  const { signal } = options;
  let backoff = minBackoff;
  let resourceVersion: string | null = options.resourceVersion ?? null;
  let initial = resourceVersion === null;

  while (!signal.aborted) {
    if (resourceVersion === null) {
      // List: the current state and the resourceVersion to watch from.
      let listed: { status: number; body: RawObject };
      try {
        listed = await options.transport.list(withQuery(options.path, options.params ?? {}), signal);
      } catch (err) {
        if (signal.aborted) return;
        yield { type: "status", status: "error", detail: `list failed: ${describe(err)}`, arrivedAt: clock() };
        await delay(backoff, signal).catch(() => undefined);
        backoff = Math.min(backoff * 2, maxBackoff);
        continue;
      }
      if (listed.status !== 200) {
        yield { type: "status", status: "error", detail: `list failed: HTTP ${listed.status} ${message(listed.body)}`, arrivedAt: clock() };
        await delay(backoff, signal).catch(() => undefined);
        backoff = Math.min(backoff * 2, maxBackoff);
        continue;
      }
      const metadata = (listed.body["metadata"] ?? {}) as RawObject;
      resourceVersion = typeof metadata["resourceVersion"] === "string" ? metadata["resourceVersion"] : "";
      const items = Array.isArray(listed.body["items"]) ? (listed.body["items"] as RawObject[]) : [];
      yield { type: "sync", objects: items, arrivedAt: clock(), initial };
      initial = false;
    }

    const params: Record<string, string> = {
      ...(options.params ?? {}),
      watch: "true",
      allowWatchBookmarks: "true",
      timeoutSeconds: String(serverTimeout),
      ...(resourceVersion ? { resourceVersion } : {}),
    };
    const stream = new AbortController();
    const onAbort = () => stream.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    let stalled = false;
    // The watchdog looks at the time of the last chunk a few times per period rather than
    // being re-armed for every chunk: a busy stream brings hundreds of chunks a second.
    let lastChunkAt = clock();
    const feed = () => {
      lastChunkAt = clock();
    };
    const watchdog = setInterval(
      () => {
        if (clock() - lastChunkAt < inactivityMs) return;
        stalled = true;
        stream.abort();
      },
      Math.max(1, Math.floor(inactivityMs / 4)),
    );
    watchdog.unref?.();
    try {
      const response = await options.transport.open(withQuery(options.path, params), stream.signal);
      if (response.status === 410) {
        resourceVersion = null;
        yield { type: "status", status: "gone", detail: "410 Gone: resourceVersion too old, relisting", arrivedAt: clock() };
        continue;
      }
      if (response.status !== 200 || !response.body) {
        const text = await response.text().catch(() => "");
        throw new Error(`HTTP ${response.status} ${text.slice(0, 200)}`.trim());
      }
      yield { type: "status", status: "connected", detail: `from resourceVersion ${resourceVersion || "(latest)"}`, arrivedAt: clock() };
      backoff = minBackoff;
      let gone = false;
      for await (const line of lines(response.body, feed)) {
        const arrivedAt = clock();
        let parsed: RawObject;
        try {
          parsed = JSON.parse(line) as RawObject;
        } catch {
          continue;
        }
        const type = parsed["type"];
        const object = (parsed["object"] ?? {}) as RawObject;
        const rv = ((object["metadata"] ?? {}) as RawObject)["resourceVersion"];
        if (type === "ERROR") {
          if (object["code"] === 410) {
            gone = true;
            break;
          }
          yield { type: "status", status: "error", detail: `watch error: ${message(object)}`, arrivedAt };
          continue;
        }
        if (typeof rv === "string" && rv) resourceVersion = rv;
        if (type === "BOOKMARK") continue;
        if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") {
          yield { type: "event", event: type, object, arrivedAt };
        }
      }
      if (gone) {
        resourceVersion = null;
        yield { type: "status", status: "gone", detail: "410 Gone: resourceVersion too old, relisting", arrivedAt: clock() };
        continue;
      }
      if (signal.aborted) return;
      yield { type: "status", status: "closed", detail: "stream closed by the server; resuming", arrivedAt: clock() };
    } catch (err) {
      if (signal.aborted) return;
      if (stalled) {
        yield { type: "status", status: "stalled", detail: `no data for ${inactivityMs} ms; reconnecting`, arrivedAt: clock() };
        continue;
      }
      yield { type: "status", status: "error", detail: `watch failed: ${describe(err)}; retrying in ${backoff} ms`, arrivedAt: clock() };
      await delay(backoff, signal).catch(() => undefined);
      backoff = Math.min(backoff * 2, maxBackoff);
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener("abort", onAbort);
      stream.abort();
    }
  }
}

/** Split a byte stream into lines, feeding the watchdog on every chunk. */
async function* lines(body: AsyncIterable<Uint8Array>, onChunk: () => void): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of body) {
    onChunk();
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) yield line;
    }
  }
  const rest = (buffered + decoder.decode()).trim();
  if (rest) yield rest;
}

export function withQuery(path: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString();
  return query ? `${path}?${query}` : path;
}

function message(status: RawObject): string {
  return typeof status["message"] === "string" ? status["message"] : JSON.stringify(status).slice(0, 200);
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return [e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(": ") || String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
