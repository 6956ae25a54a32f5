/**
 * diagnose: the verdict of a run. Ready, or the phase the pod is stuck in, with the
 * cluster's own words (event messages, waiting reasons, API Status) and the commands worth
 * running next. Pure, like the rest of the core.
 */
import { parseFailedScheduling } from "./failed-scheduling.ts";
import { describeRejection } from "./rejection.ts";
import { asRecord, isAboutPod, str, type ObservedRun, type SeenEvent } from "./observed-run.ts";
import {
  condition,
  containerStatus,
  containersInStartOrder,
  lastSnapshot,
  podPhase,
  restartCount,
  runsToCompletion,
} from "./pod-status.ts";
import type { RawObject } from "./observation.ts";
import { phaseName } from "./phase-kinds.ts";
import { podClaims } from "./volumes.ts";
import type { Outcome, PhaseKind, Timeline, Verdict } from "./timeline.ts";

/** A reason the pod is not Ready, tied to the phase it blocks. */
interface Problem {
  phase: PhaseKind;
  container?: string;
  summary: string;
  causes: string[];
  extra?: Partial<Verdict>;
}

export function diagnose(run: ObservedRun, t: Timeline): Verdict {
  const ns = t.pod.namespace || "default";
  const name = t.pod.name;
  const create = run.podCreate ?? run.controllerCreate;
  if (create && create.status >= 300) {
    const rejection = describeRejection(create.status, create.object, ns);
    return {
      outcome: "rejected",
      phase: "admission",
      summary: `rejected by ${rejection.by}: ${rejection.message}`,
      causes: [rejection.message],
      next: rejection.next,
    };
  }
  const last = lastSnapshot(run.pods)?.pod;
  if (last && podPhase(last) === "Succeeded") {
    // Ran to completion (a Job's pod, a bare pod with restartPolicy Never or OnFailure):
    // success, measured to the update that reported it.
    const after = t.completedAfterMs !== null ? ` after ${seconds(t.completedAfterMs)}` : "";
    return { outcome: "completed", phase: null, summary: `Completed${after}`, causes: [], next: [] };
  }
  const outcome: Outcome = endOutcome(run);
  const endpointsPhase = t.phases.find((p) => p.kind === "endpoints" && p.onCriticalPath);
  const endpointsOk = !endpointsPhase || endpointsPhase.status === "done";
  // A pod that runs to completion is done when it completes: Ready on the way does not end the run.
  const toCompletion = run.controllerCreate?.resource === "jobs" || (last !== undefined && runsToCompletion(last));
  if (t.readyAfterMs !== null && endpointsOk && !toCompletion) {
    const endpoints = t.endpointsAfterMs !== null ? `, endpoints published after ${seconds(t.endpointsAfterMs)}` : "";
    return {
      outcome: "ready",
      phase: null,
      summary: `Ready after ${seconds(t.readyAfterMs ?? 0)}${endpoints}`,
      causes: [],
      next: [],
    };
  }

  const ours = run.events.filter((e) => isAboutPod(e, name, t.pod.uid ?? ""));
  const pod = lastSnapshot(run.pods)?.pod ?? create?.object ?? {};
  const problems = findProblems(pod, ours, run);
  if (run.pods.length === 0 && run.controllerCreate) {
    // No pod yet: the controller's own warnings (FailedCreate: quota, admission) say why.
    const warning = run.events.filter((e) => e.type === "Warning" && e.involvedKind !== "Pod").at(-1);
    if (warning) problems.push({ phase: "controller", summary: `${warning.reason}: ${warning.message}`, causes: [warning.message] });
  }
  const order = t.phases.map((p) => `${p.kind}:${p.container ?? ""}`);
  const rank = (p: Problem) => {
    const i = order.indexOf(`${p.phase}:${p.container ?? ""}`);
    return i < 0 ? order.length : i;
  };
  problems.sort((a, b) => rank(a) - rank(b));
  const firstOpen = t.phases.find((p) => p.onCriticalPath && p.status === "in-progress");
  const problem: Problem = problems[0] ?? {
    phase: firstOpen?.kind ?? "readiness",
    ...(firstOpen?.container ? { container: firstOpen.container } : {}),
    summary: `still in ${firstOpen?.label ?? "startup"}`,
    causes: [],
  };
  const waiting =
    outcome === "timeout" ? "timed out" : outcome === "interrupted" ? "interrupted" : outcome === "running" ? "waiting" : "failed";
  const where = problem.container ? `${phaseName(problem.phase)} of container ${problem.container}` : phaseName(problem.phase);
  return {
    outcome,
    phase: problem.phase,
    ...(problem.container ? { container: problem.container } : {}),
    summary: `${waiting} in ${where}: ${problem.summary}`,
    causes: problem.causes,
    next: nextCommands(problem, name, ns),
    ...problem.extra,
  };
}

function endOutcome(run: ObservedRun): Outcome {
  switch (run.end?.reason) {
    case "timeout":
      return "timeout";
    case "interrupted":
      return "interrupted";
    case "failed":
    case "error":
      return "failed";
    case "ready":
      return "ready";
    default:
      return "running";
  }
}

function findProblems(pod: RawObject, events: SeenEvent[], run: ObservedRun): Problem[] {
  const problems: Problem[] = [];
  const latest = (reason: string, fieldPath?: string) =>
    events.filter((e) => e.reason === reason && (fieldPath === undefined || e.fieldPath === fieldPath)).at(-1) ?? null;

  const failedScheduling = latest("FailedScheduling");
  if (failedScheduling && !str(asRecord(pod["spec"])["nodeName"])) {
    const parsed = parseFailedScheduling(failedScheduling.message);
    const reasons = parsed?.reasons.map((r) => `${r.reason}: ${r.nodes} node${r.nodes === 1 ? "" : "s"}`) ?? [];
    problems.push({
      phase: "scheduling",
      summary: reasons.length ? `unschedulable (${reasons.join("; ")})` : "unschedulable",
      causes: [failedScheduling.message],
      ...(parsed ? { extra: { unschedulable: parsed } } : {}),
    });
  }
  // A claim that is not bound holds the pod's binding back: the PersistentVolume
  // controller's and the provisioner's words about the claim say why.
  if (!str(asRecord(pod["spec"])["nodeName"])) {
    for (const claim of podClaims(pod)) {
      const versions = run.claims.filter((c) => str(asRecord(c.claim["metadata"])["name"]) === claim && c.type !== "DELETED");
      if (str(asRecord(versions.at(-1)?.claim["status"])["phase"]) === "Bound") continue;
      // The PersistentVolume controller reports some failures as Normal events (FailedBinding).
      const warnings = run.events.filter(
        (e) => e.involvedKind === "PersistentVolumeClaim" && e.involvedName === claim && (e.type === "Warning" || /Failed/.test(e.reason)),
      );
      const last = warnings.at(-1);
      const state = versions.length ? "not bound" : "not created yet";
      problems.push({
        phase: "volume-binding",
        summary: `claim ${claim} ${state}${last ? `: ${last.reason}: ${firstLine(last.message)}` : ""}`,
        causes: uniq([...warnings.map((e) => e.message), ...(failedScheduling ? [failedScheduling.message] : [])]),
        extra: {
          next: [
            `kubectl describe pvc ${claim} -n ${str(asRecord(pod["metadata"])["namespace"]) || "default"}`,
            "kubectl get storageclass",
            `kubectl describe pod ${str(asRecord(pod["metadata"])["name"])} -n ${str(asRecord(pod["metadata"])["namespace"]) || "default"}`,
          ],
        },
      });
    }
  }
  for (const reason of ["FailedAttachVolume", "FailedMount", "FailedCreatePodSandBox", "FailedPodSandBoxStatus"]) {
    const e = latest(reason);
    if (e && !str(asRecord(pod["status"])["podIP"]) && !anyContainerStarted(pod)) {
      const phase = reason === "FailedAttachVolume" && !latest("SuccessfulAttachVolume") ? "volume-attach" : "sandbox";
      problems.push({ phase, summary: `${reason}: ${firstLine(e.message)}`, causes: [e.message] });
    }
  }

  for (const c of containersInStartOrder(pod)) {
    const status = containerStatus(pod, c);
    const waiting = asRecord(asRecord(status?.["state"])["waiting"]);
    const waitingReason = str(waiting["reason"]);
    const waitingMessage = str(waiting["message"]);
    const failedEvent = latest("Failed", c.fieldPath);
    const restarts = restartCount(status);
    if (/ImagePull|ErrImage|InvalidImageName|ImageInspectError|RegistryUnavailable|SignatureValidationFailed/.test(waitingReason)) {
      // "Failed to pull image ...: <the registry's error>" says why; "Error: ErrImagePull"
      // only repeats the waiting reason.
      const pullError = events
        .filter((e) => e.reason === "Failed" && e.fieldPath === c.fieldPath && /^Failed to pull image/.test(e.message))
        .at(-1);
      const message = pullError?.message || waitingMessage || failedEvent?.message || waitingReason;
      problems.push({
        phase: "image-pull",
        container: c.name,
        summary: `${waitingReason}: ${classifyPullError(message)} (${c.image})`,
        causes: uniq([pullError?.message, waitingMessage].filter(isText)),
      });
      continue;
    }
    if (waitingReason === "CreateContainerConfigError" || waitingReason === "CreateContainerError") {
      const message = waitingMessage || failedEvent?.message || waitingReason;
      problems.push({
        phase: "container-create",
        container: c.name,
        summary: `${waitingReason}: ${message}`,
        causes: uniq([message, failedEvent?.message].filter(isText)),
      });
      continue;
    }
    const exited = exitOf(status);
    if (waitingReason === "RunContainerError" || waitingReason === "StartError") {
      problems.push({
        phase: "container-start",
        container: c.name,
        summary: `${waitingReason}: ${waitingMessage || failedEvent?.message || ""}`,
        causes: uniq([waitingMessage, failedEvent?.message].filter(isText)),
      });
      continue;
    }
    // Exit 0 is a failure only for a container that should keep running.
    const failedExit = exited && (exited.exitCode !== 0 || ((c.type === "app" || c.type === "sidecar") && !runsToCompletion(pod)));
    if (failedExit || waitingReason === "CrashLoopBackOff") {
      const log = run.logs.filter((l) => l.container === c.name).at(-1);
      const exitCode = exited?.exitCode ?? -1;
      const how = waitingReason === "CrashLoopBackOff" ? `CrashLoopBackOff after ${restarts} restart${restarts === 1 ? "" : "s"}, ` : "";
      const reason = exited?.reason ?? "";
      problems.push({
        phase: c.type === "init" ? "init-run" : "container-start",
        container: c.name,
        summary: `${how}container exited with code ${exitCode}${reason ? ` (${reason})` : ""}`,
        causes: uniq([waitingMessage, exited?.message ?? "", latest("BackOff", c.fieldPath)?.message ?? ""].filter(isText)),
        extra: {
          exit: {
            container: c.name,
            exitCode,
            reason,
            restarts,
            ...(log?.text ? { logTail: log.text } : {}),
          },
        },
      });
      continue;
    }
  }

  // The containers are ready but a readiness gate's condition is not: the Ready
  // condition's own message names the gate.
  const ready = condition(pod, "Ready");
  if (
    condition(pod, "ContainersReady")?.["status"] === "True" &&
    ready?.["status"] !== "True" &&
    str(ready?.["reason"]) === "ReadinessGatesNotReady"
  ) {
    problems.push({
      phase: "readiness-gates",
      summary: `${str(ready?.["message"]) || "a readiness gate's condition is not True"} (another controller sets it)`,
      causes: [str(ready?.["message"])].filter(isText),
    });
  }
  if (podPhase(pod) === "Running" || anyContainerStarted(pod)) {
    // Each probe fails on its own row: a startupProbe holds the container's start, a
    // readinessProbe its readiness, a livenessProbe restarts it.
    for (const [probe, phase] of [
      ["Startup", "startup-probe"],
      ["Readiness", "readiness"],
      ["Liveness", "container-start"],
    ] as const) {
      const unhealthy = events.filter((e) => e.reason === "Unhealthy" && e.message.startsWith(`${probe} probe`));
      const last = unhealthy.at(-1);
      if (!last) continue;
      const failures = unhealthy.reduce((n, e) => n + e.count, 0);
      const container = containersInStartOrder(pod).find((c) => c.fieldPath === last.fieldPath)?.name;
      problems.push({
        phase,
        ...(container ? { container } : {}),
        summary: `${failures} ${probe.toLowerCase()} probe failure${failures === 1 ? "" : "s"}, last: ${firstLine(last.message)}`,
        causes: uniq(unhealthy.map((e) => e.message)),
      });
    }
  }
  return problems;
}

function exitOf(status: RawObject | null): { exitCode: number; reason: string; message: string } | null {
  if (!status) return null;
  const terminated = asRecord(asRecord(status["state"])["terminated"]);
  const last = asRecord(asRecord(status["lastState"])["terminated"]);
  const t = typeof terminated["exitCode"] === "number" ? terminated : typeof last["exitCode"] === "number" ? last : null;
  if (!t) return null;
  return { exitCode: t["exitCode"] as number, reason: str(t["reason"]), message: str(t["message"]) };
}

function anyContainerStarted(pod: RawObject): boolean {
  return containersInStartOrder(pod).some((c) => {
    const s = asRecord(containerStatus(pod, c)?.["state"]);
    return s["running"] !== undefined || s["terminated"] !== undefined;
  });
}

/** The registry's error in a few words: what a person fixes differs for each. */
export function classifyPullError(message: string): string {
  const m = message.toLowerCase();
  if (/not found|manifest unknown|name unknown|404/.test(m)) return "image not found in the registry";
  if (/unauthorized|authentication required|denied|forbidden|401|403/.test(m)) return "the registry refused access (credentials?)";
  if (
    /connection refused|no such host|i\/o timeout|dial tcp|network is unreachable|no route to host|deadline exceeded|server gave http response/.test(
      m,
    )
  )
    return "registry unreachable";
  if (/invalid reference format|invalidimagename|couldn't parse image/.test(m)) return "invalid image name";
  if (/never pull/.test(m)) return "image not present and imagePullPolicy is Never";
  if (/back-off|backoff/.test(m)) return "backing off after failed pulls";
  return firstLine(message);
}

function nextCommands(problem: Problem, name: string, ns: string): string[] {
  const c = problem.container ? ` -c ${problem.container}` : "";
  const describe = `kubectl describe pod ${name} -n ${ns}`;
  const events = `kubectl get events -n ${ns} --field-selector involvedObject.name=${name} --sort-by=.lastTimestamp`;
  switch (problem.phase) {
    case "controller":
      return [
        `kubectl describe deployments,replicasets -n ${ns} -l podtrace.dev/run`,
        `kubectl get events -n ${ns} --field-selector type=Warning`,
      ];
    case "scheduling":
      return [describe, `kubectl describe nodes`, `kubectl get nodes -o wide --show-labels`];
    case "sandbox":
      return [describe, events];
    case "volume-attach":
      return [describe, "kubectl get volumeattachments", events];
    case "image-pull":
      return [describe, events];
    case "container-create":
      return [describe, `kubectl get configmaps,secrets -n ${ns}`];
    case "container-start":
    case "init-run":
    case "container-run":
    case "post-start-hook":
      return [`kubectl logs ${name} -n ${ns}${c} --previous`, `kubectl logs ${name} -n ${ns}${c}`, describe];
    case "readiness":
    case "startup-probe":
    case "readiness-gates":
      return [describe, events, `kubectl logs ${name} -n ${ns}${c}`];
    case "endpoints":
      return [`kubectl get endpointslices -n ${ns} -o wide`, `kubectl get services -n ${ns} -o wide`];
    default:
      return [describe, events];
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
}

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

function isText(v: string | undefined): v is string {
  return typeof v === "string" && v !== "";
}

function uniq(values: string[]): string[] {
  return [...new Set(values)];
}
