/**
 * A kind node's own containerd, for what the Kubernetes API cannot do: removing an image
 * from one node so that the next pull there is a real, cold one. A kind node is a
 * container of podman or Docker named after the node; on other clusters there is none.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** The container engine that runs this node, or null when it is not a kind node here. */
export async function nodeEngine(node: string): Promise<"podman" | "docker" | null> {
  for (const engine of ["podman", "docker"] as const) {
    try {
      await exec(engine, ["container", "inspect", "--format", "{{.Name}}", node]);
      return engine;
    } catch {
      // not this engine's container (or no such engine)
    }
  }
  return null;
}

async function ctr(engine: string, node: string, ...args: string[]): Promise<string> {
  const { stdout } = await exec(engine, ["exec", node, "ctr", "--namespace", "k8s.io", ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** The rows of a ctr listing, split into columns, without the header. */
async function rows(engine: string, node: string, ...args: string[]): Promise<string[][]> {
  return (await ctr(engine, node, ...args))
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length > 1);
}

/** The image's manifest digest and every reference to it: tag, repo digest and the image ID the CRI adds. */
async function references(engine: string, node: string, image: string): Promise<{ digest: string; refs: string[] } | null> {
  const images = await rows(engine, node, "images", "ls"); // REF TYPE DIGEST ...
  const digest = images.find((f) => f[0] === image)?.[2];
  return digest ? { digest, refs: images.filter((f) => f[2] === digest).map((f) => f[0]!) } : null;
}

export async function nodeHasImage(engine: string, node: string, image: string): Promise<boolean> {
  return (await references(engine, node, image)) !== null;
}

/** The snapshot containerd unpacks the image's top layer into, named by its chain ID (OCI image spec). */
async function topLayerSnapshot(engine: string, node: string, manifestDigest: string): Promise<string> {
  const manifest = JSON.parse(await ctr(engine, node, "content", "get", manifestDigest)) as { config: { digest: string } };
  const config = JSON.parse(await ctr(engine, node, "content", "get", manifest.config.digest)) as { rootfs: { diff_ids: string[] } };
  return config.rootfs.diff_ids.reduce(
    (chain, diff) => (chain ? `sha256:${createHash("sha256").update(`${chain} ${diff}`).digest("hex")}` : diff),
    "",
  );
}

/**
 * Removes IMAGE from NODE as `crictl rmi` would, every reference included, and makes sure
 * its layers went too: the next pull on NODE downloads and unpacks it. Left behind, a
 * reference or a container would keep the unpacked layers and that "pull" would be instant.
 */
export async function removeImageFromNode(engine: string, node: string, image: string): Promise<void> {
  const found = await references(engine, node, image);
  if (!found) return;
  const top = await topLayerSnapshot(engine, node, found.digest);
  // The kubelet removes the containers of deleted pods up to a minute later (its container
  // garbage collection); until then they hold the image's layers.
  for (let i = 0; i < 60; i++) {
    const containers = await rows(engine, node, "containers", "ls"); // CONTAINER IMAGE RUNTIME
    if (!containers.some((f) => found.refs.includes(f[1]!))) break;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  await ctr(engine, node, "images", "rm", "--sync", ...found.refs);
  const snapshots = await rows(engine, node, "snapshots", "ls"); // KEY PARENT KIND
  if (snapshots.some((f) => f[0] === top))
    throw new Error(`the layers of ${image} are still on ${node} (snapshot ${top}): a container still uses them`);
}
