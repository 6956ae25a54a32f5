/**
 * Requests the cluster refuses, on the real cluster with real admission: a PodSecurity-
 * enforcing namespace, a LimitRange, a ResourceQuota, a ValidatingAdmissionPolicy with its
 * binding, and a validating webhook the test serves on loopback refuse the spec (exit 2,
 * the verdict names who refused and says it in the cluster's words); a webhook the API
 * server cannot call leaves it unable to decide (exit 3); an RBAC-limited ServiceAccount's token, given as a kubeconfig, as
 * kubectl's --server/--token/--certificate-authority flags, or impersonated with --as, is
 * refused access (exit 3); with no kubeconfig at all podtrace says so (exit 3). Nothing is
 * left behind. With PODTRACE_RECORD_FIXTURES=1 the runs are recorded into
 * test/fixtures/recordings/ for the unit tests.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Timeline } from "../../src/core/timeline.ts";
import { podtrace } from "../support/cli.ts";
import { createNamespace, deleteNamespace, kubectl, leftovers, APISERVER_ON_LOOPBACK } from "../support/cluster.ts";

const exec = promisify(execFile);
let ns = "";
let dir = "";
const policy = `podtrace-e2e-${process.pid}`;
beforeAll(async () => {
  ns = await createNamespace("rejections-e2e");
  dir = await mkdtemp(join(tmpdir(), "podtrace-rejections-"));
});
afterAll(async () => {
  await kubectl("delete", "validatingadmissionpolicybinding", policy, "--ignore-not-found").catch(() => "");
  await kubectl("delete", "validatingadmissionpolicy", policy, "--ignore-not-found").catch(() => "");
  if (ns) await deleteNamespace(ns);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Where a run is recorded: the fixtures when re-recording them, else a temporary file. */
function recordTo(name: string): string {
  return process.env["PODTRACE_RECORD_FIXTURES"] === "1" ? `test/fixtures/recordings/${name}.ndjson` : join(dir, `${name}.ndjson`);
}

async function manifest(name: string, yaml: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, yaml);
  return file;
}

async function apply(yaml: string): Promise<void> {
  const file = await manifest(`apply-${Math.random().toString(36).slice(2)}`, yaml);
  await kubectl("apply", "-f", file);
}

/** A pod that PodSecurity's restricted level refuses (no securityContext), with a CPU limit. */
const pod = (name: string, cpu = "200m") => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: 127.0.0.1:5000/busybox:1
      command: ["sleep", "3600"]
      resources:
        limits: {cpu: ${cpu}, memory: 32Mi}
`;

async function rejected(name: string, file: string, ...flags: string[]) {
  const r = await podtrace(["run", "-f", file, "-n", ns, "-o", "json", "--timeout", "60s", "--record", recordTo(name), ...flags]);
  expect(r.stderr).not.toMatch(/internal error/);
  const t = JSON.parse(r.stdout) as Timeline;
  expect(t.verdict.outcome).toBe("rejected");
  expect(t.verdict.phase).toBe("admission");
  expect(await leftovers(ns)).toEqual([]);
  return { code: r.code, t, stderr: r.stderr };
}

describe("refused by admission: exit 2, naming who refused", () => {
  it("PodSecurity: a namespace that enforces the restricted level", async () => {
    await kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted", "--overwrite");
    try {
      const { code, t } = await rejected("rejected-podsecurity", await manifest("podsecurity", pod("podsecurity")));
      expect(code).toBe(2);
      expect(t.verdict.summary).toMatch(/^rejected by PodSecurity "restricted:latest": pods ".*" is forbidden: violates PodSecurity/);
      expect(t.verdict.causes.join("\n")).toMatch(/allowPrivilegeEscalation != false/);
      expect(t.verdict.next).toContain(`kubectl get namespace ${ns} --show-labels`);
      // The table says the same.
      const table = await podtrace(["run", "-f", await manifest("podsecurity", pod("podsecurity")), "-n", ns, "-o", "wide"]);
      expect(table.code).toBe(2);
      expect(table.stdout).toMatch(/✗ rejected by PodSecurity "restricted:latest"/);
      // A Deployment is admitted, its pods are not: the ReplicaSet's FailedCreate says why.
      const r = await podtrace([
        "run",
        "-f",
        "test/fixtures/manifests/deployment.yaml",
        "-n",
        ns,
        "-o",
        "json",
        "--timeout",
        "120s",
        "--record",
        recordTo("rejected-podsecurity-deployment"),
      ]);
      expect(r.code).toBe(2);
      // Ended once the ReplicaSet had been refused --fail-after (3) times, not at the timeout.
      expect(r.elapsedMs).toBeLessThan(60_000);
      const set = JSON.parse(r.stdout) as Timeline;
      expect(set.verdict.outcome).toBe("failed");
      expect(set.verdict.phase).toBe("controller");
      expect(set.verdict.summary).toMatch(
        /FailedCreate: .*Error creating: pods ".*" is forbidden: violates PodSecurity "restricted:latest"/,
      );
      expect(await leftovers(ns)).toEqual([]);
    } finally {
      await kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce-");
    }
  });

  it("LimitRange: a CPU limit above the namespace's maximum", async () => {
    await apply(`apiVersion: v1
kind: LimitRange
metadata: {name: small, namespace: ${ns}}
spec:
  limits: [{type: Container, max: {cpu: 100m}}]
`);
    try {
      const { code, t } = await rejected("rejected-limitrange", await manifest("limitrange", pod("limitrange", "200m")));
      expect(code).toBe(2);
      expect(t.verdict.summary).toMatch(/^rejected by LimitRange: .*maximum cpu usage per Container is 100m, but limit is 200m/);
      expect(t.verdict.next).toContain(`kubectl describe limitrange -n ${ns}`);
    } finally {
      await kubectl("delete", "limitrange", "small", "-n", ns);
    }
  });

  it("ResourceQuota: a namespace allowed no pods", async () => {
    await kubectl("create", "quota", "no-pods", "-n", ns, "--hard=pods=0");
    try {
      const { code, t } = await rejected("rejected-quota", await manifest("quota", pod("quota")));
      expect(code).toBe(2);
      expect(t.verdict.summary).toMatch(/^rejected by ResourceQuota "no-pods": .*exceeded quota: no-pods/);
    } finally {
      await kubectl("delete", "quota", "no-pods", "-n", ns);
    }
  });

  it("ValidatingAdmissionPolicy and its binding: pods without a team label", async () => {
    await kubectl("label", "namespace", ns, `${policy}=enforced`, "--overwrite");
    await apply(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: ${policy}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"]}
  validations:
    - expression: "has(object.metadata.labels) && 'team' in object.metadata.labels"
      message: "every pod needs a team label"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: ${policy}}
spec:
  policyName: ${policy}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {${policy}: enforced}
`);
    // The API server compiles the policy and learns the binding asynchronously: wait until
    // a server-side dry run is refused.
    const probe = await manifest("vap-probe", pod("vap-probe"));
    for (let i = 0; i < 100; i++) {
      const denied = await kubectl("create", "--dry-run=server", "-n", ns, "-f", probe).then(
        () => false,
        (err: Error) => /denied request/.test(err.message),
      );
      if (denied) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    try {
      const { code, t } = await rejected("rejected-policy", await manifest("vap", pod("vap")));
      expect(code).toBe(2);
      expect(t.verdict.summary).toMatch(
        new RegExp(`^rejected by ValidatingAdmissionPolicy "${policy}" \\(binding "${policy}"\\): .*every pod needs a team label`),
      );
    } finally {
      await kubectl("label", "namespace", ns, `${policy}-`);
    }
  });
});

// The apiserver must reach the test's loopback: only the local cluster's can.
describe.runIf(APISERVER_ON_LOOPBACK)("an admission webhook on loopback, served by the test", () => {
  const webhook = `deny.${policy}.podtrace.dev`;
  let server: Server | undefined;
  let port = 0;
  const reviews: string[] = [];

  beforeAll(async () => {
    // A certificate for 127.0.0.1, which the API server checks against the caBundle.
    await exec("openssl", [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=podtrace-e2e-webhook",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
      "-keyout",
      join(dir, "webhook.key"),
      "-out",
      join(dir, "webhook.crt"),
    ]);
    const cert = await readFile(join(dir, "webhook.crt"));
    server = createServer({ key: await readFile(join(dir, "webhook.key")), cert }, (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const review = JSON.parse(body) as { request: { uid: string; name?: string } };
        reviews.push(review.request.uid);
        res.setHeader("Content-Type", "application/json");
        res.end(
          JSON.stringify({
            apiVersion: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: { uid: review.request.uid, allowed: false, status: { code: 403, message: "pods here need an owner annotation" } },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
    await kubectl("label", "namespace", ns, `${policy}-webhook=enforced`, "--overwrite");
    await apply(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: ${policy}}
webhooks:
  - name: ${webhook}
    clientConfig:
      url: https://127.0.0.1:${port}/validate
      caBundle: ${cert.toString("base64")}
    rules:
      - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"]}
    namespaceSelector:
      matchLabels: {${policy}-webhook: enforced}
    failurePolicy: Fail
    sideEffects: None
    admissionReviewVersions: ["v1"]
    timeoutSeconds: 5
`);
    // Wait until the API server calls it.
    const probe = await manifest("webhook-probe", pod("webhook-probe"));
    for (let i = 0; i < 100 && reviews.length === 0; i++) {
      await kubectl("create", "--dry-run=server", "-n", ns, "-f", probe).catch(() => "");
      if (reviews.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
  });
  afterAll(async () => {
    await kubectl("delete", "validatingwebhookconfiguration", policy, "--ignore-not-found").catch(() => "");
    await kubectl("label", "namespace", ns, `${policy}-webhook-`).catch(() => "");
    server?.close();
  });

  it("a webhook that denies: exit 2, naming the webhook, with its message", async () => {
    const { code, t } = await rejected("rejected-webhook", await manifest("webhook", pod("webhook")));
    expect(code).toBe(2);
    expect(t.verdict.summary).toMatch(
      new RegExp(
        `^rejected by admission webhook "${webhook.replace(/\./g, "\\.")}": .*denied the request: pods here need an owner annotation`,
      ),
    );
  });

  it("a webhook the API server cannot call: exit 3, the cluster could not decide", async () => {
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const { code, t } = await rejected("rejected-webhook-unreachable", await manifest("webhook", pod("webhook")));
    expect(code).toBe(3);
    expect(t.verdict.summary).toMatch(
      new RegExp(`^rejected by admission webhook "${webhook.replace(/\./g, "\\.")}" \\(not reachable\\): .*failed calling webhook`),
    );
  });
});

describe("refused access: exit 3", () => {
  let token = "";
  let server = "";
  let caFile = "";
  let tokenKubeconfig = "";
  const sa = "limited";

  beforeAll(async () => {
    // May read what podtrace watches, may not create pods.
    await apply(`apiVersion: v1
kind: ServiceAccount
metadata: {name: ${sa}, namespace: ${ns}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ${sa}, namespace: ${ns}}
rules:
  - {apiGroups: [""], resources: [pods, events, services], verbs: [get, list, watch]}
  - {apiGroups: [events.k8s.io], resources: [events], verbs: [get, list, watch]}
  - {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [get, list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${sa}, namespace: ${ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ${sa}}
subjects: [{kind: ServiceAccount, name: ${sa}, namespace: ${ns}}]
`);
    token = (await kubectl("create", "token", sa, "-n", ns, "--duration=10m")).trim();
    server = (await kubectl("config", "view", "--minify", "--raw", "-o", "jsonpath={.clusters[0].cluster.server}")).trim();
    const caData = (
      await kubectl("config", "view", "--minify", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}")
    ).trim();
    caFile = join(dir, "ca.crt");
    await writeFile(caFile, Buffer.from(caData, "base64"));
    tokenKubeconfig = join(dir, "limited.kubeconfig");
    await writeFile(
      tokenKubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", certificate-authority: "${caFile}"}}]
users: [{name: ${sa}, user: {token: "${token}"}}]
contexts: [{name: ${sa}, context: {cluster: c, user: ${sa}, namespace: ${ns}}}]
current-context: ${sa}
`,
    );
  });

  it("a ServiceAccount token kubeconfig without permission to create pods: RBAC", async () => {
    const file = await manifest("rbac", pod("rbac"));
    const r = await podtrace(["run", "-f", file, "-o", "json", "--record", recordTo("rejected-rbac")], { KUBECONFIG: tokenKubeconfig });
    expect(r.code).toBe(3);
    const t = JSON.parse(r.stdout) as Timeline;
    expect(t.verdict.summary).toMatch(
      new RegExp(`^rejected by RBAC: pods is forbidden: User "system:serviceaccount:${ns}:${sa}" cannot create resource "pods"`),
    );
    expect(t.verdict.next).toContain(`kubectl auth can-i --list -n ${ns}`);
    expect(await leftovers(ns)).toEqual([]);
  });

  it("the same token as kubectl's flags, with no kubeconfig at all", async () => {
    const file = await manifest("rbac", pod("rbac"));
    const r = await podtrace(["run", "-f", file, "-n", ns, "-q", "--server", server, "--certificate-authority", caFile, "--token", token], {
      KUBECONFIG: "",
      HOME: dir,
    });
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/rejected by RBAC: .*system:serviceaccount/);
    // Without the CA the server's certificate is not trusted; with --insecure-skip-tls-verify it is not checked.
    const untrusted = await podtrace(["run", "-f", file, "-n", ns, "-q", "--server", server, "--token", token], {
      KUBECONFIG: "",
      HOME: dir,
    });
    expect(untrusted.code).toBe(3);
    expect(untrusted.stderr).toMatch(/cannot reach the cluster/);
    const insecure = await podtrace(
      ["run", "-f", file, "-n", ns, "-q", "--server", server, "--token", token, "--insecure-skip-tls-verify"],
      {
        KUBECONFIG: "",
        HOME: dir,
      },
    );
    expect(insecure.code).toBe(3);
    expect(insecure.stdout).toMatch(/rejected by RBAC/);
  });

  it("--as impersonates the ServiceAccount with the admin's kubeconfig; --as-group adds a group", async () => {
    const file = await manifest("rbac", pod("rbac"));
    const r = await podtrace(["run", "-f", file, "-n", ns, "-q", "--as", `system:serviceaccount:${ns}:${sa}`]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(new RegExp(`rejected by RBAC: .*User "system:serviceaccount:${ns}:${sa}" cannot create resource "pods"`));
    // A group that may do everything: the impersonated user creates the pod.
    const admin = await podtrace([
      "run",
      "-f",
      "test/fixtures/manifests/one-container.yaml",
      "-n",
      ns,
      "-q",
      "--as",
      "podtrace-e2e-user",
      "--as-group",
      "system:masters",
    ]);
    expect(admin.stderr).not.toMatch(/ERROR/);
    expect(admin.code).toBe(0);
    expect(await leftovers(ns)).toEqual([]);
  });

  it("--request-timeout limits every request: a cluster slower than that is reported as not answering", async () => {
    const r = await podtrace(["run", "-f", "test/fixtures/manifests/one-container.yaml", "-n", ns, "--request-timeout", "1ms"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/did not answer within 1 ms\n.*raise --request-timeout/);
    expect(await leftovers(ns)).toEqual([]);
  });

  it("no kubeconfig, no ~/.kube/config and no --server: no cluster configured", async () => {
    const r = await podtrace(["run", "-f", await manifest("rbac", pod("rbac"))], { KUBECONFIG: "", HOME: dir });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("ERROR: no cluster configured");
    expect(r.stderr).toMatch(/--kubeconfig FILE, KUBECONFIG=FILE/);
    expect(r.stderr).not.toMatch(/localhost:8080|internal error/);
  });
});
