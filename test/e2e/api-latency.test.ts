/**
 * podtrace through test/support/delay-proxy.ts on the real local cluster: the apiserver
 * 50 ms away each way, TLS end to end, as a remote cluster would be. The run completes
 * with every phase, and the create request's round trip includes at least one added
 * round trip (a lower bound: the proxy cannot make anything faster) but no more than its
 * own: no handshake (it is timed from when its headers went out, on a connection the run
 * has opened), which would add at least one more.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CreateObservation } from "../../src/core/observation.ts";
import { parseRecording } from "../../src/trace/recording.ts";
import { podtrace } from "../support/cli.ts";
import { APISERVER_ON_LOOPBACK, KUBECONFIG, createNamespace, deleteNamespace, leftovers } from "../support/cluster.ts";
import { kubeconfigThrough, startDelayProxy, type DelayProxy } from "../support/delay-proxy.ts";
import { readFile } from "node:fs/promises";

let ns = "";
let proxy: DelayProxy;
const DELAY_MS = 50;
const dir = mkdtempSync(`${tmpdir()}/podtrace-latency-`);
beforeAll(async () => {
  // The proxy stands before an apiserver on this host's loopback: the local cluster.
  if (!APISERVER_ON_LOOPBACK) return;
  ns = await createNamespace("latency-e2e");
  proxy = await startDelayProxy({ delayMs: DELAY_MS });
  kubeconfigThrough(KUBECONFIG, proxy.port, `${dir}/kubeconfig`);
});
afterAll(async () => {
  await proxy?.close();
  if (ns) await deleteNamespace(ns);
  rmSync(dir, { recursive: true, force: true });
});

describe.runIf(APISERVER_ON_LOOPBACK)(`an apiserver ${DELAY_MS} ms away`, () => {
  it("traces a pod to Ready through the proxy and cleans up", async () => {
    const recording = `${dir}/run.ndjson`;
    const r = await podtrace(["run", "test/fixtures/manifests/one-container.yaml", "-n", ns, "--record", recording], {
      KUBECONFIG: `${dir}/kubeconfig`,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(proxy.connections()).toBeGreaterThan(0);
    const { observations } = parseRecording(await readFile(recording, "utf8"), recording);
    const create = observations.find((o): o is CreateObservation => o.kind === "create")!;
    expect(create.receivedAt - create.sentAt).toBeGreaterThanOrEqual(2 * DELAY_MS);
    expect(create.receivedAt - create.sentAt).toBeLessThan(3 * DELAY_MS);
    expect(await leftovers(ns)).toEqual([]);
  });
});
