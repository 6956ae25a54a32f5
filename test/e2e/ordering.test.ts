/**
 * The order of a run's requests, on the real cluster, seen through a loopback front that
 * holds some of them back: the create request must not wait for the watches to connect
 * nor for any list (one pod's watches start from "any" resourceVersion, whose first events
 * are the state as it is, so nothing is missed), and the result must be printed before the
 * cleanup's deletions, with the exit waiting for them. Each
 * hold is released by the event the rule says must come first; had podtrace waited for the
 * held request instead, the hold would be released by its safety timeout and the test
 * fails on who released it, not on a duration.
 */
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Timeline } from "../../src/core/timeline.ts";
import type { Observation } from "../../src/core/observation.ts";
import { parseRecording } from "../../src/trace/recording.ts";
import { allPlaced } from "../../src/trace/final-read.ts";
import { gate, startApiProxy, type ApiProxy } from "../support/api-proxy.ts";
import { start } from "../support/cli.ts";
import { createNamespace, deleteNamespace, leftovers } from "../support/cluster.ts";

let ns = "";
let proxy: ApiProxy | undefined;
beforeAll(async () => {
  ns = await createNamespace("ordering-e2e");
});
afterAll(async () => {
  await proxy?.close();
  if (ns) await deleteNamespace(ns);
});

/** Long enough never to be what releases a hold on a healthy run. */
const SAFETY_MS = 30_000;

describe("request order", () => {
  it("creates the pod before its watches connect, prints before cleaning up, and exits after", async () => {
    const watchesHeld = gate();
    const deletesHeld = gate();
    const isCreate = (method: string, url: URL) => method === "POST" && url.pathname === `/api/v1/namespaces/${ns}/pods`;
    proxy = await startApiProxy((r) => {
      if (isCreate(r.method, r.url)) watchesHeld.open("create");
      if (r.url.searchParams.get("watch") === "true") return watchesHeld.promise;
      if (r.method === "DELETE") return deletesHeld.promise;
      return null;
    });
    const safety = setTimeout(() => {
      watchesHeld.open("timeout");
      deletesHeld.open("timeout");
    }, SAFETY_MS);

    const recording = `/tmp/podtrace-ordering-${process.pid}.ndjson`;
    const run = start([
      "run",
      "test/fixtures/manifests/one-container.yaml",
      "-n",
      ns,
      "--kubeconfig",
      proxy.kubeconfig,
      "-o",
      "json",
      "--record",
      recording,
      "--timeout",
      "90s",
    ]);
    let printedAt: number | null = null;
    let exitedBeforeDeletes: boolean | null = null;
    run.child.stdout!.once("data", () => {
      printedAt = performance.now();
      // The result is out while every deletion is still held: the process must still be running.
      exitedBeforeDeletes = run.child.exitCode !== null;
      deletesHeld.open("printed");
    });
    const r = await run.done;
    clearTimeout(safety);

    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.stdout) as Timeline;
    expect(t.verdict.outcome).toBe("ready");
    for (const p of t.phases) expect(["done", "not-applicable"], p.id).toContain(p.status);

    // The create reached the API server while every watch was held back, and before any
    // list: it waited for no answer.
    expect(watchesHeld.openedBy).toBe("create");
    const requests = proxy.requests;
    const create = requests.find((q) => isCreate(q.method, q.url))!;
    const isList = (q: (typeof requests)[number]) =>
      q.method === "GET" && q.url.pathname.startsWith("/api") && q.url.searchParams.get("watch") === null;
    const firstList = requests.find(isList);
    if (firstList) expect(firstList.arrivedAt).toBeGreaterThan(create.arrivedAt);
    const watches = requests.filter((q) => q.url.searchParams.get("watch") === "true");
    expect(watches.map((q) => q.url.pathname).sort()).toEqual(
      [`/api/v1/namespaces/${ns}/events`, `/api/v1/namespaces/${ns}/pods`, `/apis/events.k8s.io/v1/namespaces/${ns}/events`].sort(),
    );
    for (const w of watches) {
      expect(w.forwardedAt!).toBeGreaterThan(create.arrivedAt);
      // Each watch starts from "any" resourceVersion: the state as it is, then every change.
      expect(w.url.searchParams.get("resourceVersion")).toBe("0");
    }

    // Nothing was missed: the watches, connected after the create, still delivered the pod's
    // whole start, from its creation on.
    const { observations } = parseRecording(await readFile(recording, "utf8"), recording);
    const upToEnd = observations.slice(0, observations.findIndex((o) => o.kind === "end") + 1);
    const seen = (resource: string, test: (o: Extract<Observation, { kind: "watch" }>) => boolean) =>
      upToEnd.some((o) => o.kind === "watch" && o.resource === resource && o.type !== "SYNC" && test(o));
    expect(seen("pods", (o) => o.type === "ADDED")).toBe(true);
    for (const reason of ["Scheduled", "Pulled", "Created", "Started"]) {
      expect(
        seen("events", (o) => o.object["reason"] === reason) || seen("events.k8s.io", (o) => o.object["reason"] === reason),
        reason,
      ).toBe(true);
    }

    // Printed while the deletions were held, exited only after them, and nothing is left.
    expect(deletesHeld.openedBy).toBe("printed");
    expect(exitedBeforeDeletes).toBe(false);
    expect(requests.some((q) => q.method === "DELETE")).toBe(true);
    expect(await leftovers(ns)).toEqual([]);

    // The final read of Events comes after the result when the phases were all placed by
    // then, and before it otherwise.
    const finalRead = requests.find(
      (q) =>
        q.method === "GET" &&
        q.url.pathname === `/api/v1/namespaces/${ns}/events` &&
        q.url.searchParams.get("watch") === null &&
        q.url.searchParams.get("limit") === null,
    )!;
    expect(finalRead).toBeDefined();
    if (allPlaced(upToEnd)) expect(finalRead.arrivedAt).toBeGreaterThan(printedAt!);
    else expect(finalRead.arrivedAt).toBeLessThan(printedAt!);
    // Either way the recording goes on to the end of the run: the deletion is in it.
    expect(observations.some((o) => o.kind === "watch" && o.resource === "pods" && o.type === "DELETED")).toBe(true);
  });
});
