/**
 * Container marks (containers.ts) read from recordings: each start, restart and exit the
 * kubelet made, from its Events (their name times and occurrences) and the pod's status.
 */
import { describe, expect, it } from "vitest";
import { estimateClocks } from "../../src/core/clock-offset.ts";
import { ContainerReader, type ContainerMarks } from "../../src/core/containers.ts";
import { indexObservations } from "../../src/core/observed-run.ts";
import { containersInStartOrder, lastSnapshot } from "../../src/core/pod-status.ts";
import { PodSignals } from "../../src/core/signals.ts";
import { place } from "../../src/core/window.ts";
import { loadRecording } from "../support/recordings.ts";

function marks(name: string): Map<string, ContainerMarks> {
  const run = indexObservations(loadRecording(name).observations);
  const pod = lastSnapshot(run.pods)!.pod;
  const meta = pod["metadata"] as { name: string; uid: string };
  const reader = new ContainerReader(new PodSignals(run, estimateClocks(run), 0, { name: meta.name, uid: meta.uid, object: pod }), place);
  return new Map(containersInStartOrder(pod).map((c) => [c.name, reader.marks(c)]));
}

describe("container marks", () => {
  it("orders a container's pull, create and start, each placed to the millisecond by its Event's name time", () => {
    const m = marks("one-container").get("main")!;
    expect(m.pulled!.at).toBeLessThan(m.created!.at);
    expect(m.created!.at).toBeLessThan(m.started!.at);
    expect(m.started!.sources[0]).toMatch(/name's creation time/);
    expect(m.started!.quality).toBe("exact");
    expect(m.restarts).toEqual([]);
  });

  it("reads each restart from the Events' occurrences and the exits from the status", () => {
    const m = marks("crash-restarts").get("app")!;
    expect(m.restarts.map((r) => r.attempt)).toEqual([2, 3]);
    for (const r of m.restarts) {
      expect(r.previousExitCode).toBe(1);
      expect(r.previousExit!.at).toBeLessThan(r.pulled!.at);
      expect(r.pulled!.at).toBeLessThanOrEqual(r.created!.at);
      expect(r.created!.at).toBeLessThanOrEqual(r.started!.at);
    }
    // What follows the last start: running and ready again.
    expect(m.ready!.at).toBeGreaterThan(m.restarts[1]!.started!.at);
  });

  it("takes an init container's exit from its finishedAt, no earlier than a relist before its report", () => {
    const m = marks("init-containers").get("seed")!;
    expect(m.exitCode).toBe(0);
    expect(m.exited!.earliest).toBeGreaterThan(m.started!.at);
    expect(m.exited!.latest - m.exited!.earliest).toBeLessThanOrEqual(1200);
  });

  it("places a start from the status alone when the kubelet's rate limit dropped its events", () => {
    const c10 = marks("many-containers").get("c10")!;
    expect(c10.startedFromStatus).toBe(true);
    expect(c10.pulled).toBeNull();
    expect(c10.started).not.toBeNull();
  });
});
