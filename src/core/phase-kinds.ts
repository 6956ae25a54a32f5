/**
 * The one list of phase kinds: every kind a timeline can hold, in the order the kubelet
 * works through a pod, with the label people read and one line on what its time is. The
 * type, the --max names, the verdict's wording, the JSON schema's enum (checked by a test)
 * and the README's table all come from here.
 */

export const PHASE_KINDS = [
  {
    kind: "admission",
    label: "admission",
    means: "the create request: authentication, admission (webhooks, policies, quota) and the write to etcd",
  },
  {
    kind: "controller",
    label: "controller creates pod",
    long: "controller creating the pod",
    means: "a Deployment's, ReplicaSet's or Job's controller noticing the object and creating the pod",
  },
  {
    kind: "scheduling",
    label: "scheduling",
    means: "the scheduler choosing a node and binding the pod to it",
  },
  {
    kind: "volume-binding",
    label: "volume binding",
    means: "a PersistentVolumeClaim being provisioned and bound (WaitForFirstConsumer) before the pod can be bound",
  },
  {
    kind: "volume-attach",
    label: "volume attach",
    means: "the attach/detach controller attaching the pod's volumes to its node (SuccessfulAttachVolume), before the kubelet mounts them",
  },
  {
    kind: "sandbox",
    label: "sandbox + network",
    means: "the kubelet creating the pod sandbox and the CNI plugin giving it an IP",
  },
  {
    kind: "kubelet-sync",
    label: "kubelet sync",
    means: "the kubelet noticing a container's change (PLEG relist, 1 s by default) and acting on it in its next pod sync",
  },
  {
    kind: "image-pull",
    label: "image pull",
    means: "making sure the image is on the node: pulled from its registry, or already present",
  },
  {
    kind: "container-create",
    label: "create",
    long: "container create",
    means: "the runtime creating the container",
  },
  {
    kind: "container-start",
    label: "start",
    long: "container start",
    means: "the runtime starting the container's process",
  },
  {
    kind: "post-start-hook",
    label: "postStart hook",
    means: "the container's postStart hook, which the kubelet waits for before it goes on",
  },
  {
    kind: "init-run",
    label: "run",
    long: "init container run",
    means: "an init container running until it exits",
  },
  {
    kind: "container-run",
    label: "run",
    long: "container run",
    means: "a container running until it exits: in a pod that runs to completion, or before it is started again",
  },
  {
    kind: "restart-backoff",
    label: "restart back-off",
    means: "the kubelet waiting (CrashLoopBackOff) before it starts a container that exited again",
  },
  {
    kind: "startup-probe",
    label: "startup probe",
    means: "a container's startupProbe failing until it passes (containerStatuses[].started turns true)",
  },
  {
    kind: "status-report",
    label: "status report",
    means: "the kubelet noticing the containers running (PLEG relist) and writing the pod's status",
  },
  {
    kind: "readiness",
    label: "readiness probe",
    means: "a container's readinessProbe failing until it passes",
  },
  {
    kind: "readiness-gates",
    label: "readiness gates",
    means: "the pod's readinessGates: conditions other controllers set, after the containers are ready",
  },
  {
    kind: "endpoints",
    label: "endpoints",
    means: "the EndpointSlice controller publishing the ready pod's IPs for each Service that selects it",
  },
] as const;

export type PhaseKind = (typeof PHASE_KINDS)[number]["kind"];

export const PHASE_KIND_NAMES: readonly PhaseKind[] = PHASE_KINDS.map((k) => k.kind);

/** The label of a kind, e.g. "sandbox + network"; container steps are short ("start"). */
export function phaseLabel(kind: PhaseKind): string {
  return PHASE_KINDS.find((k) => k.kind === kind)?.label ?? kind;
}

/** The name of a kind in a sentence: "container start" rather than "start". */
export function phaseName(kind: PhaseKind): string {
  const k = PHASE_KINDS.find((x) => x.kind === kind);
  return k && "long" in k ? k.long : (k?.label ?? kind);
}

export function isPhaseKind(value: string): value is PhaseKind {
  return (PHASE_KIND_NAMES as readonly string[]).includes(value);
}
