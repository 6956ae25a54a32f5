/**
 * hack/kubelet-skew.sh on the real local cluster: with the kubelet's clock made to look
 * 2 s behind, what the kubelet writes (container startedAt, conditions, its Events' times
 * and the creation time in their names) is 2 s earlier against the apiserver's own stamps
 * than without, and everything still works through the proxy (the pod becomes Ready: the
 * kubelet's watches pass). Stamps of one-second precision allow a 1 s margin.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../support/cli.ts";
import { createNamespace, deleteNamespace, kubectl, kubectlJson } from "../support/cluster.ts";
import { eventNameTimeMs } from "../support/pod-spans.ts";

const exec = promisify(execFile);
const skew = (...args: string[]) => exec("bash", [`${ROOT}hack/kubelet-skew.sh`, ...args], { cwd: ROOT });

/** Only the local cluster's kubelet can be switched from here. */
const localCluster =
  !process.env["PODTRACE_E2E_KUBECONFIG"] &&
  (process.env["KUBECONFIG"] ?? "/var/lib/podtrace-cluster/admin.kubeconfig").startsWith("/var/lib/podtrace-cluster/");

let ns = "";
beforeAll(async () => {
  ns = await createNamespace("skew-e2e");
});
afterAll(async () => {
  // Whatever happened, the kubelet talks to the apiserver directly again.
  if (localCluster) await skew("off");
  if (ns) await deleteNamespace(ns);
});

interface Stamps {
  /** container startedAt minus the pod's creationTimestamp, s */
  startedAt: number;
  /** the Ready condition's lastTransitionTime minus the Started Event's creationTimestamp (apiserver), s */
  ready: number;
  /** the Started Event's firstTimestamp minus the Event's creationTimestamp (apiserver), s */
  eventFirstTimestamp: number;
  /** the time in the Started Event's name minus its creationTimestamp, ms */
  eventName: number;
}

/** Starts a pod and reads the kubelet's stamps against the apiserver's. */
async function startPod(name: string): Promise<Stamps> {
  await kubectl("run", name, "-n", ns, "--image=127.0.0.1:5000/busybox:1", "--restart=Never", "--", "sleep", "3600");
  await kubectl("wait", "--for=condition=Ready", `pod/${name}`, "-n", ns, "--timeout=90s");
  const pod = await kubectlJson<{
    metadata: { creationTimestamp: string };
    status: {
      conditions: { type: string; lastTransitionTime: string }[];
      containerStatuses: { state: { running: { startedAt: string } } }[];
    };
  }>("get", "pod", name, "-n", ns);
  const created = Date.parse(pod.metadata.creationTimestamp);
  const events = await kubectlJson<{
    items: { reason: string; firstTimestamp: string; metadata: { name: string; creationTimestamp: string } }[];
  }>("get", "events", "-n", ns, "--field-selector", `involvedObject.name=${name}`);
  const started = events.items.find((e) => e.reason === "Started")!;
  const eventCreated = Date.parse(started.metadata.creationTimestamp);
  return {
    startedAt: (Date.parse(pod.status.containerStatuses[0]!.state.running.startedAt) - created) / 1000,
    // Against the Started Event's arrival at the apiserver, not the pod's creation: a kubelet
    // just restarted (to switch the skew on) takes longer to start the pod, which would
    // hide the shift.
    ready: (Date.parse(pod.status.conditions.find((c) => c.type === "Ready")!.lastTransitionTime) - eventCreated) / 1000,
    eventFirstTimestamp: (Date.parse(started.firstTimestamp) - eventCreated) / 1000,
    eventName: eventNameTimeMs(started.metadata.name, name)! - eventCreated,
  };
}

/** A pod whose readiness probe always fails, until the kubelet has reported its Unhealthy Event 3 times. */
async function repeatedEvents(name: string): Promise<{ count: number }[]> {
  await kubectl(
    "run",
    name,
    "-n",
    ns,
    "--image=127.0.0.1:5000/busybox:1",
    "--restart=Never",
    `--overrides=${JSON.stringify({
      spec: {
        containers: [
          {
            name,
            image: "127.0.0.1:5000/busybox:1",
            command: ["sleep", "3600"],
            readinessProbe: { exec: { command: ["false"] }, periodSeconds: 1 },
          },
        ],
      },
    })}`,
  );
  for (let i = 0; i < 120; i++) {
    const events = await kubectlJson<{ items: { reason: string; count: number }[] }>(
      "get",
      "events",
      "-n",
      ns,
      "--field-selector",
      `involvedObject.name=${name},reason=Unhealthy`,
    );
    if (events.items.some((e) => e.count >= 3)) return events.items;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the kubelet reported no repeated Unhealthy Event within 60 s");
}

describe("a kubelet clock 2 s behind (hack/kubelet-skew.sh)", () => {
  it.runIf(localCluster)("makes the kubelet's stamps 2 s earlier, and the pod still starts", async () => {
    const direct = await startPod("direct");
    await skew("on", "-2000");
    expect((await skew("status")).stdout.trim()).toBe("-2000 ms");
    const skewed = await startPod("skewed");
    const repeated = await repeatedEvents("unready");
    await skew("off");

    // Without skew the kubelet's stamps fall in the second of the apiserver's or after it.
    expect(direct.startedAt).toBeGreaterThanOrEqual(0);
    expect(direct.eventFirstTimestamp).toBeGreaterThanOrEqual(-1);
    expect(direct.eventName).toBeGreaterThan(-1000);
    // 2 s earlier, to the precision of whole-second stamps.
    for (const key of ["startedAt", "ready", "eventFirstTimestamp"] as const) {
      const shift = skewed[key] - direct[key];
      expect(shift, key).toBeGreaterThanOrEqual(-3);
      expect(shift, key).toBeLessThanOrEqual(-1);
    }
    // The name's nanoseconds against the apiserver's second: between 2 and 3 s before it.
    expect(skewed.eventName).toBeLessThan(-1000);
    expect(skewed.eventName).toBeGreaterThan(-3000);
    // A repeated Event stays one Event with a count: the kubelet patches it by the name it
    // knows, which the proxy shifts the same way (and shifts back in what it returns).
    expect(repeated.map((e) => e.count)).toEqual([repeated[0]!.count]);
    expect(repeated[0]!.count).toBeGreaterThanOrEqual(3);
  });
});
