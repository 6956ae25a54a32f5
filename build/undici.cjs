"use strict";
// The part of undici a run uses, for the bundle (build.mjs points every `import ... from
// "undici"` here). undici's index also loads fetch, WebSocket, EventSource, the cache and
// the mocks, which cost tens of milliseconds of CPU before the create request can leave;
// the dispatchers and their request() are all podtrace calls, and all client-node's
// kubeconfig module refers to. What only a proxy needs (ProxyAgent, and CONNECT on the
// dispatcher that reaches the proxy) loads when first used. Type checking and the tests
// see the real package.
const Dispatcher = require("undici/lib/dispatcher/dispatcher.js");

// As undici's index does: request(), stream(), pipeline(), upgrade() and connect() on
// every dispatcher; request() at once, the others when first called.
Dispatcher.prototype.request = require("undici/lib/api/api-request.js");
const later = {
  stream: () => require("undici/lib/api/api-stream.js"),
  pipeline: () => require("undici/lib/api/api-pipeline.js"),
  upgrade: () => require("undici/lib/api/api-upgrade.js"),
  connect: () => require("undici/lib/api/api-connect.js"),
};
for (const [name, load] of Object.entries(later)) {
  Object.defineProperty(Dispatcher.prototype, name, {
    configurable: true,
    get() {
      const method = load();
      Object.defineProperty(Dispatcher.prototype, name, { value: method, writable: true, configurable: true });
      return method;
    },
  });
}

// Streams before the server's SETTINGS. RFC 9113 lets a client open streams right after its
// connection preface, with no limit until the server's SETTINGS say one (6.5.2). undici
// opens one and holds the rest back until the SETTINGS arrive (its h2 client counts no
// concurrent streams and calls itself busy while it has none), and the server sends them
// only once the TLS handshake is done on its side: every request queued while the
// connection was being made (a run's lists, sent at once before the create) waited one
// more round trip. Its own ceiling (100, lowered by the server's SETTINGS) holds from the
// start instead. Only undici uses node:http2 in podtrace.
const { kMaxConcurrentStreams, kRemoteSettings } = require("undici/lib/core/symbols.js");
Object.defineProperty(require("undici/lib/dispatcher/client.js").prototype, kMaxConcurrentStreams, {
  value: 100,
  writable: true,
  configurable: true,
});
const http2 = require("node:http2");
const connectH2 = http2.connect;
http2.connect = function connect(...args) {
  const session = connectH2.apply(this, args);
  // undici's "not yet" (false) reads as "not known", which it does not wait for; true once
  // the SETTINGS came, as before.
  let received = false;
  Object.defineProperty(session, kRemoteSettings, {
    configurable: true,
    get: () => (received ? true : undefined),
    set: (value) => {
      received = value === true;
    },
  });
  return session;
};

module.exports = {
  Dispatcher,
  Agent: require("undici/lib/dispatcher/agent.js"),
  get ProxyAgent() {
    return require("undici/lib/dispatcher/proxy-agent.js");
  },
  get Socks5ProxyAgent() {
    return require("undici/lib/dispatcher/socks5-proxy-agent.js");
  },
  // client-node's generated API client imports fetch; podtrace never calls that client.
  fetch() {
    throw new Error("podtrace's bundle leaves out undici's fetch: use a dispatcher's request()");
  },
};
