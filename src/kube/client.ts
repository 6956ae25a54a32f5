/**
 * The API client: kubeconfig, authentication and TLS come from @kubernetes/client-node
 * (so exec plugins, tokens, client certificates and kind's kubeconfigs all work), requests
 * go out raw. Raw JSON keeps what the typed models lose (eventTime's microseconds) and
 * the response headers (Date) that the clock estimate needs.
 *
 * One undici dispatcher (a connection pool) serves the whole run, so requests and watches
 * reuse connections and the create request's latency is the request's own, not a TCP and
 * TLS handshake's. It is built once from the kubeconfig's TLS settings and the proxy
 * kubectl would use; credentials that can change (exec plugins, token files) are applied to
 * every request as client-node applies them, and new client certificates (an exec plugin
 * may rotate them) get a new pool.
 */
// The kubeconfig module alone: the package's index also loads the generated API, which
// podtrace does not use (several hundred kB of start-up).
import { KubeConfig } from "@kubernetes/client-node/dist/config.js";
import type { RequestOptions } from "node:https";
import type { ConnectionOptions } from "node:tls";
import { Agent, ProxyAgent, Socks5ProxyAgent, type Dispatcher } from "undici";
import { BadInputError, ClusterAccessError } from "../errors.ts";
import type { RawObject } from "../core/observation.ts";
import { clientNow } from "./clock.ts";
import { proxyFor, type ProxyChoice, type ProxyEnv } from "./proxy.ts";
import type { WatchTransport } from "./watch.ts";

/** Shown by the API server as the field manager and in audit logs. */
const USER_AGENT = "podtrace";

/** How a run reaches its cluster; an options object so flags can be added without breaking callers. */
export interface ClientOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
  /** The environment the proxy variables are read from (HTTPS_PROXY, NO_PROXY, ...); process.env by default. */
  env?: ProxyEnv | undefined;
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

/** A streaming response (a watch): the caller reads or discards the body. */
export interface ApiStream {
  status: number;
  body: AsyncIterable<Uint8Array>;
  text(): Promise<string>;
}

/** Lists as PartialObjectMetadataList: names and labels without specs and statuses (as kubectl's -o name asks). */
export const METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/**
 * Idle connections are kept this long between requests: a run is quiet for seconds while
 * the pod starts, then reads and deletes. Below the API server's own idle timeout (90 s),
 * so the client, not the server, closes an idle connection.
 */
const KEEP_ALIVE_MS = 60_000;

export class KubeClient {
  readonly server: string;
  readonly namespace: string;
  readonly contextName: string;
  /** The proxy requests go through, as kubectl would choose it. */
  readonly proxy: ProxyChoice;

  private readonly config: KubeConfig;
  private readonly origin: string;
  /** A server URL may carry a path (a cluster behind a gateway): requests go below it. */
  private readonly pathPrefix: string;
  private pool: { dispatcher: Dispatcher; tls: ConnectionOptions } | null = null;
  private version: Promise<string | null> | undefined;

  private constructor(config: KubeConfig, namespace: string, env: ProxyEnv) {
    this.config = config;
    const cluster = config.getCurrentCluster();
    if (!cluster)
      throw new BadInputError("the kubeconfig has no current cluster", "pass --context, or set current-context in the kubeconfig");
    this.server = cluster.server.replace(/\/+$/, "");
    let url: URL;
    try {
      url = new URL(this.server);
    } catch (err) {
      throw new BadInputError(`the kubeconfig's server "${cluster.server}" is not a URL`, "fix clusters[].cluster.server", { cause: err });
    }
    this.origin = url.origin;
    this.pathPrefix = url.pathname.replace(/\/+$/, "");
    this.namespace = namespace;
    this.contextName = config.getCurrentContext();
    this.proxy = proxyFor(this.server, cluster.proxyUrl, env);
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
    return new KubeClient(config, options.namespace || contextNamespace || "default", options.env ?? process.env);
  }

  /**
   * One raw API request. Network failures become ClusterAccessError (exit 3). `accept`
   * may ask for less than the whole objects, e.g. METADATA_ONLY for a list.
   */
  async request(
    method: "GET" | "POST" | "DELETE" | "PATCH" | "PUT",
    path: string,
    body?: unknown,
    signal?: AbortSignal,
    accept = "application/json",
  ): Promise<ApiResponse> {
    const { headers, dispatcher } = await this.prepare();
    headers["accept"] = accept;
    if (body !== undefined) headers["content-type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    const sentAt = clientNow();
    let status: number;
    let date: string | null;
    let text: string;
    try {
      const response = await dispatcher.request({
        origin: this.origin,
        path: `${this.pathPrefix}${path}`,
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: signal ?? AbortSignal.timeout(30_000),
      });
      status = response.statusCode;
      const d = response.headers["date"];
      date = typeof d === "string" ? d : null;
      text = await response.body.text();
    } catch (err) {
      throw this.unreachable(err);
    }
    const receivedAt = clientNow();
    let parsed: RawObject;
    try {
      parsed = text ? (JSON.parse(text) as RawObject) : {};
    } catch {
      parsed = { message: text.slice(0, 500) };
    }
    return { status, body: parsed, text, date, sentAt, receivedAt };
  }

  /** Open a streaming GET (a watch); the caller owns the body. */
  async stream(path: string, signal: AbortSignal): Promise<ApiStream> {
    const { headers, dispatcher } = await this.prepare();
    headers["accept"] = "application/json";
    const response = await dispatcher.request({
      origin: this.origin,
      path: `${this.pathPrefix}${path}`,
      method: "GET",
      headers,
      signal,
      // A watch may be quiet for long: the watch's own inactivity watchdog decides when
      // silence means a dead connection.
      bodyTimeout: 0,
    });
    return { status: response.statusCode, body: response.body, text: () => response.body.text() };
  }

  /**
   * The server's version (gitVersion), read once: a run asks for it first thing, so the
   * connection is set up while the rest of the run gets ready. Fails with exit 3 when the
   * server does not answer as a Kubernetes API server.
   */
  serverVersion(): Promise<string | null> {
    this.version ??= this.request("GET", "/version").then((r) => {
      this.checkAccess(r, "reading the server version");
      if (r.status !== 200)
        throw new ClusterAccessError(
          `the API server at ${this.server} answered /version with HTTP ${r.status}`,
          "is this a Kubernetes API server? try: kubectl version",
        );
      return typeof r.body["gitVersion"] === "string" && r.body["gitVersion"] ? r.body["gitVersion"] : null;
    });
    return this.version;
  }

  /** Close the connections once the run is over. */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.dispatcher.destroy().catch(() => undefined);
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
    const own = err as { code?: string; message?: string };
    const detail = cause?.code ?? cause?.message ?? own.code ?? own.message;
    return new ClusterAccessError(
      `cannot reach the cluster at ${this.server} (context "${this.contextName}")${this.proxy.url ? ` through proxy ${redact(this.proxy.url)} (${this.proxy.from})` : ""}: ${detail}`,
      "is the cluster running? try: kubectl cluster-info",
      { cause: err },
    );
  }

  /**
   * The headers and TLS settings for one request, as client-node derives them from the
   * kubeconfig (applyToHTTPSOptions: the same reading applySecurityAuthentication does,
   * without building a new dispatcher each time); the pool is reused while the TLS
   * settings stay the same.
   */
  private async prepare(): Promise<{ headers: Record<string, string>; dispatcher: Dispatcher }> {
    const options: RequestOptions = {};
    try {
      await this.config.applyToHTTPSOptions(options);
    } catch (err) {
      throw new ClusterAccessError(
        `cannot get credentials for context "${this.contextName}": ${(err as Error).message}`,
        "check the kubeconfig's user (its exec plugin, token file or certificates)",
        { cause: err },
      );
    }
    const headers: Record<string, string> = { "user-agent": USER_AGENT };
    for (const [k, v] of Object.entries(options.headers ?? {})) if (v !== undefined) headers[k.toLowerCase()] = String(v);
    if (options.auth) headers["authorization"] = `Basic ${Buffer.from(options.auth).toString("base64")}`;
    const tls: ConnectionOptions = {};
    for (const key of ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const) {
      if (options[key] !== undefined) (tls as Record<string, unknown>)[key] = options[key];
    }
    if (!this.pool || !sameTls(this.pool.tls, tls)) {
      // Finish what the old pool carries (watches end at their server timeout and resume
      // on the new one).
      void this.pool?.dispatcher.close().catch(() => undefined);
      this.pool = { dispatcher: this.createDispatcher(tls), tls };
    }
    return { headers, dispatcher: this.pool.dispatcher };
  }

  private createDispatcher(tls: ConnectionOptions): Dispatcher {
    const pool = { keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS };
    // TCP keep-alive probes after 30 s idle, as client-go and client-node do.
    const connect = { ...tls, keepAlive: true, keepAliveInitialDelay: 30_000 };
    const proxy = this.proxy.url;
    if (!proxy) return new Agent({ ...pool, connect });
    const scheme = new URL(proxy).protocol;
    if (scheme === "socks5:" || scheme === "socks:") return new Socks5ProxyAgent(proxy, { ...pool, requestTls: connect });
    if (scheme === "http:" || scheme === "https:") return new ProxyAgent({ ...pool, uri: proxy, requestTls: connect });
    throw new BadInputError(
      `proxy ${redact(proxy)} (${this.proxy.from}): unsupported scheme ${scheme}`,
      "use an http, https or socks5 proxy URL",
    );
  }
}

function sameTls(a: ConnectionOptions, b: ConnectionOptions): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof ConnectionOptions>;
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (Buffer.isBuffer(x) && Buffer.isBuffer(y)) {
      if (!x.equals(y)) return false;
    } else if (x !== y) return false;
  }
  return true;
}

/** A proxy URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

export function apiMessage(r: ApiResponse): string {
  const m = r.body["message"];
  return typeof m === "string" && m ? m : `HTTP ${r.status}`;
}

/** The watch transport over this client. */
export function watchTransport(client: KubeClient): WatchTransport {
  return {
    list: async (path, signal) => {
      const r = await client.request("GET", path, undefined, signal);
      return { status: r.status, body: r.body };
    },
    open: (path, signal) => client.stream(path, signal),
  };
}
