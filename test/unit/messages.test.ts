/**
 * The message parsers, on messages the real cluster wrote (taken from the recordings),
 * plus the wordings of older kubelets that the recordings cannot contain.
 */
import { describe, expect, it } from "vitest";
import { parseFailedScheduling } from "../../src/core/failed-scheduling.ts";
import { parseGoDuration } from "../../src/core/go-duration.ts";
import { parsePulledMessage } from "../../src/core/pulled-message.ts";
import { recordedEvents } from "../support/recordings.ts";

describe("Pulled message", () => {
  it("parses a real pull: pull time, time including waiting, image size", () => {
    const pulled = recordedEvents("image-pulled").find((e) => e.reason === "Pulled");
    expect(pulled).toBeDefined();
    const d = parsePulledMessage(pulled!.message);
    expect(d.image).toBe("127.0.0.1:5000/bigimage:1");
    expect(d.alreadyPresent).toBe(false);
    expect(d.pullMs).toBeGreaterThan(0);
    expect(d.totalMs).toBeGreaterThanOrEqual(d.pullMs!);
    expect(d.imageSizeBytes).toBeGreaterThan(30 * 1024 * 1024);
  });

  it("parses a real already-present message", () => {
    const present = recordedEvents("one-container").find((e) => e.reason === "Pulled");
    expect(parsePulledMessage(present!.message)).toEqual({
      image: "127.0.0.1:5000/busybox:1",
      alreadyPresent: true,
      pullMs: null,
      totalMs: null,
      imageSizeBytes: null,
    });
  });

  it.each([
    // Before "including waiting" and "Image size" were added (about 1.19 to 1.25).
    ['Successfully pulled image "nginx:1.25" in 2.512345678s', { pullMs: 2512.345678, totalMs: null, imageSizeBytes: null }],
    // Before "Image size" (about 1.26 to 1.28).
    ['Successfully pulled image "nginx:1.25" in 812ms (1m2.5s including waiting)', { pullMs: 812, totalMs: 62500, imageSizeBytes: null }],
    // Older still: no duration at all.
    ['Successfully pulled image "nginx:1.25"', { pullMs: null, totalMs: null, imageSizeBytes: null }],
  ])("parses the older wording %s", (message, expected) => {
    expect(parsePulledMessage(message)).toMatchObject({ image: "nginx:1.25", alreadyPresent: false, ...expected });
  });
});

describe("FailedScheduling message", () => {
  it("parses the real messages into node counts per cause", () => {
    const selector = recordedEvents("unschedulable-selector").find((e) => e.reason === "FailedScheduling");
    expect(parseFailedScheduling(selector!.message)).toEqual({
      nodes: 1,
      reasons: [{ reason: "node(s) didn't match Pod's node affinity/selector", nodes: 1 }],
    });
    const cpu = recordedEvents("too-much-cpu").find((e) => e.reason === "FailedScheduling");
    expect(parseFailedScheduling(cpu!.message)).toEqual({ nodes: 1, reasons: [{ reason: "Insufficient cpu", nodes: 1 }] });
  });

  it("splits several causes, keeping taints whole", () => {
    const m =
      "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient memory. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    expect(parseFailedScheduling(m)).toEqual({
      nodes: 3,
      reasons: [
        { reason: "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }", nodes: 1 },
        { reason: "Insufficient memory", nodes: 2 },
      ],
    });
    expect(parseFailedScheduling("binding rejected: timeout")).toBeNull();
    // A reason about the pod itself carries no node count: it held for every node.
    const unbound = recordedEvents("pvc-unbound").find((e) => e.reason === "FailedScheduling" && /unbound immediate/.test(e.message));
    expect(parseFailedScheduling(unbound!.message)).toEqual({
      nodes: 1,
      reasons: [{ reason: "pod has unbound immediate PersistentVolumeClaims", nodes: 1 }],
    });
    // Before 1.34 the reasons were followed directly by the preemption part.
    expect(
      parseFailedScheduling(
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.",
      ),
    ).toEqual({
      nodes: 2,
      reasons: [{ reason: "Insufficient cpu", nodes: 2 }],
    });
  });
});

describe("time parsing and placement", () => {
  it.each([
    ["1.5s", 1500],
    ["823.4ms", 823.4],
    ["1m2.5s", 62500],
    ["350µs", 0.35000000000000003],
    ["2h0m0s", 7_200_000],
    ["0", 0],
    ["12", null],
    ["1.5x", null],
  ])("Go duration %s", (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });
});
