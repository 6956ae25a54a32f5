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
import { subscribe } from "node:diagnostics_channel";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import type { Cluster, User } from "@kubernetes/client-node";
// The kubeconfig module alone: the package's index also loads the generated API, which
// podtrace does not use (several hundred kB of start-up).
import { KubeConfig } from "@kubernetes/client-node/dist/config.js";
import type { RequestOptions } from "node:https";
import type { ConnectionOptions } from "node:tls";
import { Agent, ProxyAgent, Socks5ProxyAgent, type Dispatcher } from "undici";
import { BadInputError, ClusterAccessError, RequestNotSentError } from "../errors.ts";
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
  /** kubectl's global flags, applied over the kubeconfig as kubectl applies them. */
  /** --server: the API server's address. */
  server?: string | undefined;
  /** --token: a bearer token. */
  token?: string | undefined;
  /** --as: the user to impersonate. */
  as?: string | undefined;
  /** --as-group: groups to impersonate (with or without --as). */
  asGroups?: string[] | undefined;
  /** --certificate-authority: a CA file for the server's certificate. */
  certificateAuthority?: string | undefined;
  /** --insecure-skip-tls-verify: do not check the server's certificate. */
  insecureSkipTlsVerify?: boolean | undefined;
  /** --request-timeout in ms: how long one request may take (0: no limit). Default 30 s. */
  requestTimeoutMs?: number | undefined;
  /** The environment (KUBECONFIG, HOME); process.env by default. */
  env?: NodeJS.ProcessEnv | undefined;
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

/**
 * When a request's headers went out, by undici's own account (its documented diagnostics
 * channels): a request handed over while the connection is still being made leaves only
 * once the handshake is done, and a run sends its first requests, the create among them,
 * at once. Timed at the hand-over instead, the create's round trip (admission) would have
 * the TLS handshake in it. undici makes a request's Request when a connection takes it
 * (later than the hand-over while connecting), in the order they were handed over: each
 * Request it announces is matched to the first of ours with its method, origin and path
 * still waiting for one.
 */
interface Sending {
  /** Whether undici made its Request (only then does a missing send mean it never left). */
  made: boolean;
  /** Called with the time the headers were written. */
  sent(at: number): void;
}
const awaitingRequest = new Map<string, Sending[]>();
const headersSent = new WeakMap<object, Sending>();
type UndiciRequest = { method: string; origin: string; path: string };
const requestKey = (r: UndiciRequest) => `${r.method} ${r.origin}${r.path}`;
subscribe("undici:request:create", (message) => {
  const request = (message as { request: UndiciRequest }).request;
  const queue = awaitingRequest.get(requestKey(request));
  const ours = queue?.shift();
  if (ours) {
    ours.made = true;
    headersSent.set(request, ours);
  }
  if (queue?.length === 0) awaitingRequest.delete(requestKey(request));
});
subscribe("undici:client:sendHeaders", (message) => headersSent.get((message as { request: object }).request)?.sent(clientNow()));

/** How long one request may take unless --request-timeout says otherwise. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

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
  /** Headers of every request: impersonation (--as-group; client-node sends Impersonate-User itself). */
  private readonly extraHeaders: Record<string, string>;
  /** The limit on one request, ms; Infinity with --request-timeout 0. */
  private readonly requestTimeoutMs: number;
  private readonly origin: string;
  /** A server URL may carry a path (a cluster behind a gateway): requests go below it. */
  private readonly pathPrefix: string;
  private pool: { dispatcher: Dispatcher; tls: ConnectionOptions } | null = null;
  private version: Promise<string | null> | undefined;

  private constructor(
    config: KubeConfig,
    namespace: string,
    extraHeaders: Record<string, string>,
    requestTimeoutMs: number,
    env: ProxyEnv,
  ) {
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
    this.extraHeaders = extraHeaders;
    this.requestTimeoutMs = requestTimeoutMs;
    this.proxy = proxyFor(this.server, cluster.proxyUrl, env);
  }

  static load(options: ClientOptions): KubeClient {
    const config = loadKubeconfig(options);
    if (options.context) {
      if (!config.getContextObject(options.context)) {
        const known = config.getContexts().map((c) => c.name);
        throw new BadInputError(`context "${options.context}" is not in the kubeconfig`, `known contexts: ${known.join(", ") || "none"}`);
      }
      config.setCurrentContext(options.context);
    }
    applyFlags(config, options);
    if (!config.getCurrentCluster()) {
      throw new BadInputError(
        "the kubeconfig has no current context (or its context names no cluster)",
        `pass --context NAME (known: ${config
          .getContexts()
          .map((c) => c.name)
          .join(", ")}), or set one with: kubectl config use-context NAME`,
      );
    }
    const groups = options.asGroups ?? [];
    if (groups.length > 1) {
      // fetch joins repeated headers into one ("a, b"), which the API server would read as
      // one group of that name: refuse rather than impersonate the wrong group.
      throw new BadInputError(`--as-group given ${groups.length} times: podtrace impersonates one group per run`);
    }
    const contextNamespace = config.getContextObject(config.getCurrentContext())?.namespace;
    return new KubeClient(
      config,
      options.namespace || contextNamespace || "default",
      groups.length ? { "Impersonate-Group": groups[0]! } : {},
      options.requestTimeoutMs === undefined ? DEFAULT_REQUEST_TIMEOUT_MS : options.requestTimeoutMs || Infinity,
      options.env ?? process.env,
    );
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
    // Handed over now; sent when undici writes the headers (headersSent says why).
    let sentAt = clientNow();
    let sent = false;
    let receivedAt: number;
    let status: number;
    let date: string | null;
    let text: string;
    const key = requestKey({ method, origin: this.origin, path: `${this.pathPrefix}${path}` });
    const sending: Sending = {
      made: false,
      sent: (at) => {
        sentAt = at;
        sent = true;
      },
    };
    const waiting = awaitingRequest.get(key);
    if (waiting) waiting.push(sending);
    else awaitingRequest.set(key, [sending]);
    try {
      const response = await dispatcher.request({
        origin: this.origin,
        path: `${this.pathPrefix}${path}`,
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        signal: this.withTimeout(signal),
      });
      // The answer arrived with its headers; the body follows in the same reads, or, for a
      // long list, after it.
      receivedAt = clientNow();
      status = response.statusCode;
      const d = response.headers["date"];
      date = typeof d === "string" ? d : null;
      text = await response.body.text();
    } catch (err) {
      const unreachable = this.unreachable(err);
      // Not seen leaving: never sent, if undici's Request was seen at all (a proxy agent
      // that rewrites the request makes one this cannot match: then it may have been).
      if (sent || !sending.made) throw unreachable;
      throw new RequestNotSentError(unreachable.message, unreachable.hint, { cause: err });
    } finally {
      // Failed before undici made its Request (aborted while queued): not waiting any more.
      const queue = awaitingRequest.get(key);
      if (queue?.includes(sending)) {
        queue.splice(queue.indexOf(sending), 1);
        if (!queue.length) awaitingRequest.delete(key);
      }
    }
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

  /** The caller's signal, limited by --request-timeout (30 s by default). */
  private withTimeout(signal: AbortSignal | undefined): AbortSignal | undefined {
    const timeout = Number.isFinite(this.requestTimeoutMs) ? AbortSignal.timeout(this.requestTimeoutMs) : undefined;
    if (!signal) return timeout;
    return timeout ? AbortSignal.any([signal, timeout]) : signal;
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
    if ((err as Error).name === "TimeoutError") {
      return new ClusterAccessError(
        `the cluster at ${this.server} (context "${this.contextName}") did not answer within ${this.requestTimeoutMs} ms`,
        "is the cluster overloaded or far away? raise --request-timeout (0: no limit)",
        { cause: err },
      );
    }
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
    for (const [k, v] of Object.entries(this.extraHeaders)) headers[k.toLowerCase()] = v;
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

/**
 * The kubeconfig as kubectl finds it: --kubeconfig (which must exist), else the files in
 * KUBECONFIG that exist (merged, the first to set a name wins), else ~/.kube/config, else
 * the pod's service account when running in a cluster, else only the flags (--server). With
 * none of these there is no cluster to talk to: exit 3 with what to do, never a silent
 * fallback to localhost:8080.
 */
function loadKubeconfig(options: ClientOptions): KubeConfig {
  const env = options.env ?? process.env;
  const config = new KubeConfig();
  const load = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      throw new BadInputError(`cannot load kubeconfig ${what}: ${(err as Error).message}`, "pass --kubeconfig FILE or set KUBECONFIG", {
        cause: err,
      });
    }
  };
  if (options.kubeconfig) {
    const file = options.kubeconfig;
    load(`"${file}"`, () => config.loadFromFile(file));
    return config;
  }
  const listed = (env["KUBECONFIG"] ?? "").split(delimiter).filter(Boolean);
  const files = listed.length
    ? listed.filter((f) => existsSync(f))
    : [join(env["HOME"] || homedir(), ".kube", "config")].filter((f) => existsSync(f));
  if (files.length) {
    load(`"${files.join(delimiter)}"`, () => {
      config.loadFromFile(files[0]!);
      for (const file of files.slice(1)) {
        const next = new KubeConfig();
        next.loadFromFile(file);
        mergeFirstWins(config, next);
      }
    });
    return config;
  }
  if (env["KUBERNETES_SERVICE_HOST"] && existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")) {
    load("(in-cluster service account)", () => config.loadFromCluster());
    return config;
  }
  if (options.server) {
    // Flags alone, as with kubectl --server URL --token T: an empty kubeconfig they fill.
    config.loadFromOptions({
      clusters: [{ name: "flags", server: options.server, skipTLSVerify: false }],
      users: [{ name: "flags" }],
      contexts: [{ name: "flags", cluster: "flags", user: "flags" }],
      currentContext: "flags",
    });
    return config;
  }
  const where = listed.length
    ? `KUBECONFIG=${listed.join(delimiter)} names no file that exists`
    : `no ${join("~", ".kube", "config")} and KUBECONFIG is not set`;
  throw new ClusterAccessError(
    `no cluster configured: ${where}, and podtrace is not running in a pod`,
    "point podtrace at a cluster: --kubeconfig FILE, KUBECONFIG=FILE, a ~/.kube/config, or --server URL with --token TOKEN " +
      "(for the local cluster of this repository: bash hack/up.sh, then export KUBECONFIG=/var/lib/podtrace-cluster/admin.kubeconfig)",
  );
}

/** Merge `next` into `config` as kubectl merges KUBECONFIG files: the first file to name a cluster, user or context, or a current context, wins. */
function mergeFirstWins(config: KubeConfig, next: KubeConfig): void {
  const has = <T extends { name: string }>(list: readonly T[], name: string) => list.some((x) => x.name === name);
  const merged = new KubeConfig();
  merged.loadFromOptions({
    clusters: next.clusters.filter((c) => !has(config.clusters, c.name)),
    users: next.users.filter((u) => !has(config.users, u.name)),
    contexts: next.contexts.filter((c) => !has(config.contexts, c.name)),
    currentContext: next.currentContext,
  });
  config.mergeConfig(merged, Boolean(config.currentContext));
}

/**
 * kubectl's global flags over the current context, as kubectl applies them (client-go's
 * clientcmd overrides): --server replaces the address and drops the kubeconfig's
 * tls-server-name; --certificate-authority replaces the CA and --insecure-skip-tls-verify
 * drops it (both together are refused, as kubectl refuses them); --token replaces the
 * user's token; --as impersonates a user.
 */
function applyFlags(config: KubeConfig, options: ClientOptions): void {
  const { server, token, as, certificateAuthority, insecureSkipTlsVerify } = options;
  if (!server && !token && !as && !certificateAuthority && !insecureSkipTlsVerify) return;
  if (certificateAuthority && insecureSkipTlsVerify) {
    throw new BadInputError("--certificate-authority and --insecure-skip-tls-verify exclude each other", "pass one of them");
  }
  if (certificateAuthority && !existsSync(certificateAuthority)) {
    throw new BadInputError(`--certificate-authority ${certificateAuthority}: no such file`);
  }
  const context = config.getContextObject(config.getCurrentContext());
  const cluster = config.getCurrentCluster();
  const user = config.getCurrentUser();
  if (!context || !cluster) return;
  const flagged: Cluster = {
    name: cluster.name,
    server: server ?? cluster.server,
    skipTLSVerify: insecureSkipTlsVerify ? true : certificateAuthority ? false : cluster.skipTLSVerify,
    ...(certificateAuthority
      ? { caFile: certificateAuthority }
      : insecureSkipTlsVerify
        ? {}
        : { caFile: cluster.caFile, caData: cluster.caData }),
    ...(server ? {} : { tlsServerName: cluster.tlsServerName }),
    ...(cluster.proxyUrl ? { proxyUrl: cluster.proxyUrl } : {}),
  };
  const flaggedUser: User = {
    ...(user ?? { name: context.user }),
    ...(token ? { token } : {}),
    ...(as ? { impersonateUser: as } : {}),
  };
  config.loadFromOptions({
    clusters: config.clusters.map((c) => (c.name === cluster.name ? flagged : c)),
    users: [...config.users.filter((u) => u.name !== flaggedUser.name), flaggedUser],
    contexts: config.contexts,
    currentContext: config.getCurrentContext(),
  });
}
