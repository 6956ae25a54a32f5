/**
 * The last look before deletion: every Event of the run's pods as stored now (a watch may
 * not have delivered the newest yet) and the log tail of containers that stopped. It
 * comes before the verdict only when the verdict may need it: a Ready pod whose every
 * container's Pulled, Created and Started events (and the scheduler's Scheduled) arrived
 * has its phases placed, and its result is printed first.
 */
import { asArray, asRecord, indexObservations, isAboutPod, str } from "../core/observed-run.ts";
import type { Observation } from "../core/observation.ts";
import { containerStatus, containersInStartOrder, lastSnapshot, podName, restartCount, terminatedState } from "../core/pod-status.ts";
import type { ApiResponse, KubeClient } from "../kube/client.ts";
import { clientNow } from "../kube/clock.ts";

/**
 * Whether the events that place a pod's phases all arrived: the scheduler's Scheduled and,
 * for every container (init, sidecar, app), the kubelet's Pulled (and Pulling when it
 * pulled), Created and Started. Without one of them a boundary rests on the pod's status
 * alone, and the final read may still bring it.
 */
export function allPlaced(stream: readonly Observation[]): boolean {
  const run = indexObservations(stream);
  const pod = lastSnapshot(run.pods)?.pod;
  if (!pod) return false;
  const name = podName(pod);
  const uid = str(asRecord(pod["metadata"])["uid"]);
  const ours = run.events.filter((e) => isAboutPod(e, name, uid));
  const seen = (reason: string, fieldPath: string) => ours.some((e) => e.reason === reason && e.fieldPath === fieldPath);
  if (!seen("Scheduled", "")) return false;
  for (const c of containersInStartOrder(pod)) {
    const pulled = ours.find((e) => e.reason === "Pulled" && e.fieldPath === c.fieldPath);
    if (!pulled || !seen("Created", c.fieldPath) || !seen("Started", c.fieldPath)) return false;
    if (!/already present/i.test(pulled.message) && !seen("Pulling", c.fieldPath)) return false;
  }
  return true;
}

/**
 * Read what deletion would lose: the pods' Events as stored now, and the log tail of
 * containers that failed or restarted. `onlyPod`: one pod's Events by field selector;
 * otherwise the namespace's, in pages (a busy namespace holds thousands), of which
 * `record` keeps those of the run's pods.
 */
export async function readBeforeDeletion(
  client: KubeClient,
  namespace: string,
  onlyPod: string | null,
  streams: ReadonlyMap<string, readonly Observation[]>,
  record: (o: Observation) => void,
): Promise<void> {
  const ns = encodeURIComponent(namespace);
  const query = onlyPod ? `fieldSelector=${encodeURIComponent(`involvedObject.name=${onlyPod}`)}` : "limit=500";
  let page: string | undefined = "";
  while (page !== undefined) {
    const events: ApiResponse | null = await client
      .request("GET", `/api/v1/namespaces/${ns}/events?${query}${page ? `&continue=${encodeURIComponent(page)}` : ""}`)
      .catch(() => null);
    if (events?.status !== 200) break;
    const arrivedAt = clientNow();
    for (const e of asArray(events.body["items"])) record({ kind: "watch", resource: "events", type: "SYNC", arrivedAt, object: e });
    page = str(asRecord(events.body["metadata"])["continue"]) || undefined;
  }
  const logs: Promise<void>[] = [];
  for (const [name, stream] of streams) {
    const pod = lastSnapshot(indexObservations(stream).pods)?.pod;
    if (!pod) continue;
    for (const c of containersInStartOrder(pod)) {
      const status = containerStatus(pod, c);
      const terminated = terminatedState(pod, c);
      const restarted = restartCount(status) > 0;
      const failedNow = typeof terminated["exitCode"] === "number" && terminated["exitCode"] !== 0;
      if (!failedNow && !restarted) continue;
      const previous = !failedNow && restarted;
      const path = `/api/v1/namespaces/${ns}/pods/${encodeURIComponent(name)}/log?container=${encodeURIComponent(c.name)}&tailLines=20${previous ? "&previous=true" : ""}`;
      logs.push(
        client
          .request("GET", path)
          .then((log) => {
            if (log.status === 200) record({ kind: "log", arrivedAt: clientNow(), pod: name, container: c.name, previous, text: log.text });
          })
          .catch(() => undefined),
      );
    }
  }
  await Promise.all(logs);
}
