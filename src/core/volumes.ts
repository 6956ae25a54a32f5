/**
 * Volumes: the PersistentVolumeClaims a pod uses, and when they held it back.
 *
 * A claim that is not bound when the pod is created must be bound before the pod can be:
 * - WaitForFirstConsumer (the usual for dynamic provisioning): the scheduler picks a node
 *   and writes it on the claim (annotation volume.kubernetes.io/selected-node), the
 *   provisioner makes a volume there (ProvisioningSucceeded), the PersistentVolume
 *   controller binds it, and the scheduler's VolumeBinding plugin, which polls every
 *   second, lets the binding of the pod go ahead. Scheduling ends when the node is picked;
 *   volume binding runs from then until the pod is bound.
 * - Immediate binding: the claim is bound (or provisioned) on its own, and the scheduler
 *   refuses the pod ("pod has unbound immediate PersistentVolumeClaims") until it is.
 *   Volume binding runs from the pod's creation until the claim is bound; scheduling after.
 * A generic ephemeral volume's claim (<pod>-<volume>) is made by the ephemeral volume
 * controller once the pod exists, and always starts unbound.
 */
import type { Mark } from "./chain.ts";
import { asArray, asRecord, str, type ObservedRun, type SeenEvent } from "./observed-run.ts";
import type { RawObject } from "./observation.ts";
import type { PodSignals } from "./signals.ts";
import type { Signal } from "./window.ts";

export const SELECTED_NODE = "volume.kubernetes.io/selected-node";

/** The claims a pod's volumes use: named ones, and the ephemeral volumes' <pod>-<volume>. */
export function podClaims(pod: RawObject): string[] {
  const name = str(asRecord(pod["metadata"])["name"]);
  const claims: string[] = [];
  for (const v of asArray(asRecord(pod["spec"])["volumes"])) {
    const claim = str(asRecord(v["persistentVolumeClaim"])["claimName"]);
    if (claim) claims.push(claim);
    else if (v["ephemeral"] !== undefined && name) claims.push(`${name}-${str(v["name"])}`);
  }
  return claims;
}

export interface ClaimProgress {
  name: string;
  /** Bound when first seen: it never held the pod back. */
  boundBefore: boolean;
  /** The scheduler wrote its chosen node on the claim (WaitForFirstConsumer). */
  nodeSelected: Mark | null;
  /** The claim turned Bound. */
  bound: Mark | null;
  provisioner: string;
  /** The PersistentVolume controller's and provisioner's warnings about the claim. */
  warnings: SeenEvent[];
}

/** Every claim of the pod, with when it was given a node and when it was bound. */
export function claimProgress(
  run: ObservedRun,
  s: PodSignals,
  pod: RawObject,
  placeMark: (signals: Signal[]) => Mark | null,
): ClaimProgress[] {
  return podClaims(pod).map((name) => {
    const versions = run.claims.filter((c) => c.type !== "DELETED" && str(asRecord(c.claim["metadata"])["name"]) === name);
    const bound = versions.find((c) => phaseOf(c.claim) === "Bound");
    const selected = versions.find((c) => str(asRecord(asRecord(c.claim["metadata"])["annotations"])[SELECTED_NODE]) !== "");
    const events = run.events.filter((e) => e.involvedKind === "PersistentVolumeClaim" && e.involvedName === name);
    const provisioned = events.find((e) => e.reason === "ProvisioningSucceeded") ?? null;
    const latest = versions.at(-1)?.claim ?? {};
    const annotations = asRecord(asRecord(latest["metadata"])["annotations"]);
    const boundBefore = versions[0] !== undefined && versions[0].type === "SYNC" && phaseOf(versions[0].claim) === "Bound";
    return {
      name,
      boundBefore,
      nodeSelected:
        selected && !boundBefore ? placeMark([s.arrival(`arrival of claim ${name} with a selected node`, selected.arrivedAt)]) : null,
      bound:
        bound && !boundBefore
          ? placeMark([
              s.arrival(`arrival of claim ${name} Bound`, bound.arrivedAt),
              // Provisioning comes before the binding it allows.
              ...s.eventSignals(provisioned).map((x): Signal => ({ source: x.source, earliest: x.earliest, latest: Infinity })),
            ])
          : null,
      provisioner: str(annotations["volume.kubernetes.io/storage-provisioner"]),
      warnings: events.filter((e) => e.type === "Warning"),
    };
  });
}

function phaseOf(claim: RawObject): string {
  return str(asRecord(claim["status"])["phase"]);
}

/** The latest of the marks (null when any is missing). */
export function latestOf(marks: readonly (Mark | null)[]): Mark | null {
  if (marks.length === 0 || marks.some((m) => m === null)) return null;
  return (marks as Mark[]).reduce((a, b) => (b.latest > a.latest ? b : a));
}
