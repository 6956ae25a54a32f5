/**
 * Endpoint publication: when the pod's IPs appear as ready in the EndpointSlices of the
 * Services that select it. The EndpointSlice controller publishes a pod as ready only once
 * its Ready condition is written, so this follows Ready on the critical path, except for
 * Services that publish not-ready addresses (spec.publishNotReadyAddresses: their slices
 * say ready for every pod with an IP): those publish before Ready and are shown as a lane
 * beside the path. On dual-stack clusters a Service with both IP families has a slice per
 * family; the pod is published once each family's slice holds its address of that family.
 */
import { asArray, asRecord, str, type EndpointSliceChange, type ObservedRun } from "./observed-run.ts";
import type { RawObject } from "./observation.ts";

export interface SelectingService {
  name: string;
  /** spec.publishNotReadyAddresses: the slices say ready before the pod is. */
  publishNotReadyAddresses: boolean;
  /** spec.ipFamilies (IPv4, IPv6), when known. */
  ipFamilies: string[];
}

/** The Services that select the pod: those listed before it was created, the one --service made, and any whose slices appear. */
export function selectingServices(run: ObservedRun): SelectingService[] {
  const byName = new Map<string, SelectingService>();
  const add = (service: RawObject) => {
    const name = str(asRecord(service["metadata"])["name"]);
    if (!name) return;
    const spec = asRecord(service["spec"]);
    byName.set(name, {
      name,
      publishNotReadyAddresses: spec["publishNotReadyAddresses"] === true,
      ipFamilies: Array.isArray(spec["ipFamilies"]) ? (spec["ipFamilies"] as unknown[]).map(String) : [],
    });
  };
  for (const s of run.services) add(s);
  for (const c of run.serviceCreates) if (c.status < 300) add(c.object);
  for (const change of run.endpointSlices) {
    const name = serviceOf(change.slice);
    if (name && !byName.has(name)) byName.set(name, { name, publishNotReadyAddresses: false, ipFamilies: [] });
  }
  return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The slice change that published the pod in the Service, per IP family it has an address
 * of; the last of them is when the Service published the pod. Null until every family did.
 */
export function publication(run: ObservedRun, service: SelectingService, podIPs: readonly string[]): EndpointSliceChange | null {
  if (podIPs.length === 0) return null;
  const families = service.ipFamilies.length ? service.ipFamilies : [familyOf(podIPs[0]!)];
  let last: EndpointSliceChange | null = null;
  for (const family of families) {
    const ip = podIPs.find((a) => familyOf(a) === family);
    if (!ip) continue;
    const change = run.endpointSlices.find(
      (s) =>
        s.type !== "DELETED" &&
        serviceOf(s.slice) === service.name &&
        asArray(s.slice["endpoints"]).some((ep) => {
          const addresses: unknown[] = Array.isArray(ep["addresses"]) ? ep["addresses"] : [];
          // ready: nil means unknown, which consumers treat as ready (discovery.k8s.io/v1).
          return addresses.includes(ip) && asRecord(ep["conditions"])["ready"] !== false;
        }),
    );
    if (!change) return null;
    if (!last || change.arrivedAt > last.arrivedAt) last = change;
  }
  return last;
}

function serviceOf(slice: RawObject): string {
  return str(asRecord(asRecord(slice["metadata"])["labels"])["kubernetes.io/service-name"]);
}

function familyOf(ip: string): "IPv4" | "IPv6" {
  return ip.includes(":") ? "IPv6" : "IPv4";
}
