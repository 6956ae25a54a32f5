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

  it("on a dual-stack cluster, waits for the slice of each family the Service asks for", () => {
    const r = run("dual-stack");
    const pod = lastSnapshot(r.pods)!.pod;
    const ips = podIPs(pod);
    const v6 = ips.find((ip) => ip.includes(":"))!;
    const v4 = ips.find((ip) => !ip.includes(":"))!;
    expect(v6 && v4).toBeTruthy();
    const [service] = selectingServices(r);
    expect(service!.ipFamilies).toEqual(["IPv6", "IPv4"]);
    const readyIn = (family: "IPv4" | "IPv6") =>
      r.endpointSlices.find(
        (s) =>
          s.slice["addressType"] === family &&
          (s.slice["endpoints"] as { addresses: string[]; conditions?: { ready?: boolean } }[] | undefined)?.some(
            (e) => e.addresses.includes(family === "IPv6" ? v6 : v4) && e.conditions?.ready !== false,
          ),
      );
    const [inV4, inV6] = [readyIn("IPv4"), readyIn("IPv6")];
    expect(inV4 && inV6).toBeTruthy();
    // The later of the two is the publication; either family alone is not enough.
    const change = publication(r, service!, ips)!;
    expect(change.arrivedAt).toBe(Math.max(inV4!.arrivedAt, inV6!.arrivedAt));
    expect(publication(r, { ...service!, ipFamilies: ["IPv6"] }, ips)).toBe(inV6);
    // A family the pod has no address of is not waited for.
    expect(publication(r, service!, [v4])).toBe(inV4);
  });

  it("finds nothing for an address the pod does not have", () => {
    const r = run("service-endpoints");
    const [service] = selectingServices(r);
    expect(publication(r, service!, ["192.0.2.200"])).toBeNull();
    expect(publication(r, service!, [])).toBeNull();
  });
});
