/** The pod's claims and their binding (volumes.ts), from recordings of real claims. */
import { describe, expect, it } from "vitest";
import { estimateClocks } from "../../src/core/clock-offset.ts";
import { indexObservations } from "../../src/core/observed-run.ts";
import { lastSnapshot } from "../../src/core/pod-status.ts";
import { PodSignals } from "../../src/core/signals.ts";
import { claimProgress, podClaims } from "../../src/core/volumes.ts";
import { place } from "../../src/core/window.ts";
import { loadRecording } from "../support/recordings.ts";

function progress(name: string) {
  const run = indexObservations(loadRecording(name).observations);
  const pod = lastSnapshot(run.pods)!.pod;
  const meta = pod["metadata"] as { name: string; uid: string };
  return {
    pod,
    claims: claimProgress(run, new PodSignals(run, estimateClocks(run), 0, { name: meta.name, uid: meta.uid, object: pod }), pod, place),
  };
}

describe("volumes", () => {
  it("names an ephemeral volume's claim after the pod and the volume", () => {
    const { pod } = progress("pvc-ephemeral");
    expect(podClaims(pod)).toEqual([`${(pod["metadata"] as { name: string }).name}-data`]);
    expect(podClaims(lastSnapshot(indexObservations(loadRecording("one-container").observations).pods)!.pod)).toEqual([]);
  });

  it("sees the node chosen on the claim, then the claim bound after its provisioning", () => {
    const [claim] = progress("pvc-ephemeral").claims;
    expect(claim!.boundBefore).toBe(false);
    expect(claim!.provisioner).toBe("kubernetes.io/host-path");
    expect(claim!.nodeSelected!.at).toBeLessThan(claim!.bound!.at);
    expect(claim!.warnings).toEqual([]);
  });

  it("keeps a claim that never binds unbound", () => {
    const [claim] = progress("pvc-unbound").claims;
    expect(claim!.bound).toBeNull();
    expect(claim!.nodeSelected).toBeNull();
  });
});
