/**
 * Fail fast: decide, from what has been observed so far, that the pod will not become
 * Ready by itself, so the run can end now instead of at its timeout.
 *
 * Some failures are final at once (the pod phase is Failed, an invalid image name). Most
 * are retried by the kubelet with back-off and can in principle heal (an image pushed late,
 * a ConfigMap created late), so the default waits until the same failure has happened
 * `repeats` times. Unschedulable pods may be helped by an autoscaler, so they end early
 * only with `immediate` (--fail-fast), which also ends every other failure at its first sign.
 */
import { asRecord, isAboutPod, str, type ObservedRun } from "./observed-run.ts";
import { containerStatus, containersInStartOrder, lastSnapshot, podPhase, restartCount } from "./pod-status.ts";

export interface FailFastPolicy {
  /** End at the first sign of failure, unschedulable included. */
  immediate: boolean;
  /** How many times a retried failure (pull, crash, mount, config) may happen. */
  repeats: number;
}

export const DEFAULT_FAIL_FAST: FailFastPolicy = { immediate: false, repeats: 3 };

/** Why the run should end now, or null to keep waiting. */
export function failFastReason(run: ObservedRun, policy: FailFastPolicy): string | null {
  const pod = lastSnapshot(run.pods)?.pod;
  if (!pod) return null;
  const meta = asRecord(pod["metadata"]);
  const limit = policy.immediate ? 1 : Math.max(1, policy.repeats);
  const phase = podPhase(pod);
  if (phase === "Failed" || phase === "Succeeded") return `the pod phase is ${phase}: its containers will not run again`;

  for (const c of containersInStartOrder(pod)) {
    const status = containerStatus(pod, c);
    const waiting = str(asRecord(asRecord(status?.["state"])["waiting"])["reason"]);
    if (waiting === "InvalidImageName" || waiting === "ErrImageNeverPull") return `container ${c.name}: ${waiting}`;
    // Exits so far: every restart was preceded by one, and a container terminated or
    // backing off now has exited once more than it restarted.
    const restarts = restartCount(status);
    const state = asRecord(status?.["state"]);
    const terminated = asRecord(state["terminated"]);
    const down = state["terminated"] !== undefined || waiting === "CrashLoopBackOff";
    const exits = restarts + (down ? 1 : 0);
    const exitedBadly = typeof terminated["exitCode"] === "number" && terminated["exitCode"] !== 0;
    if (exits >= limit && (exitedBadly || waiting === "CrashLoopBackOff" || restarts > 0)) {
      return `container ${c.name} exited ${exits} time${exits === 1 ? "" : "s"}${exitedBadly ? ` (exit code ${String(terminated["exitCode"])})` : ""}`;
    }
  }

  const ours = run.events.filter((e) => isAboutPod(e, str(meta["name"]), str(meta["uid"])) && e.type === "Warning");
  const pullFailures = new Map<string, number>();
  for (const e of ours) {
    if (e.reason === "Failed" && /^Failed to pull image/.test(e.message)) {
      pullFailures.set(e.fieldPath, (pullFailures.get(e.fieldPath) ?? 0) + e.count);
    }
  }
  for (const [fieldPath, n] of pullFailures) {
    if (n >= limit) return `image pull failed ${n} time${n === 1 ? "" : "s"} (${fieldPath})`;
  }
  for (const e of ours) {
    const retried =
      ["FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox"].includes(e.reason) ||
      (e.reason === "Failed" &&
        /CreateContainerConfigError|CreateContainerError|not found|RunContainerError/.test(e.message) &&
        !/pull/i.test(e.message));
    if (retried && e.count >= limit) return `${e.reason} happened ${e.count} time${e.count === 1 ? "" : "s"}: ${e.message.split("\n")[0]}`;
    if (policy.immediate && e.reason === "FailedScheduling") return `unschedulable: ${e.message}`;
  }
  return null;
}
