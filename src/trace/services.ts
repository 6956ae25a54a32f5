/**
 * Services that select the traced pod: their EndpointSlices are where the pod's
 * publication shows. Existing ones are found by matching selectors against the pod's
 * labels; --service creates one named like the pod.
 */
import { asArray, asRecord, str } from "../core/observed-run.ts";
import type { RawObject } from "../core/observation.ts";
import { RUN_LABEL } from "./pod-naming.ts";

/** Whether a Service's selector selects a pod with these labels (an empty selector selects nothing). */
export function selects(service: RawObject, podLabels: Record<string, unknown>): boolean {
  const selector = asRecord(asRecord(service["spec"])["selector"]);
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => podLabels[k] === v);
}

/**
 * The Service --service creates for the traced pod: a ClusterIP Service exposing its
 * container ports when it declares any (what clients of a real Service reach, through the
 * EndpointSlices kube-proxy reads); a headless Service without ports when it declares none.
 * A ClusterIP Service must have a port, but endpoint publication needs none: the
 * EndpointSlice controller publishes a headless Service's pods (for DNS) with or without
 * ports, so the endpoints phase is traced either way.
 */
export function serviceFor(pod: RawObject, name: string, runId: string): RawObject {
  const ports: RawObject[] = [];
  const seen = new Set<string>();
  for (const c of asArray(asRecord(pod["spec"])["containers"])) {
    for (const p of asArray(c["ports"])) {
      const port = p["containerPort"];
      const protocol = str(p["protocol"]) || "TCP";
      if (typeof port !== "number" || seen.has(`${port}/${protocol}`)) continue;
      seen.add(`${port}/${protocol}`);
      ports.push({ name: `p${port}-${protocol.toLowerCase()}`, port, targetPort: port, protocol });
    }
  }
  const namespace = str(asRecord(pod["metadata"])["namespace"]);
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace, labels: { [RUN_LABEL]: runId } },
    spec: ports.length
      ? { type: "ClusterIP", selector: { [RUN_LABEL]: runId }, ports }
      : { type: "ClusterIP", clusterIP: "None", selector: { [RUN_LABEL]: runId } },
  };
}
