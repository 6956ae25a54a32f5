/**
 * What each recorded scenario must show, checked on its recording (test/unit) and on a live
 * run of the same manifest (test/e2e): the same expectations for what podtrace saw once
 * and what it sees now. Names are the manifests' in test/fixtures/manifests.
 */
import { expect } from "vitest";
import type { Phase, Timeline } from "../../src/core/timeline.ts";
import { criticalSteps, longestPossibleMs } from "./invariants.ts";

export function phase(t: Timeline, id: string): Phase {
  const p = t.phases.find((x) => x.id === id);
  if (!p) throw new Error(`no phase ${id} in ${t.phases.map((x) => x.id).join(", ")}`);
  return p;
}

/** The ids of the critical path's observed steps. */
export const path = (t: Timeline): string[] => criticalSteps(t).map((p) => p.id);

export const SCENARIOS: Record<string, { what: string; check: (t: Timeline) => void }> = {
  "one-container": {
    what: "one container without probes: the wait after its start is the kubelet's status report, not readiness",
    check: (t) => {
      expect(path(t)).toEqual([
        "admission",
        "scheduling",
        "sandbox",
        "image-pull:main",
        "container-create:main",
        "container-start:main",
        "status-report",
      ]);
      expect(t.phases.some((p) => p.kind === "readiness")).toBe(false);
      expect(phase(t, "endpoints").status).toBe("not-applicable");
      expect(t.verdict.outcome).toBe("ready");
      expect(t.readyAfterMs).toBe(phase(t, "status-report").end!.offsetMs);
      // The binding, as the pod watch delivered it, places it.
      expect(phase(t, "scheduling").end!.sources.join(" ")).toMatch(/arrival of pod update with (spec.nodeName|PodScheduled=True)/);
    },
  },
  "init-containers": {
    what: "init containers: each runs for its sleep, then the kubelet's sync before the next one",
    check: (t) => {
      expect(path(t)).toEqual(expect.arrayContaining(["init-run:migrate", "kubelet-sync:seed", "init-run:seed", "kubelet-sync:main"]));
      expect(longestPossibleMs(phase(t, "init-run:migrate"))).toBeGreaterThanOrEqual(1000);
      expect(longestPossibleMs(phase(t, "init-run:seed"))).toBeGreaterThanOrEqual(2000);
      // The seed container's exit is known to the second; the kubelet noticed it within a
      // relist (1 s) plus its write.
      expect(phase(t, "kubelet-sync:main").durationMs).toBeLessThan(1300);
      expect(phase(t, "kubelet-sync:main").details["after"]).toBe("seed exited");
    },
  },
  "native-sidecar": {
    what: "native sidecar: its startup probe holds the app container back, then a kubelet sync",
    check: (t) => {
      expect(phase(t, "container-start:proxy").containerType).toBe("sidecar");
      const startup = phase(t, "startup-probe:proxy");
      expect(startup.onCriticalPath).toBe(true);
      expect(startup.durationMs).toBeGreaterThanOrEqual(1500);
      expect(Number(startup.details["startupProbeFailures"])).toBeGreaterThan(0);
      expect(path(t)).toEqual(expect.arrayContaining(["startup-probe:proxy", "kubelet-sync:main", "image-pull:main"]));
      expect(t.verdict.outcome).toBe("ready");
    },
  },
  "sidecar-no-probe": {
    what: "sidecar without a startup probe: the kubelet starts the next container in the sync that sees it running",
    check: (t) => {
      const ids = path(t);
      expect(ids.indexOf("kubelet-sync:migrate")).toBe(ids.indexOf("container-start:proxy") + 1);
      expect(phase(t, "kubelet-sync:migrate").details["after"]).toBe("proxy running");
      expect(longestPossibleMs(phase(t, "init-run:migrate"))).toBeGreaterThanOrEqual(1000);
    },
  },
  "post-start-hook": {
    what: "postStart hooks: each hook is its own row, the first one at least its sleep",
    check: (t) => {
      const app = phase(t, "post-start-hook:app");
      const agent = phase(t, "post-start-hook:agent");
      expect(app.onCriticalPath && agent.onCriticalPath).toBe(true);
      // Ended by the next container's first event: placed to the millisecond.
      expect(app.durationMs).toBeGreaterThanOrEqual(3000);
      expect(app.end!.approximate).toBeUndefined();
      // The last container's hook ends before the kubelet's next status report, within a relist.
      expect(longestPossibleMs(agent)).toBeGreaterThanOrEqual(2000);
      expect(path(t).slice(-2)).toEqual(["post-start-hook:agent", "status-report"]);
      // The start rows are only the runtime's start, not the hook.
      expect(phase(t, "container-start:app").durationMs).toBeLessThan(1000);
    },
  },
  "startup-probe": {
    what: "startupProbe: its failures and its wait are the startup probe's, then the readiness probe's",
    check: (t) => {
      expect(path(t).slice(-3)).toEqual(["status-report", "startup-probe:app", "readiness:app"]);
      const startup = phase(t, "startup-probe:app");
      expect(Number(startup.details["startupProbeFailures"])).toBeGreaterThan(0);
      expect(phase(t, "readiness:app").details["probeFailures"]).toBeUndefined();
      // The app sleeps 4 s after it started before the probe can pass.
      expect(phase(t, "readiness:app").end!.offsetMs - phase(t, "container-start:app").end!.offsetMs).toBeGreaterThanOrEqual(4000);
    },
  },
  "two-app-containers": {
    what: "two app containers: started one after the other, the second's pull right after the first's start",
    check: (t) => {
      expect(phase(t, "image-pull:helper").start!.offsetMs).toBe(phase(t, "container-start:app").end!.offsetMs);
      expect(phase(t, "status-report").start!.offsetMs).toBe(phase(t, "container-start:helper").end!.offsetMs);
    },
  },
  "delayed-readiness": {
    what: "delayed readiness probe: the readiness probe takes the delay, with its failures counted",
    check: (t) => {
      expect(phase(t, "readiness:web").durationMs).toBeGreaterThanOrEqual(2000);
      expect(Number(phase(t, "readiness:web").details["probeFailures"])).toBeGreaterThan(0);
    },
  },
  "host-network": {
    what: "hostNetwork: the node's IP, reported at once, does not end the sandbox",
    check: (t) => {
      const sandbox = phase(t, "sandbox");
      expect(sandbox.details["hostNetwork"]).toBe(true);
      expect(sandbox.end!.sources.join(" ")).not.toMatch(/podIP/);
      expect(sandbox.end!.offsetMs).toBe(phase(t, "image-pull:main").end!.offsetMs);
    },
  },
  "many-containers": {
    what: "many containers: the events the kubelet's rate limit dropped are replaced by the pod's status, and said so",
    check: (t) => {
      expect(t.verdict.outcome).toBe("ready");
      const starts = t.phases.filter((p) => p.kind === "container-start");
      expect(starts).toHaveLength(10);
      for (const p of starts) expect(p.status, p.id).toBe("done");
      const fromStatus = starts.filter((p) => p.placedFromStatus).map((p) => p.container);
      expect(fromStatus.length).toBeGreaterThan(0);
      expect(fromStatus).toContain("c10");
      expect(phase(t, "image-pull:c10").status).toBe("unobserved");
      expect(t.warnings.join("\n")).toMatch(/event rate limit/);
    },
  },
  "restart-never": {
    what: "restartPolicy Never: judged by completion, the last step the kubelet reporting it Succeeded",
    check: (t) => {
      expect(t.verdict.outcome).toBe("completed");
      expect(t.completedAfterMs).not.toBeNull();
      expect(t.completedAfterMs!).toBeGreaterThan(t.readyAfterMs!);
      expect(path(t).slice(-2)).toEqual(["container-run:task", "status-report:completed"]);
      expect(longestPossibleMs(phase(t, "container-run:task"))).toBeGreaterThanOrEqual(2000);
      expect(phase(t, "container-run:task").details["exitCode"]).toBe(0);
    },
  },
  "service-endpoints": {
    what: "service: endpoints are published after Ready",
    check: (t) => {
      const endpoints = phase(t, "endpoints");
      expect(endpoints.status).toBe("done");
      expect(endpoints.onCriticalPath).toBe(true);
      expect(endpoints.start!.offsetMs).toBe(t.readyAfterMs);
      expect(t.endpointsAfterMs).toBe(endpoints.end!.offsetMs);
      expect(t.pod.services).toHaveLength(1);
    },
  },
  "dual-stack": {
    what: "dual-stack: the pod has an IP of each family, and a Service asking for both publishes it once both its slices list it",
    check: (t) => {
      expect(t.pod.podIPs).toHaveLength(2);
      expect(t.pod.podIPs[0]).toBe(t.pod.podIP);
      expect(t.pod.podIPs.filter((ip) => ip.includes(":"))).toHaveLength(1);
      expect(phase(t, "sandbox").details["podIPs"]).toBe(t.pod.podIPs.join(", "));
      const endpoints = phase(t, "endpoints");
      expect(endpoints.status).toBe("done");
      expect(endpoints.onCriticalPath).toBe(true);
      expect(endpoints.start!.offsetMs).toBe(t.readyAfterMs);
      expect(t.endpointsAfterMs).toBe(endpoints.end!.offsetMs);
      expect(t.verdict.outcome).toBe("ready");
    },
  },
  "publish-not-ready": {
    what: "a Service that publishes not-ready addresses is a lane before Ready, not the end of the path",
    check: (t) => {
      const lane = t.phases.find((p) => p.kind === "endpoints" && !p.onCriticalPath && p.status === "done");
      expect(lane?.details["services"]).toMatch(/-peers$/);
      expect(lane!.end!.offsetMs).toBeLessThan(t.readyAfterMs!);
      const endpoints = phase(t, "endpoints");
      expect(endpoints.onCriticalPath).toBe(true);
      expect(endpoints.details["services"]).not.toMatch(/-peers/);
      expect(endpoints.start!.offsetMs).toBe(t.readyAfterMs);
      // The readiness probe passes after about 4 s: Ready is not pulled early.
      expect(t.readyAfterMs!).toBeGreaterThan(4000);
    },
  },
  "only-not-ready": {
    what: "only such a Service: no publication after Ready to wait for, and a warning says why",
    check: (t) => {
      expect(t.readyAfterMs!).toBeGreaterThan(4000);
      expect(t.endpointsAfterMs).toBeNull();
      expect(t.phases.filter((p) => p.kind === "endpoints" && p.onCriticalPath)).toHaveLength(0);
      expect(t.warnings.join("\n")).toMatch(/publish not-ready addresses/);
      expect(t.verdict.outcome).toBe("ready");
    },
  },
  "pvc-ephemeral": {
    what: "a claim provisioned for the pod: volume binding, before scheduling ends (WaitForFirstConsumer) or before it begins (Immediate)",
    check: (t) => {
      const binding = phase(t, "volume-binding");
      expect(binding.details["claims"]).toBe(`${t.pod.name}-data`);
      expect(binding.details["provisioner"]).toBe("kubernetes.io/host-path");
      expect(binding.durationMs).toBeGreaterThan(0);
      const order = path(t).slice(0, 4);
      if (order[1] === "scheduling") {
        // WaitForFirstConsumer (the local cluster's class): scheduling until the node is
        // picked, then binding until the pod is bound (the VolumeBinding plugin polls once
        // a second).
        expect(order).toEqual(["admission", "scheduling", "volume-binding", "sandbox"]);
        expect(binding.end!.offsetMs).toBeCloseTo(phase(t, "scheduling").end!.offsetMs + binding.durationMs!, 2);
      } else {
        // Immediate binding (kind's class): the claim is bound first, then the pod scheduled.
        expect(order).toEqual(["admission", "volume-binding", "scheduling", "sandbox"]);
      }
      expect(phase(t, "sandbox").label).toBe("volume mount + sandbox + network");
      expect(t.verdict.outcome).toBe("ready");
    },
  },
  "pvc-attach": {
    what: "a claim of a driver whose volumes are attached: provisioned by the driver, then attached (a VolumeAttachment), then mounted",
    check: (t) => {
      expect(path(t).slice(0, 5)).toEqual(["admission", "scheduling", "volume-binding", "volume-attach", "sandbox"]);
      expect(phase(t, "volume-binding").details["provisioner"]).toBe("hostpath.csi.podtrace.dev");
      const attach = phase(t, "volume-attach");
      // The driver takes 1.5 s to attach (hack/tools/csi-hostpath -attach-delay).
      expect(attach.durationMs).toBeGreaterThanOrEqual(1500);
      expect(attach.end!.sources.join(" ")).toMatch(/SuccessfulAttachVolume/);
      expect(phase(t, "sandbox").label).toBe("volume mount + sandbox + network");
      expect(phase(t, "sandbox").start!.offsetMs).toBe(attach.end!.offsetMs);
      expect(t.verdict.outcome).toBe("ready");
    },
  },
  "pvc-attach-fails": {
    what: "a volume that cannot be attached: stuck in volume attach, in the driver's words",
    check: (t) => {
      expect(t.verdict.outcome).toBe("failed");
      expect(t.verdict.phase).toBe("volume-attach");
      expect(t.verdict.summary).toMatch(/^failed in volume attach: FailedAttachVolume: AttachVolume.Attach failed for volume "pvc-/);
      expect(t.verdict.summary).toMatch(/the disk quota of the zone is exhausted/);
      expect(t.verdict.next.join("\n")).toMatch(/kubectl get volumeattachments/);
      expect(phase(t, "volume-binding").status).toBe("done");
      expect(phase(t, "volume-attach").status).toBe("failed");
      expect(phase(t, "sandbox").status).toBe("not-reached");
    },
  },
  "pvc-unbound": {
    what: "a claim that cannot be bound: stuck in volume binding, in the PersistentVolume controller's words",
    check: (t) => {
      expect(t.verdict.outcome).toBe("timeout");
      expect(t.verdict.phase).toBe("volume-binding");
      expect(t.verdict.summary).toMatch(/claim pvc-unbound-\w+-data not bound: FailedBinding: no persistent volumes available/);
      expect(t.verdict.causes.join("\n")).toMatch(/unbound immediate PersistentVolumeClaims/);
      expect(t.verdict.next.join("\n")).toMatch(/kubectl describe pvc pvc-unbound-\w+-data/);
      expect(phase(t, "volume-binding").status).toBe("failed");
      expect(phase(t, "scheduling").status).toBe("not-reached");
    },
  },
  "crash-restarts": {
    what: "a container that crashed twice: each attempt's run, the kubelet's back-off, and the next start",
    check: (t) => {
      expect(t.verdict.outcome).toBe("ready");
      expect(path(t)).toEqual(
        expect.arrayContaining([
          "container-start:app",
          "container-run:app#1",
          "restart-backoff:app#2",
          "container-start:app#2",
          "container-run:app#2",
          "restart-backoff:app#3",
          "container-start:app#3",
          "status-report",
          "readiness:app",
        ]),
      );
      expect(phase(t, "container-run:app#1").details["exitCode"]).toBe(1);
      // The kubelet restarts it at once the first time, then backs off (10 s, doubling):
      // that wait holds most of the startup.
      expect(phase(t, "restart-backoff:app#3").durationMs!).toBeGreaterThan(5000);
      expect(phase(t, "container-start:app#3").details["restarts"]).toBe(2);
    },
  },
  "readiness-gates": {
    what: "a readiness gate: after the containers are ready, the wait for the gate's condition",
    check: (t) => {
      expect(t.verdict.outcome).toBe("ready");
      expect(path(t).slice(-2)).toEqual(["status-report", "readiness-gates"]);
      const gates = phase(t, "readiness-gates");
      expect(gates.details["gates"]).toBe("podtrace.dev/load-balancer-ready");
      // The stand-in controller sets it 2 s after the containers are ready.
      expect(gates.durationMs!).toBeGreaterThanOrEqual(1500);
      expect(t.readyAfterMs).toBe(gates.end!.offsetMs);
    },
  },
  "two-probes": {
    what: "two probed containers: the path follows the one ready last, the other's probe is a lane",
    check: (t) => {
      expect(path(t).slice(-2)).toEqual(["status-report", "readiness:slow"]);
      expect(phase(t, "readiness:quick").onCriticalPath).toBe(false);
      expect(phase(t, "readiness:slow").end!.offsetMs - phase(t, "container-start:slow").end!.offsetMs).toBeGreaterThanOrEqual(2500);
    },
  },
  "kubelet-behind-500": {
    what: "the node's clock half a second behind (a proxy shifts what the kubelet writes): found, said, and Ready kept",
    check: (t) => expectNodeClock(t, -500),
  },
  "kubelet-behind-2000": {
    what: "the node's clock two seconds behind: found, said, and nothing placed before the create request",
    check: (t) => expectNodeClock(t, -2000),
  },
  "kubelet-ahead-1500": {
    what: "the node's clock a second and a half ahead: found, said, and nothing negative",
    check: (t) => expectNodeClock(t, 1500),
  },
  "api-latency": {
    what: "podtrace 25 ms away from the apiserver: the latency found from a round trip and taken off the arrivals",
    check: (t) => {
      expect(t.latency.roundTripMs!).toBeGreaterThanOrEqual(50);
      expect(t.latency.oneWayMs).toBeGreaterThanOrEqual(25);
      expect(t.latency.oneWayMs).toBeLessThan(60);
      // The create request's own round trip (2 x 25 ms) is the admission, less the way back.
      expect(phase(t, "admission").durationMs!).toBeGreaterThanOrEqual(20);
      expect(t.verdict.outcome).toBe("ready");
      expect(t.endpointsAfterMs).not.toBeNull();
    },
  },
};

/**
 * A node whose clock ran `skewMs` off (the kubelet-skew proxy shifted everything the
 * kubelet wrote): the node's clock is estimated within 100 ms of it, a warning names it,
 * and the timeline stays whole.
 */
function expectNodeClock(t: Timeline, skewMs: number): void {
  const node = t.clocks.find((k) => k.source.startsWith("node "))!;
  expect(node.consistent).toBe(true);
  expect(Math.abs(node.offsetMs - skewMs)).toBeLessThan(100);
  expect(t.warnings.join("\n")).toMatch(new RegExp(`clock runs about \\d+ ms ${skewMs < 0 ? "behind" : "ahead of"} the apiserver's`));
  expect(t.verdict.outcome).toBe("ready");
  // The init container sleeps 1 s, the app is ready 2 s after it starts: the skew moves none of it.
  expect(longestPossibleMs(phase(t, "init-run:warmup"))).toBeGreaterThanOrEqual(1000);
  expect(phase(t, "readiness:web").end!.offsetMs - phase(t, "container-start:web").end!.offsetMs).toBeGreaterThanOrEqual(1500);
}
