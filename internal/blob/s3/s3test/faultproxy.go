package s3test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Fault is one kind of failure the FaultProxy injects.
type Fault int

const (
	// Fault500 answers 500 InternalError without forwarding the request.
	Fault500 Fault = iota
	// FaultSlowDown answers 503 SlowDown (S3's throttling error) without
	// forwarding the request.
	FaultSlowDown
	// FaultReset forwards the request, lets the server act on it, then resets
	// the client's connection instead of answering: the client cannot tell
	// whether its request took effect, which is what retries must survive.
	FaultReset
	// FaultStall reads the request and then sends nothing, holding the
	// connection until the client gives up (its read timeout) or
	// FaultConfig.StallFor passes.
	FaultStall
	// FaultTruncate forwards the request and cuts the response body off
	// halfway with a reset, as a dropped download does; a response without a
	// body to cut is reset instead.
	FaultTruncate
	numFaults
)

func (f Fault) String() string {
	switch f {
	case Fault500:
		return "500"
	case FaultSlowDown:
		return "503-SlowDown"
	case FaultReset:
		return "reset"
	case FaultStall:
		return "stall"
	case FaultTruncate:
		return "truncate"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// AllFaults lists every kind of fault.
var AllFaults = []Fault{Fault500, FaultSlowDown, FaultReset, FaultStall, FaultTruncate}

// FaultConfig says how often and how the proxy fails.
type FaultConfig struct {
	// Rate is the share of requests that fail, 0 to 1.
	Rate float64
	// Seed makes the sequence of decisions repeatable: the n-th request the
	// proxy receives always gets the same fate for a given seed.
	Seed uint64
	// Faults are the kinds to pick from, uniformly; empty means AllFaults.
	Faults []Fault
	// StallFor bounds a stall when the client does not hang up first;
	// 0 means one minute.
	StallFor time.Duration
	// Match, when set, limits faults to the requests it accepts (see
	// MatchUploadPart and friends); others always pass through.
	Match func(*http.Request) bool
	// Limit, when positive, caps the number of faults injected: Limit 1 with
	// Rate 1 fails exactly the first matching request.
	Limit int64
}

// MatchUploadPart accepts UploadPart requests.
func MatchUploadPart(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId")
}

// MatchCompleteMultipart accepts CompleteMultipartUpload requests.
func MatchCompleteMultipart(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
}

// MatchGetObject accepts GetObject requests (path-style addressing).
func MatchGetObject(r *http.Request) bool {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return r.Method == http.MethodGet && bucket != "" && key != "" && !r.URL.Query().Has("uploadId")
}

// MatchPutIfAbsent accepts conditional PutObject requests (If-None-Match: *).
func MatchPutIfAbsent(r *http.Request) bool {
	return r.Method == http.MethodPut && r.Header.Get("If-None-Match") == "*"
}

// FaultProxy is an HTTP proxy on 127.0.0.1 in front of an S3 server that
// fails a seeded, deterministic share of requests. Point a store's
// Options.Endpoint at URL.
type FaultProxy struct {
	// URL is the proxy's address, "http://127.0.0.1:PORT".
	URL string

	cfg      FaultConfig
	srv      *http.Server
	proxy    *httputil.ReverseProxy
	closing  chan struct{}
	mu       sync.Mutex
	rng      *rand.Rand
	requests atomic.Int64
	injected [numFaults]atomic.Int64
}

type faultKey struct{}

var errResetAfter = errors.New("s3test: reset after forwarding")

// StartFaultProxy starts a proxy to target ("http://127.0.0.1:PORT") and
// stops it when the test ends.
func StartFaultProxy(t testing.TB, target string, cfg FaultConfig) *FaultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("fault proxy target %q: %v", target, err)
	}
	if len(cfg.Faults) == 0 {
		cfg.Faults = AllFaults
	}
	if cfg.StallFor == 0 {
		cfg.StallFor = time.Minute
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{
		URL:     "http://" + l.Addr().String(),
		cfg:     cfg,
		closing: make(chan struct{}),
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)),
	}
	// The Host header is left as the client sent it: it is part of what
	// SigV4 signs, so the server must see the proxy's host:port.
	p.proxy = httputil.NewSingleHostReverseProxy(u)
	p.proxy.ModifyResponse = func(resp *http.Response) error {
		switch f, _ := resp.Request.Context().Value(faultKey{}).(Fault); {
		case f == FaultReset, f == FaultTruncate && resp.ContentLength < 2:
			return errResetAfter
		case f == FaultTruncate:
			// The proxy fails to copy the rest and aborts the connection.
			resp.Body = &truncatedBody{ReadCloser: resp.Body, left: resp.ContentLength / 2}
		}
		return nil
	}
	p.proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if errors.Is(err, errResetAfter) {
			reset(w)
			return
		}
		http.Error(w, "fault proxy: "+err.Error(), http.StatusBadGateway)
	}
	// Injected failures are the point, not news: keep them out of test logs.
	quiet := log.New(io.Discard, "", 0)
	p.proxy.ErrorLog = quiet
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ErrorLog: quiet}
	go p.srv.Serve(l)
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy, releasing stalled requests.
func (p *FaultProxy) Close() {
	select {
	case <-p.closing:
		return
	default:
	}
	close(p.closing)
	p.srv.Close()
}

// Requests is how many requests the proxy received.
func (p *FaultProxy) Requests() int64 { return p.requests.Load() }

// Injected is how many faults of kind f the proxy injected.
func (p *FaultProxy) Injected(f Fault) int64 { return p.injected[f].Load() }

// InjectedTotal is how many faults of any kind the proxy injected.
func (p *FaultProxy) InjectedTotal() int64 {
	var n int64
	for i := range p.injected {
		n += p.injected[i].Load()
	}
	return n
}

// Counts describes what was injected, for test logs.
func (p *FaultProxy) Counts() string {
	s := fmt.Sprintf("%d requests", p.Requests())
	for _, f := range AllFaults {
		s += fmt.Sprintf(", %d %s", p.Injected(f), f)
	}
	return s
}

// decide draws the fate of request r: a fault, or -1 for none.
func (p *FaultProxy) decide(r *http.Request) Fault {
	if p.cfg.Match != nil && !p.cfg.Match(r) {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	x, k := p.rng.Float64(), p.rng.IntN(len(p.cfg.Faults))
	if x >= p.cfg.Rate || p.cfg.Limit > 0 && p.InjectedTotal() >= p.cfg.Limit {
		return -1
	}
	f := p.cfg.Faults[k]
	p.injected[f].Add(1) // under the lock, so that Limit holds
	return f
}

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	f := p.decide(r)
	switch f {
	case Fault500:
		s3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	case FaultSlowDown:
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	case FaultStall:
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done(): // the client hung up
		case <-p.closing:
		case <-time.After(p.cfg.StallFor):
		}
		reset(w)
	case FaultReset, FaultTruncate:
		r = r.WithContext(context.WithValue(r.Context(), faultKey{}, f))
		p.proxy.ServeHTTP(w, r)
	default:
		p.proxy.ServeHTTP(w, r)
	}
}

// s3Error answers like S3 does, with an XML error body the SDK parses.
func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Connection", "close") // the request body was not read
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>fault-proxy</RequestId></Error>`, code, msg)
}

// reset closes the client's connection with a TCP RST and no response.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // closes the connection without a response
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

type truncatedBody struct {
	io.ReadCloser
	left int64
}

var errTruncated = errors.New("s3test: response truncated")

func (b *truncatedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errTruncated
	}
	n, err := b.ReadCloser.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	return n, err
}
