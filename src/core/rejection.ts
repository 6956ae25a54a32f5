/**
 * Who refused a create request, and whether that is a matter of access or of the spec.
 * The API server answers both with 403 Forbidden: RBAC ("User ... cannot create resource")
 * and admission (PodSecurity, LimitRange, ResourceQuota, ValidatingAdmissionPolicy, a
 * webhook, which may also answer 400 or 422). Access is the user's credentials (exit 3); an
 * admission or validation refusal is the spec, in this namespace (exit 2). Read from the
 * Status the API server returned, in the words its admission plugins write.
 */
import type { RawObject } from "./observation.ts";
import type { SeenEvent } from "./observed-run.ts";

/** Where a webhook is configured: it may be a validating or a mutating one. */
const WEBHOOKS = ["kubectl get validatingwebhookconfigurations", "kubectl get mutatingwebhookconfigurations"];

export interface Rejection {
  /**
   * access: authentication or authorization (RBAC); input: admission or validation refused
   * the spec; cluster: the cluster failed to decide (a webhook it could not call, overload).
   */
  cause: "access" | "input" | "cluster";
  /** The component that refused, for people: `PodSecurity "restricted:latest"`, `admission webhook "x"`, `RBAC`. */
  by: string;
  /** The API server's message, unchanged. */
  message: string;
  /** Where to look next, with the names filled in. */
  next: string[];
}

/** `status`: the HTTP status; `body`: the Status object the API server sent; `namespace`: where the request went. */
export function describeRejection(status: number, body: RawObject, namespace: string): Rejection {
  const message = typeof body["message"] === "string" && body["message"] ? body["message"] : `HTTP ${status}`;
  const ns = namespace || "default";
  const m = (re: RegExp) => re.exec(message);
  let found: RegExpExecArray | null;

  if (status === 401) {
    return { cause: "access", by: "authentication", message, next: ["kubectl auth whoami"] };
  }
  if ((found = m(/admission webhook "([^"]+)" denied the request/))) {
    return {
      cause: "input",
      by: `admission webhook "${found[1]}"`,
      message,
      next: WEBHOOKS,
    };
  }
  if ((found = m(/failed calling webhook "([^"]+)"/))) {
    return {
      cause: "cluster",
      by: `admission webhook "${found[1]}" (not reachable)`,
      message,
      next: WEBHOOKS,
    };
  }
  if ((found = m(/ValidatingAdmissionPolicy '([^']+)'(?: with binding '([^']+)')? denied request/))) {
    return {
      cause: "input",
      by: `ValidatingAdmissionPolicy "${found[1]}"${found[2] ? ` (binding "${found[2]}")` : ""}`,
      message,
      next: [`kubectl get validatingadmissionpolicy ${found[1]} -o yaml`],
    };
  }
  if ((found = m(/violates PodSecurity "([^"]+)"/))) {
    return {
      cause: "input",
      by: `PodSecurity "${found[1]}"`,
      message,
      next: [`kubectl get namespace ${ns} --show-labels`],
    };
  }
  if ((found = m(/(?:exceeded|failed) quota: ([^,:\s]+)/))) {
    return { cause: "input", by: `ResourceQuota "${found[1]}"`, message, next: [`kubectl describe resourcequota -n ${ns}`] };
  }
  // The LimitRanger plugin's own words: min/max per Container, Pod or claim, and the ratio.
  if (m(/(?:maximum|minimum) \S+ usage per (?:Container|Pod|PersistentVolumeClaim) is|max limit to request ratio per/)) {
    return { cause: "input", by: "LimitRange", message, next: [`kubectl describe limitrange -n ${ns}`] };
  }
  // The authorizer's words (RBAC, or any other authorizer): User "x" cannot create resource "pods".
  if (status === 403 && m(/ cannot [a-z]+ resource "/)) {
    return { cause: "access", by: "RBAC", message, next: [`kubectl auth can-i --list -n ${ns}`] };
  }
  if (status === 403) {
    // Any other admission plugin (NamespaceLifecycle, ServiceAccount, NodeRestriction...).
    return { cause: "input", by: "admission", message, next: [`kubectl create --dry-run=server -n ${ns} -f <the manifest>`] };
  }
  if (status === 429 || status >= 500) {
    return { cause: "cluster", by: "the API server", message, next: ["kubectl get --raw /readyz?verbose"] };
  }
  return {
    cause: "input",
    by: status === 422 ? "validation" : "the API server",
    message,
    next: [`kubectl create --dry-run=server -n ${ns} -f <the manifest>`],
  };
}

/**
 * A controller whose pods admission refuses creates none; it says so in FailedCreate
 * events ("Error creating: pods ... is forbidden: violates PodSecurity ...", aggregated as
 * "(combined from similar events): ..." after a while). Once it has tried `repeats` times,
 * why, in the cluster's words; null while it has not (or the refusal is not the spec's: a
 * quota may free up as well, but is the spec's as much as an admission plugin's).
 */
export function podsRefused(events: readonly SeenEvent[], repeats: number): string | null {
  const refusals = events.filter((e) => e.reason === "FailedCreate" && e.involvedKind !== "Pod" && refusedCreate(e.message) !== null);
  const attempts = refusals.reduce((n, e) => n + Math.max(1, e.count), 0);
  const last = refusals.at(-1);
  if (!last || attempts < Math.max(1, repeats)) return null;
  const r = describeRejection(403, { message: refusedCreate(last.message)! }, "");
  return `${last.involvedKind} ${last.involvedName} could not create pods (${attempts} times): refused by ${r.by}`;
}

/** The Status message inside a controller's FailedCreate, when admission refused the spec. */
export function refusedCreate(message: string): string | null {
  const refused = /Error creating: (.* is forbidden: .*)$/s.exec(message)?.[1];
  return refused && describeRejection(403, { message: refused }, "").cause === "input" ? refused : null;
}
