/**
 * One pod's spans out of everything the collector kept, on a real run
 * (test/fixtures/spans/startup-chain: an init container, a native sidecar, a pulled image,
 * an exec postStart hook sleeping 2 s, a startupProbe), checked against what podtrace
 * recorded of the same run. Client and server share one clock on the local cluster, so
 * the recording's client-side times bound the apiserver's spans.
 */
import { describe, expect, it } from "vitest";
import type { CreateObservation, WatchObservation } from "../../src/core/observation.ts";
import { containerSteps, eventNameTimeMs, podSpans } from "../support/pod-spans.ts";
import { loadSpanFixture } from "../support/span-fixtures.ts";

const f = loadSpanFixture("startup-chain");
const p = podSpans(f.spans, f.pod);
const methods = (name: string) => p.cri.filter((c) => c.method === name);

describe("podSpans", () => {
  it("finds the pod's syncs, the first one creating it", () => {
    expect(p.syncs.length).toBeGreaterThanOrEqual(4);
    expect(p.syncs[0]!.name).toBe("syncPod");
    expect(p.syncs[0]!.attributes["k8s.pod.update_type"]).toBe("create");
    for (const s of p.syncs) expect(s.attributes["k8s.pod.name"]).toBe(f.pod.name);
  });

  it("finds the CRI calls made in them, in the kubelet's order", () => {
    expect(methods("RunPodSandbox")).toHaveLength(1);
    expect(methods("PullImage")).toHaveLength(1); // only app pulls (imagePullPolicy Always)
    expect(methods("CreateContainer")).toHaveLength(3);
    expect(methods("StartContainer")).toHaveLength(3);
    expect(methods("RunPodSandbox")[0]!.sync).toBe(p.syncs[0]);
    const order = p.cri.map((c) => c.method).filter((m) => ["RunPodSandbox", "CreateContainer", "StartContainer"].includes(m));
    expect(order).toEqual(["RunPodSandbox", ...Array(3).fill(["CreateContainer", "StartContainer"]).flat()]);
    for (const c of p.cri) {
      expect(c.span.startMs).toBeGreaterThanOrEqual(c.sync.startMs);
      expect(c.span.endMs).toBeLessThanOrEqual(c.sync.endMs);
    }
  });

  it("returns nothing for a pod that is not there", () => {
    const other = podSpans(f.spans, { ...f.pod, uid: "00000000-0000-0000-0000-000000000000", name: "absent" });
    expect(other.syncs).toEqual([]);
    expect(other.cri).toEqual([]);
    expect(other.statusWrites).toEqual([]);
    expect(other.eventWrites).toEqual([]);
    expect(other.create).toBeNull();
  });

  it("finds the apiserver's handling of the create request inside the client's round trip", () => {
    const create = f.recording.observations.find((o): o is CreateObservation => o.kind === "create" && o.resource === "pods")!;
    const c = p.create!;
    expect(c.storage?.attributes["key"]).toBe(`/pods/${f.pod.namespace}/${f.pod.name}`);
    expect(c.request.attributes["http.status_code"]).toBe(201);
    expect(c.auditId).toMatch(/^[0-9a-f-]{36}$/);
    expect(c.receivedMs).toBeGreaterThanOrEqual(create.sentAt);
    expect(c.respondedMs).toBeLessThanOrEqual(create.receivedAt);
    expect(c.admission!.startMs).toBeGreaterThanOrEqual(c.handler.startMs);
    expect(c.admission!.endMs).toBeGreaterThanOrEqual(c.admission!.startMs);
    expect(c.admission!.endMs).toBeLessThanOrEqual(c.handler.endMs);
    expect(c.webhooks).toEqual([]);
  });

  it("finds each status write with the apiserver's storage write, which the pods watch then delivered", () => {
    expect(p.statusWrites.length).toBeGreaterThanOrEqual(5);
    const arrivals = f.recording.observations
      .filter((o): o is WatchObservation => o.kind === "watch" && o.resource === "pods" && o.type === "MODIFIED")
      .map((o) => o.arrivedAt);
    for (const w of p.statusWrites) {
      expect(w.server?.storage?.name).toBe("GuaranteedUpdate etcd3");
      expect(w.server!.receivedMs).toBeGreaterThanOrEqual(w.client.startMs);
      // Each write changed the pod; podtrace's watch saw the change a few ms after it was stored.
      const next = arrivals.find((a) => a >= w.server!.storage!.endMs)!;
      expect(next - w.server!.storage!.endMs).toBeLessThan(50);
    }
  });

  it("names each Event the kubelet wrote, made before it was sent", () => {
    const seen = new Set(f.events.map((e) => e.name));
    // podtrace stops watching when it deletes the pod; the kubelet's Killing events come later.
    const end = f.recording.observations.find((o) => o.kind === "end");
    const endedAt = end?.kind === "end" ? end.arrivedAt : Infinity;
    expect(p.eventWrites.length).toBeGreaterThanOrEqual(11);
    for (const e of p.eventWrites) {
      if (e.client.attributes["http.method"] === "POST" && e.createdMs! < endedAt) expect(seen.has(e.eventName), e.eventName).toBe(true);
      expect(e.createdMs).toBeLessThanOrEqual(e.client.startMs);
      expect(e.client.startMs - e.createdMs!).toBeLessThan(1000);
    }
  });
});

describe("containerSteps", () => {
  const steps = new Map(containerSteps(p, f.events).map((s) => [s.fieldPath, s]));
  const event = (fieldPath: string, reason: string) =>
    eventNameTimeMs(f.events.find((e) => e.fieldPath === fieldPath && e.reason === reason)!.name)!;

  it("pairs every container's create and start with its Created and Started events", () => {
    expect([...steps.keys()].sort()).toEqual(["spec.containers{app}", "spec.initContainers{proxy}", "spec.initContainers{warmup}"]);
    for (const [fieldPath, s] of steps) {
      // The Event is made right after the call returns.
      expect(event(fieldPath, "Created") - s.create!.span.endMs).toBeGreaterThanOrEqual(-1);
      expect(event(fieldPath, "Created") - s.create!.span.endMs).toBeLessThan(5);
      expect(event(fieldPath, "Started") - s.start!.span.endMs).toBeGreaterThanOrEqual(-1);
      expect(event(fieldPath, "Started") - s.start!.span.endMs).toBeLessThan(5);
      expect(s.start!.span.startMs).toBeGreaterThanOrEqual(s.create!.span.endMs);
    }
  });

  it("puts the pull between Pulling and Pulled, for the one container that pulled", () => {
    const app = steps.get("spec.containers{app}")!;
    expect(app.pull!.span.startMs).toBeGreaterThanOrEqual(event("spec.containers{app}", "Pulling"));
    expect(app.pull!.span.endMs).toBeLessThanOrEqual(event("spec.containers{app}", "Pulled"));
    expect(steps.get("spec.initContainers{warmup}")!.pull).toBeUndefined();
  });

  it("finds the postStart hook: an ExecSync of at least its 2 s sleep, right after the start", () => {
    const app = steps.get("spec.containers{app}")!;
    expect(app.postStartHook!.method).toBe("ExecSync");
    expect(app.postStartHook!.span.durationMs).toBeGreaterThanOrEqual(2000);
    expect(app.postStartHook!.span.startMs - app.start!.span.endMs).toBeLessThan(5);
    expect(steps.get("spec.initContainers{proxy}")!.postStartHook).toBeUndefined();
  });
});

describe("eventNameTimeMs", () => {
  it("reads the creation time from an Event's name", () => {
    expect(eventNameTimeMs("web-x7k2q.18eac685c524e095")).toBeCloseTo(Number(0x18eac685c524e095n / 1000n) / 1000, 3);
    expect(eventNameTimeMs("web-x7k2q.18eac685c524e095", "web-x7k2q")).not.toBeNull();
    expect(eventNameTimeMs("web-x7k2q.18eac685c524e095", "web")).toBeNull();
    expect(eventNameTimeMs("web-x7k2q")).toBeNull();
    expect(eventNameTimeMs("web.not-hex")).toBeNull();
  });
});
