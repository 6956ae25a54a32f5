/**
 * Which REST resource serves a kind, and whether it lives in a namespace: read from the API
 * server's discovery documents (/api/v1, /apis/<group>/<version>), as kubectl's REST mapper
 * does, so any kind the cluster serves (custom resources included) can be created by path.
 */
import { BadInputError, ClusterAccessError } from "../errors.ts";
import type { RawObject } from "../core/observation.ts";
import type { KubeClient } from "./client.ts";

export interface ResourceMapping {
  /** "configmaps". */
  resource: string;
  namespaced: boolean;
  /** "/api/v1" or "/apis/apps/v1". */
  groupVersionPath: string;
}

export class Discovery {
  private readonly client: KubeClient;
  private readonly lists = new Map<string, Promise<RawObject[]>>();

  constructor(client: KubeClient) {
    this.client = client;
  }

  async mapping(apiVersion: string, kind: string): Promise<ResourceMapping> {
    const groupVersionPath = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    let list = this.lists.get(groupVersionPath);
    if (!list) {
      list = this.fetch(groupVersionPath, apiVersion);
      this.lists.set(groupVersionPath, list);
    }
    // Subresources ("pods/log") share the kind; the resource itself has no slash.
    const found = (await list).find((r) => r["kind"] === kind && typeof r["name"] === "string" && !r["name"].includes("/"));
    if (!found)
      throw new BadInputError(
        `the cluster serves no kind ${kind} in ${apiVersion}`,
        "check apiVersion and kind with: kubectl api-resources",
      );
    return { resource: String(found["name"]), namespaced: found["namespaced"] === true, groupVersionPath };
  }

  private async fetch(path: string, apiVersion: string): Promise<RawObject[]> {
    const r = await this.client.request("GET", path);
    this.client.checkAccess(r, `reading the API's discovery document ${path}`);
    if (r.status === 404)
      throw new BadInputError(`the cluster does not serve ${apiVersion}`, "check apiVersion with: kubectl api-versions");
    if (r.status >= 500) throw new ClusterAccessError(`reading the API's discovery document ${path}: HTTP ${r.status}`);
    if (r.status !== 200) throw new BadInputError(`reading ${path}: HTTP ${r.status}`);
    const resources = r.body["resources"];
    return Array.isArray(resources) ? (resources as RawObject[]) : [];
  }
}
