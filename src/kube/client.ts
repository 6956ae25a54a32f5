/**
 * The API client: kubeconfig, authentication and TLS come from @kubernetes/client-node
 * (so exec plugins, tokens, client certificates and kind's kubeconfigs all work), requests
 * go out raw. Raw JSON keeps what the typed models lose (eventTime's microseconds) and
 * the response headers (Date) that the clock estimate needs.
 */
import { HttpMethod, KubeConfig, RequestContext } from "@kubernetes/client-node";
import { fetch, type Response } from "undici";
import { BadInputError, ClusterAccessError } from "../errors.ts";
import type { RawObject } from "../core/observation.ts";
import { clientNow } from "./clock.ts";

/** Shown by the API server as the field manager and in audit logs. */
const USER_AGENT = "podtrace";

export interface ClientOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface ApiResponse {
  status: number;
  body: RawObject;
  /** The body as text (logs are plain text). */
  text: string;
  /** The response's Date header. */
  date: string | null;
  sentAt: number;
  receivedAt: number;
}

export class KubeClient {
  readonly server: string;
  readonly namespace: string;
  readonly contextName: string;

  private readonly config: KubeConfig;

  private constructor(config: KubeConfig, namespace: string) {
    this.config = config;
    const cluster = config.getCurrentCluster();
    if (!cluster)
      throw new BadInputError("the kubeconfig has no current cluster", "pass --context, or set current-context in the kubeconfig");
    this.server = cluster.server.replace(/\/+$/, "");
    this.namespace = namespace;
    this.contextName = config.getCurrentContext();
  }

  static load(options: ClientOptions): KubeClient {
    const config = new KubeConfig();
    try {
      if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
      else config.loadFromDefault();
    } catch (err) {
      throw new BadInputError(
        `cannot load kubeconfig ${options.kubeconfig ? `"${options.kubeconfig}"` : "(KUBECONFIG or ~/.kube/config)"}: ${(err as Error).message}`,
        "pass --kubeconfig FILE or set KUBECONFIG",
        { cause: err },
      );
    }
    if (options.context) {
      if (!config.getContextObject(options.context)) {
        const known = config.getContexts().map((c) => c.name);
        throw new BadInputError(`context "${options.context}" is not in the kubeconfig`, `known contexts: ${known.join(", ") || "none"}`);
      }
      config.setCurrentContext(options.context);
    }
    if (!config.getCurrentCluster()) {
      throw new BadInputError(
        "no Kubernetes cluster is configured",
        "pass --kubeconfig FILE, set KUBECONFIG, or create ~/.kube/config (for the local cluster: bash hack/local-up-cluster.sh)",
      );
    }
    const contextNamespace = config.getContextObject(config.getCurrentContext())?.namespace;
    return new KubeClient(config, options.namespace || contextNamespace || "default");
  }

  /** One raw API request. Network failures become ClusterAccessError (exit 3). */
  async request(
    method: "GET" | "POST" | "DELETE" | "PATCH" | "PUT",
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<ApiResponse> {
    const url = `${this.server}${path}`;
    const ctx = new RequestContext(url, method as HttpMethod);
    await this.config.applySecurityAuthentication(ctx);
    const headers: Record<string, string> = { ...ctx.getHeaders(), Accept: "application/json", "User-Agent": USER_AGENT };
    if (body !== undefined) headers["Content-Type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    const sentAt = clientNow();
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        dispatcher: ctx.getDispatcher(),
        signal: signal ?? AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw this.unreachable(err);
    }
    const text = await response.text();
    const receivedAt = clientNow();
    let parsed: RawObject;
    try {
      parsed = text ? (JSON.parse(text) as RawObject) : {};
    } catch {
      parsed = { message: text.slice(0, 500) };
    }
    return { status: response.status, body: parsed, text, date: response.headers.get("date"), sentAt, receivedAt };
  }

  /** Open a streaming GET (a watch); the caller owns the body. */
  async stream(path: string, signal: AbortSignal): Promise<Response> {
    const url = `${this.server}${path}`;
    const ctx = new RequestContext(url, "GET" as HttpMethod);
    await this.config.applySecurityAuthentication(ctx);
    return fetch(url, {
      method: "GET",
      headers: { ...ctx.getHeaders(), Accept: "application/json", "User-Agent": USER_AGENT },
      dispatcher: ctx.getDispatcher(),
      signal,
    });
  }

  /** Fail with exit 3 and the API's own words when a response says access is denied. */
  checkAccess(r: ApiResponse, what: string): void {
    if (r.status === 401)
      throw new ClusterAccessError(
        `${what}: unauthorized (401): ${apiMessage(r)}`,
        "the kubeconfig's credentials were not accepted; check the context with: kubectl auth whoami",
      );
    if (r.status === 403)
      throw new ClusterAccessError(
        `${what}: forbidden (403): ${apiMessage(r)}`,
        `check your permissions with: kubectl auth can-i --list -n ${this.namespace}`,
      );
  }

  unreachable(err: unknown): ClusterAccessError {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const detail = cause?.code ?? cause?.message ?? (err as Error).message;
    return new ClusterAccessError(
      `cannot reach the cluster at ${this.server} (context "${this.contextName}"): ${detail}`,
      "is the cluster running? try: kubectl cluster-info",
      { cause: err },
    );
  }
}

export function apiMessage(r: ApiResponse): string {
  const m = r.body["message"];
  return typeof m === "string" && m ? m : `HTTP ${r.status}`;
}

/** The watch transport over this client. */
export function watchTransport(client: KubeClient): import("./watch.ts").WatchTransport {
  return {
    list: async (path, signal) => {
      const r = await client.request("GET", path, undefined, signal);
      return { status: r.status, body: r.body };
    },
    open: async (path, signal) => {
      const r = await client.stream(path, signal);
      return { status: r.status, body: r.body as ReadableStream<Uint8Array> | null, text: () => r.text() };
    },
  };
}
