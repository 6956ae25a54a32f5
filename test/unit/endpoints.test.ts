/** The Services that select a pod and when they published it (endpoints.ts), on recordings. */
import { describe, expect, it } from "vitest";
import { publication, selectingServices } from "../../src/core/endpoints.ts";
import { indexObservations } from "../../src/core/observed-run.ts";
import { condition, lastSnapshot, podIPs } from "../../src/core/pod-status.ts";
import { loadRecording } from "../support/recordings.ts";

function run(name: string) {
  return indexObservations(loadRecording(name).observations);
}

describe("endpoints", () => {
  it("knows which selecting Service publishes not-ready addresses from its spec", () => {
    const services = selectingServices(run("publish-not-ready"));
    expect(services.map((s) => [s.name.endsWith("-peers"), s.publishNotReadyAddresses])).toEqual([
      [false, false],
      [true, true],
    ]);
    expect(services.every((s) => s.ipFamilies.includes("IPv4"))).toBe(true);
  });

  it("finds the publication of the pod's IP as ready, after Ready for an ordinary Service", () => {
    const r = run("service-endpoints");
    const pod = lastSnapshot(r.pods)!.pod;
    const [service] = selectingServices(r);
    const change = publication(r, service!, podIPs(pod));
    expect(change).not.toBeNull();
    const ready = r.pods.find((p) => condition(p.pod, "Ready")?.["status"] === "True");
    expect(change!.arrivedAt).toBeGreaterThan(ready!.arrivedAt - 50);
  });

  it("finds nothing for an address the pod does not have", () => {
    const r = run("service-endpoints");
    const [service] = selectingServices(r);
    expect(publication(r, service!, ["192.0.2.200"])).toBeNull();
    expect(publication(r, service!, [])).toBeNull();
  });
});
