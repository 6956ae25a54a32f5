/**
 * When a Ready verdict may be printed before the final read of Events: once the events
 * that place every phase have arrived. Checked on the recordings of real runs, with the
 * stream as the watches delivered it (the final read's copies, type SYNC, left out).
 */
import { describe, expect, it } from "vitest";
import { correlate } from "../../src/core/correlate.ts";
import type { Observation } from "../../src/core/observation.ts";
import { splitByPod } from "../../src/core/pod-set.ts";
import { allPlaced } from "../../src/trace/final-read.ts";
import { loadRecording, recordingNames } from "../support/recordings.ts";

/** The pods' streams up to the run's end, as the watches delivered them. */
function delivered(name: string): Map<string, Observation[]> {
  const { observations } = loadRecording(name);
  const end = observations.findIndex((o) => o.kind === "end");
  const watched = observations.slice(0, end + 1).filter((o) => !(o.kind === "watch" && o.type === "SYNC"));
  return splitByPod(watched);
}

const PLACING = new Set(["Scheduled", "Pulling", "Pulled", "Created", "Started"]);

describe("allPlaced", () => {
  it("holds for every Ready pod once its Scheduled, Pulled, Created and Started events arrived, and not a moment before", () => {
    let pods = 0;
    for (const name of recordingNames()) {
      const { observations } = loadRecording(name);
      if (observations.find((o) => o.kind === "end")?.reason !== "ready") continue;
      for (const [pod, stream] of delivered(name)) {
        // A controller's replaced pods and a Job's pods that completed are not all Ready.
        const isReady = stream.some(
          (o) =>
            o.kind === "watch" &&
            o.resource === "pods" &&
            ((o.object["status"] as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some(
              (c) => c.type === "Ready" && c.status === "True",
            ),
        );
        if (!isReady) continue;
        // The kubelet's event rate limit dropped some container's events (the pod has many
        // containers): the final read may still bring them, so it comes first.
        if (correlate(stream).phases.some((p) => p.placedFromStatus)) {
          expect(allPlaced(stream), `${name}: ${pod}`).toBe(false);
          continue;
        }
        expect(allPlaced(stream), `${name}: ${pod}`).toBe(true);
        // Cut just before the last placing event first arrived (through either API): not all placed.
        const firstSeen = new Map<string, number>();
        stream.forEach((o, i) => {
          if (o.kind !== "watch" || (o.resource !== "events" && o.resource !== "events.k8s.io")) return;
          const uid = (o.object["metadata"] as { uid: string }).uid;
          if (PLACING.has(String(o.object["reason"])) && !firstSeen.has(uid)) firstSeen.set(uid, i);
        });
        const last = Math.max(...firstSeen.values());
        expect(allPlaced(stream.slice(0, last)), `${name}: ${pod} without its last placing event`).toBe(false);
        pods++;
      }
    }
    // One-container, init containers, a sidecar, two app containers, a pulled image, a
    // Service, several replicas, a Deployment's pods.
    expect(pods).toBeGreaterThanOrEqual(10);
  });

  it("does not hold for pods that never started their containers", () => {
    for (const name of ["image-not-found", "registry-unreachable", "missing-configmap", "unschedulable-selector", "too-much-cpu"]) {
      for (const [pod, stream] of delivered(name)) expect(allPlaced(stream), `${name}: ${pod}`).toBe(false);
    }
  });
});
