/**
 * The API client: kubeconfig, authentication and TLS come from @kubernetes/client-node
 * (so exec plugins, tokens, client certificates and kind's kubeconfigs all work), requests
 * go out raw. Raw JSON keeps what the typed models lose (eventTime's microseconds) and
 * the response headers (Date) that the clock estimate needs.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { HttpMethod, KubeConfig, RequestContext, type Cluster, type User } from "@kubernetes/client-node";
import { fetch, type Response } from "undici";
import { BadInputError, ClusterAccessError } from "../errors.ts";
import type { RawObject } from "../core/observation.ts";
import { clientNow } from "./clock.ts";

/** Shown by the API server as the field manager and in audit logs. */
const USER_AGENT = "podtrace";

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

/** How long one request may take unless --request-timeout says otherwise. */
const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export class KubeClient {
  readonly server: string;
  readonly namespace: string;
  readonly contextName: string;

  private readonly config: KubeConfig;
  /** Headers of every request: impersonation (--as-group; client-node sends Impersonate-User itself). */
  private readonly extraHeaders: Record<string, string>;
  /** The limit on one request, ms; Infinity with --request-timeout 0. */
  private readonly requestTimeoutMs: number;

  private constructor(config: KubeConfig, namespace: string, extraHeaders: Record<string, string>, requestTimeoutMs: number) {
    this.config = config;
    const cluster = config.getCurrentCluster();
    if (!cluster)
      throw new BadInputError("the kubeconfig has no current cluster", "pass --context, or set current-context in the kubeconfig");
    this.server = cluster.server.replace(/\/+$/, "");
    this.namespace = namespace;
    this.contextName = config.getCurrentContext();
    this.extraHeaders = extraHeaders;
    this.requestTimeoutMs = requestTimeoutMs;
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
    );
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
    const headers: Record<string, string> = {
      ...ctx.getHeaders(),
      ...this.extraHeaders,
      Accept: "application/json",
      "User-Agent": USER_AGENT,
    };
    if (body !== undefined) headers["Content-Type"] = method === "PATCH" ? "application/merge-patch+json" : "application/json";
    const sentAt = clientNow();
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        dispatcher: ctx.getDispatcher(),
        signal: this.withTimeout(signal),
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
      headers: { ...ctx.getHeaders(), ...this.extraHeaders, Accept: "application/json", "User-Agent": USER_AGENT },
      dispatcher: ctx.getDispatcher(),
      signal,
    });
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
