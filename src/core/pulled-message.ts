/**
 * The kubelet's Pulled event message. Its wording grew over releases: "in X" (about
 * 1.19), "(X including waiting)" (about 1.26), "Image size: N bytes." (about 1.29); each
 * part is parsed on its own when present, and nothing else is assumed.
 */
import { parseGoDuration } from "./go-duration.ts";

export interface PulledDetails {
  image: string | null;
  alreadyPresent: boolean;
  /** The kubelet's own measure of the pull. */
  pullMs: number | null;
  /** Pull time including waiting for other pulls (serialized pulls). */
  totalMs: number | null;
  imageSizeBytes: number | null;
}

export function parsePulledMessage(message: string): PulledDetails {
  const image = /image "([^"]+)"/.exec(message)?.[1] ?? null;
  const alreadyPresent = /already present/i.test(message);
  const pull = /\bin ([0-9][0-9.a-zµμ]*)/.exec(message)?.[1];
  const total = /\(([0-9][0-9.a-zµμ]*) including waiting\)/.exec(message)?.[1];
  const size = /Image size: (\d+) bytes/.exec(message)?.[1];
  return {
    image,
    alreadyPresent,
    pullMs: pull ? parseGoDuration(pull) : null,
    totalMs: total ? parseGoDuration(total) : null,
    imageSizeBytes: size ? Number(size) : null,
  };
}
