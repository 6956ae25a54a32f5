// Command kubelet-skew-proxy makes the cluster see a node whose clock is off: it sits
// between the kubelet and the apiserver (TLS on both sides) and shifts every timestamp the
// kubelet writes by a fixed offset. Every process on this machine shares one clock, and
// libfaketime cannot move a Go binary's clock (Go reads it through the vDSO), so the skew
// is applied where the cluster sees the kubelet's clock: in what it writes.
//
// Shifted, in request bodies (JSON, strategic-merge and merge patches, and Kubernetes
// protobuf, re-encoded in the same content type):
//   - pod status: conditions' lastTransitionTime/lastProbeTime, status.startTime,
//     container statuses' state/lastState startedAt/finishedAt;
//   - node status: conditions' lastHeartbeatTime/lastTransitionTime;
//   - core/v1 Events: firstTimestamp, lastTimestamp, eventTime, series.lastObservedTime,
//     and the creation time client-go puts in the Event's name ("<object>.<hex UnixNano>"),
//     also in the URL of the patches that update it;
//   - events.k8s.io/v1 Events: eventTime, series.lastObservedTime,
//     deprecatedFirstTimestamp, deprecatedLastTimestamp, and the name likewise;
//   - Leases: renewTime, acquireTime.
//
// The kubelet must only ever see its own clock's values of what it sends back, or a stamp
// would be shifted again on every round: pod and node status go as patches of what
// changed, but the event recorder keeps the Event a write returned and patches it by
// name, and lease renewals send the returned Lease back whole. So responses about the
// kubelet's Events and Lease (not watches) are shifted back; every other response and
// every watch stream passes untouched, as a skewed node would read them. A whole-second
// stamp (metav1.Time) is shifted from the moment the write arrived when that falls in its
// second (a stamp written as it happened), else from the end of its second, and truncated
// again: what a skewed clock would have written, to within the write's delay;
// microsecond stamps and the nanoseconds in Events' names shift exactly.
//
// The proxy offers only HTTP/1.1 to the kubelet (its client falls back from h2) and
// speaks HTTP/2 to the apiserver, authenticating with the kubelet's own client
// certificate; it accepts only clients presenting a certificate for the same identity.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"podtrace.local/hack/tools/internal/serve"
)

// The stamps a kubelet writes with its own clock, by JSON key.
var timeKeys = map[string]bool{
	"lastTransitionTime": true, "lastProbeTime": true, "lastHeartbeatTime": true,
	"startTime": true, "startedAt": true, "finishedAt": true,
	"firstTimestamp": true, "lastTimestamp": true, "eventTime": true, "lastObservedTime": true,
	"deprecatedFirstTimestamp": true, "deprecatedLastTimestamp": true,
	"renewTime": true, "acquireTime": true,
}

// client-go's Event names: "<involved object's name>.<hex UnixNano of the event>".
var eventName = regexp.MustCompile(`^(.+)\.([0-9a-f]{12,16})$`)

var (
	eventsPath = regexp.MustCompile(`^/(api/v1|apis/events\.k8s\.io/v1)/namespaces/[^/]+/events(/([^/]+))?$`)
	leasesPath = regexp.MustCompile(`^/apis/coordination\.k8s\.io/v1/namespaces/[^/]+/leases(/[^/]+)?$`)
)

const protobufType = "application/vnd.kubernetes.protobuf"

var protobufPrefix = []byte{0x6b, 0x38, 0x73, 0x00} // "k8s\0"

type shifter struct {
	offset time.Duration
	scheme *runtime.Scheme
}

// shiftTime shifts one RFC 3339 stamp, keeping its layout: microseconds stay microseconds,
// whole seconds are truncated to whole seconds again. A whole-second stamp s says only
// that its instant was in [s, s+1 s): a node whose clock ran offset off would have written
// floor(instant + offset), not floor(s + offset). With `now` (the time the kubelet's write
// arrived here; nil when shifting back what the apiserver returns) the instant is taken as
// now when now falls in that second (a stamp written as it happened), else as the end of
// the second (a stamp reported later, such as a container's startedAt).
func shiftTime(v string, offset time.Duration, now *time.Time) (string, bool) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return v, false
	}
	if now != nil && !strings.Contains(v, ".") {
		switch {
		case !now.Before(t) && now.Before(t.Add(time.Second)):
			t = *now
		case !now.Before(t):
			t = t.Add(time.Second - time.Millisecond)
		}
	}
	t = t.Add(offset).UTC()
	if strings.Contains(v, ".") {
		return t.Format("2006-01-02T15:04:05.000000Z07:00"), true
	}
	return t.Format(time.RFC3339), true
}

// shiftEventName shifts the time in an Event's name; other names are returned as they are.
func shiftEventName(name string, offset time.Duration) string {
	m := eventName.FindStringSubmatch(name)
	if m == nil {
		return name
	}
	ns, err := strconv.ParseInt(m[2], 16, 64)
	if err != nil {
		return name
	}
	return fmt.Sprintf("%s.%x", m[1], ns+offset.Nanoseconds())
}

// walk shifts every stamp under a time key, at any depth.
func walk(v any, offset time.Duration, now *time.Time) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if str, ok := val.(string); ok && timeKeys[k] {
				if shifted, ok := shiftTime(str, offset, now); ok {
					x[k] = shifted
				}
				continue
			}
			x[k] = walk(val, offset, now)
		}
	case []any:
		for i := range x {
			// A JSON patch operation names its field in its path: {"op": "replace",
			// "path": "/status/startTime", "value": "..."}.
			if op, ok := x[i].(map[string]any); ok {
				path, _ := op["path"].(string)
				if value, ok := op["value"].(string); ok && timeKeys[path[strings.LastIndex(path, "/")+1:]] {
					if shifted, ok := shiftTime(value, offset, now); ok {
						op["value"] = shifted
					}
					continue
				}
			}
			x[i] = walk(x[i], offset, now)
		}
	}
	return v
}

func shiftJSON(body []byte, offset time.Duration, isEvent bool, now *time.Time) ([]byte, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	walk(doc, offset, now)
	if obj, ok := doc.(map[string]any); ok && isEvent {
		if meta, ok := obj["metadata"].(map[string]any); ok {
			if name, ok := meta["name"].(string); ok {
				meta["name"] = shiftEventName(name, offset)
			}
		}
	}
	return json.Marshal(doc)
}

// shiftProtobuf decodes a Kubernetes protobuf body of a kind the kubelet writes, shifts it
// as JSON and encodes it again; other kinds pass unchanged.
func (s *shifter) shiftProtobuf(body []byte, offset time.Duration, isEvent bool, now *time.Time) ([]byte, error) {
	if !bytes.HasPrefix(body, protobufPrefix) {
		return nil, errors.New("no protobuf envelope")
	}
	var unk runtime.Unknown
	if err := unk.Unmarshal(body[len(protobufPrefix):]); err != nil {
		return nil, err
	}
	gvk := schema.FromAPIVersionAndKind(unk.APIVersion, unk.Kind)
	obj, err := s.scheme.New(gvk)
	if err != nil {
		return body, nil // not a kind the kubelet stamps
	}
	type protoObject interface {
		Marshal() ([]byte, error)
		Unmarshal([]byte) error
	}
	pb, ok := obj.(protoObject)
	if !ok {
		return body, nil
	}
	if err := pb.Unmarshal(unk.Raw); err != nil {
		return nil, err
	}
	asJSON, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	if asJSON, err = shiftJSON(asJSON, offset, isEvent, now); err != nil {
		return nil, err
	}
	shifted, _ := s.scheme.New(gvk)
	if err := json.Unmarshal(asJSON, shifted); err != nil {
		return nil, err
	}
	if unk.Raw, err = shifted.(protoObject).Marshal(); err != nil {
		return nil, err
	}
	out, err := unk.Marshal()
	if err != nil {
		return nil, err
	}
	return append(append([]byte{}, protobufPrefix...), out...), nil
}

// shiftBody shifts a body of the given content type: Kubernetes protobuf or any JSON
// (application/json and the strategic-merge, merge and JSON patch types); others pass.
func (s *shifter) shiftBody(body []byte, contentType string, offset time.Duration, isEvent bool, now *time.Time) ([]byte, error) {
	contentType = strings.TrimSpace(strings.Split(contentType, ";")[0])
	switch {
	case contentType == protobufType:
		return s.shiftProtobuf(body, offset, isEvent, now)
	case strings.HasSuffix(contentType, "json"):
		return shiftJSON(body, offset, isEvent, now)
	}
	return body, nil
}

// kubeletOwned says whether a request reads or writes an object the kubelet keeps a copy of
// and sends back whole or by name: its Events (the event recorder caches what a write
// returned and patches it by name) and its Lease (renewals send the last returned lease
// back with a new renewTime). Responses about those are shifted back, so the kubelet
// only ever sees its own clock's values and each stamp is shifted exactly once.
func kubeletOwned(r *http.Request) (owned, isEvent bool) {
	if r.URL.Query().Get("watch") != "" {
		return false, false
	}
	if m := eventsPath.FindStringSubmatch(r.URL.Path); m != nil {
		return r.Method != http.MethodGet, true
	}
	if m := leasesPath.FindStringSubmatch(r.URL.Path); m != nil {
		return r.Method != http.MethodGet || m[1] != "", false
	}
	return false, false
}

// rewrite shifts the stamps in a write request's body (and an Event's name in its URL).
func (s *shifter) rewrite(r *http.Request) error {
	if r.Method != http.MethodPost && r.Method != http.MethodPut && r.Method != http.MethodPatch {
		return nil
	}
	m := eventsPath.FindStringSubmatch(r.URL.Path)
	isEvent := m != nil
	if isEvent && m[3] != "" {
		r.URL.Path = strings.TrimSuffix(r.URL.Path, m[3]) + shiftEventName(m[3], s.offset)
		r.URL.RawPath = ""
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return err
	}
	now := time.Now()
	out, err := s.shiftBody(body, r.Header.Get("Content-Type"), s.offset, isEvent, &now)
	if err != nil {
		return fmt.Errorf("%s %s (%s): %w", r.Method, r.URL.Path, r.Header.Get("Content-Type"), err)
	}
	r.Body = io.NopCloser(bytes.NewReader(out))
	r.ContentLength = int64(len(out))
	r.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

// unshift shifts the stamps of a response about a kubelet-owned object back.
func (s *shifter) unshift(resp *http.Response) error {
	owned, isEvent := kubeletOwned(resp.Request)
	if !owned || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil
	}
	var body []byte
	var err error
	switch resp.Header.Get("Content-Encoding") {
	case "":
		body, err = io.ReadAll(resp.Body)
	case "gzip":
		var gz *gzip.Reader
		if gz, err = gzip.NewReader(resp.Body); err == nil {
			body, err = io.ReadAll(gz)
		}
		resp.Header.Del("Content-Encoding")
	default:
		return fmt.Errorf("response with Content-Encoding %s", resp.Header.Get("Content-Encoding"))
	}
	resp.Body.Close()
	if err != nil {
		return err
	}
	out, err := s.shiftBody(body, resp.Header.Get("Content-Type"), -s.offset, isEvent, nil)
	if err != nil {
		return fmt.Errorf("response to %s %s: %w", resp.Request.Method, resp.Request.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

func loadPool(file string) *x509.CertPool {
	pem, err := os.ReadFile(file)
	if err != nil {
		log.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		log.Fatalf("%s: no certificate", file)
	}
	return pool
}

func main() {
	listen := flag.String("listen", "127.0.0.1:6445", "address to serve on (loopback)")
	upstream := flag.String("upstream", "https://127.0.0.1:6443", "the apiserver")
	offsetMs := flag.Int64("offset-ms", 0, "shift of the kubelet's stamps: negative = its clock is behind")
	caFile := flag.String("ca", "", "the cluster's CA: verifies the apiserver and the kubelet")
	certFile := flag.String("cert", "", "serving certificate (signed by the CA, for 127.0.0.1)")
	keyFile := flag.String("key", "", "serving key")
	clientCertFile := flag.String("client-cert", "", "the kubelet's client certificate, to authenticate upstream")
	clientKeyFile := flag.String("client-key", "", "the kubelet's client key")
	flag.Parse()

	if host, _, err := net.SplitHostPort(*listen); err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("-listen must be a loopback address with a port, got %q", *listen)
	}
	up, err := url.Parse(*upstream)
	if err != nil || up.Scheme != "https" {
		log.Fatalf("-upstream must be an https URL, got %q", *upstream)
	}
	ca := loadPool(*caFile)
	serving, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatal(err)
	}
	client, err := tls.LoadX509KeyPair(*clientCertFile, *clientKeyFile)
	if err != nil {
		log.Fatal(err)
	}
	identity, err := x509.ParseCertificate(client.Certificate[0])
	if err != nil {
		log.Fatal(err)
	}

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, coordinationv1.AddToScheme, eventsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			log.Fatal(err)
		}
	}
	s := &shifter{offset: time.Duration(*offsetMs) * time.Millisecond, scheme: scheme}

	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.Host = up.Host
		},
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{RootCAs: ca, Certificates: []tls.Certificate{client}, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 100,
			IdleConnTimeout:     90 * time.Second,
		},
		ModifyResponse: s.unshift,
		// Watches stream: pass every chunk on at once.
		FlushInterval: -1,
		ErrorLog:      log.Default(),
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only the kubelet itself may use its identity through here.
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.String() != identity.Subject.String() {
			http.Error(w, "only "+identity.Subject.String()+" may use this proxy", http.StatusForbidden)
			return
		}
		if err := s.rewrite(r); err != nil {
			log.Printf("cannot shift %v; forwarding it unchanged would leak the unskewed clock, refusing", err)
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Addr:    *listen,
		Handler: handler,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{serving},
			ClientCAs:    ca,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			// HTTP/1.1 only: simpler to rewrite, and the kubelet's client falls back to it.
			NextProtos: []string{"http/1.1"},
			MinVersion: tls.VersionTLS12,
		},
		// No HTTP/2 on this side (an empty, non-nil map disables it).
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ReadHeaderTimeout: 30 * time.Second,
	}
	log.Printf("kubelet-skew-proxy: %s -> %s as %s, kubelet stamps shifted by %v", *listen, up, identity.Subject, s.offset)
	// Watches never end by themselves: give requests in flight a moment, then close.
	if err := serve.UntilSignalled(srv, func() error { return srv.ListenAndServeTLS("", "") }, 2*time.Second); err != nil {
		log.Fatal(err)
	}
}
