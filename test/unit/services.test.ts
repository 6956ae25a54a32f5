/**
 * Services and the traced pod: which existing Services select it, and the Service
 * --service creates (ClusterIP with the declared ports; headless without ports when none
 * are declared, since endpoint publication needs none).
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseManifests } from "../../src/kube/manifest.ts";
import { RUN_LABEL } from "../../src/trace/pod-naming.ts";
import { selects, serviceFor } from "../../src/trace/services.ts";

const objects = parseManifests(await readFile(new URL("../e2e/manifests/web-app.yaml", import.meta.url), "utf8"), "web-app.yaml").map(
  (o) => o.object,
);
const service = objects.find((o) => o["kind"] === "Service")!;
const web = parseManifests(await readFile(new URL("../../examples/web.yaml", import.meta.url), "utf8"), "web.yaml")[0]!.object;
const noPorts = parseManifests(await readFile(new URL("../fixtures/manifests/one-container.yaml", import.meta.url), "utf8"), "x")[0]!
  .object;

describe("selects", () => {
  it("selects pods whose labels include every pair of the selector", () => {
    expect(selects(service, { app: "podtrace-web-app" })).toBe(true);
    expect(selects(service, { app: "podtrace-web-app", [RUN_LABEL]: "abcde" })).toBe(true);
    expect(selects(service, { app: "something-else" })).toBe(false);
    expect(selects(service, {})).toBe(false);
  });

  it("never matches with an empty or missing selector (such a Service selects no pods)", () => {
    expect(selects({ spec: { selector: {} } }, { app: "x" })).toBe(false);
    expect(selects({ spec: {} }, { app: "x" })).toBe(false);
  });
});

describe("serviceFor", () => {
  it("exposes the declared container ports on a ClusterIP Service selecting the run's pods", () => {
    const s = serviceFor({ ...web, metadata: { namespace: "ns" } }, "web-abcde", "abcde");
    expect(s).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web-abcde", namespace: "ns", labels: { [RUN_LABEL]: "abcde" } },
      spec: {
        type: "ClusterIP",
        selector: { [RUN_LABEL]: "abcde" },
        ports: [{ name: "p8080-tcp", port: 8080, targetPort: 8080, protocol: "TCP" }],
      },
    });
  });

  it("is headless and without ports when the pod declares none", () => {
    const s = serviceFor(noPorts, "one-abcde", "abcde");
    expect(s["spec"]).toEqual({ type: "ClusterIP", clusterIP: "None", selector: { [RUN_LABEL]: "abcde" } });
  });
});
