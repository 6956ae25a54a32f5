// Command otlp-sink is the end of the local OpenTelemetry collector's pipeline: an
// OTLP/HTTP endpoint (JSON encoding) on loopback that appends every export request it
// receives, as one line, to a file. Each line is one ExportTraceServiceRequest in OTLP
// JSON, the format of the OpenTelemetry file exporter ("OTLP JSON lines"), which
// test/support/otel-spans.ts reads.
//
// The collector's contrib fileexporter would do this inside the collector, but it does not
// build from the Go module proxy here; the core otlphttp exporter plus this sink does.
//
// A busy cluster emits spans at tens of KiB/s (every request of the apiserver, every CRI
// call of the kubelet), so the file is rotated when it passes -max-bytes: it becomes
// FILE.1 (replacing an older FILE.1) and a new FILE is started. Readers follow a rotation
// by the file's inode (test/support/otel-spans.ts).
//
//	otlp-sink -listen 127.0.0.1:4319 -out /var/lib/podtrace-cluster/otel/spans.jsonl
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"podtrace.local/hack/tools/internal/serve"
)

// Export requests larger than this are refused (the collector's own default limit for
// OTLP/gRPC messages is 4 MiB; its exporter splits nothing, so allow some headroom).
const maxBody = 64 << 20

type sink struct {
	mu       sync.Mutex
	path     string
	file     *os.File
	size     int64
	maxBytes int64
}

func openAppend(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// write appends one line, first rotating the file when it has grown past maxBytes.
func (s *sink) write(line []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxBytes > 0 && s.size > 0 && s.size+int64(len(line)) > s.maxBytes {
		if err := os.Rename(s.path, s.path+".1"); err != nil {
			return err
		}
		f, size, err := openAppend(s.path)
		if err != nil {
			return err
		}
		s.file.Close()
		s.file, s.size = f, size
	}
	n, err := s.file.Write(line)
	s.size += int64(n)
	return err
}

// ServeHTTP accepts POST /v1/traces (and /v1/logs, /v1/metrics, written likewise) with a
// JSON body and appends it compacted to one line. Each line is written with one write(2)
// on an O_APPEND file, so a reader never sees two requests interleaved; a reader may see
// the last line before its newline, and must ignore a line without one.
func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/traces", "/v1/logs", "/v1/metrics":
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		// The collector's exporter must be configured with encoding: json.
		http.Error(w, "only application/json is accepted, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, maxBody)
	switch r.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, "bad gzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer gz.Close()
		body = gz
	default:
		http.Error(w, "unsupported Content-Encoding "+r.Header.Get("Content-Encoding"), http.StatusUnsupportedMediaType)
		return
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var line bytes.Buffer
	if err := json.Compact(&line, raw); err != nil {
		http.Error(w, "body is not JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	line.WriteByte('\n')
	if err := s.write(line.Bytes()); err != nil {
		log.Printf("writing %s: %v", s.path, err)
		// 503 makes the collector's exporter retry instead of dropping the spans.
		http.Error(w, "cannot write: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	// An empty Export*ServiceResponse: everything accepted.
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:4319", "address to serve OTLP/HTTP on (loopback)")
	out := flag.String("out", "", "file to append one JSON line per export request to")
	maxBytes := flag.Int64("max-bytes", 256<<20, "rotate the file to FILE.1 when it would grow past this size (0: never)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: otlp-sink -listen HOST:PORT -out FILE")
		os.Exit(2)
	}
	if host, _, err := net.SplitHostPort(*listen); err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("-listen must be a loopback address with a port, got %q", *listen)
	}
	file, size, err := openAppend(*out)
	if err != nil {
		log.Fatal(err)
	}
	s := &sink{path: *out, file: file, size: size, maxBytes: *maxBytes}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("otlp-sink: OTLP/HTTP JSON on %s, appending to %s", ln.Addr(), *out)
	// Finish the requests in flight: the collector flushes its queue when it stops first.
	if err := serve.UntilSignalled(srv, func() error { return srv.Serve(ln) }, 5*time.Second); err != nil {
		log.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.file.Close(); err != nil {
		log.Fatal(err)
	}
}
