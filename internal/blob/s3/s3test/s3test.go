// Package s3test runs a real S3 server for tests: versitygw with its posix
// backend in a temporary folder, on a free loopback port, with fixed test
// credentials. Any package's tests can use it, including tests that start a
// boostgen subprocess (see Server.Env). FaultProxy puts a fault-injecting
// proxy in front of it.
//
// The versitygw binary is found through $BOOSTGEN_VERSITYGW, which
// scripts/setup/versitygw.sh prints. Without it the test is skipped, or
// fails when BOOSTGEN_TEST_REQUIRE=1.
package s3test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	blobs3 "github.com/boostgen/boostgen/internal/blob/s3"
	"github.com/boostgen/boostgen/internal/testenv"
	"github.com/boostgen/boostgen/internal/testpki"
)

// Fixed test credentials. They only ever guard a throwaway server on
// 127.0.0.1.
const (
	AccessKey = "boostgen-test-access"
	SecretKey = "boostgen-test-secret-0123456789"
	Region    = "us-east-1"
	// DefaultBucket is the bucket Start creates.
	DefaultBucket = "boostgen-test"
)

// EnvBinary names the variable that points at the versitygw binary.
const EnvBinary = "BOOSTGEN_VERSITYGW"

// Server is a running versitygw.
type Server struct {
	// Endpoint is the server's URL, "http://127.0.0.1:PORT".
	Endpoint string
	// Bucket is a bucket that exists, DefaultBucket.
	Bucket string
	// Dir is the posix backend's root: Dir/<bucket>/<key> are the objects.
	Dir string
	// Store is a ready store at s3://Bucket (no prefix).
	Store *blobs3.Store
	// CAFile is the PEM file of the CA that signed the server's certificate
	// (StartTLS only).
	CAFile string

	caPool *x509.CertPool

	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedBuffer
}

// Binary returns the versitygw binary from $BOOSTGEN_VERSITYGW, skipping the
// test when it is unset, or failing it when BOOSTGEN_TEST_REQUIRE=1.
func Binary(t testing.TB) string {
	t.Helper()
	bin := testenv.Lookup(t, EnvBinary, "versitygw.sh")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: %v (run scripts/setup/versitygw.sh)", EnvBinary, bin, err)
	}
	return bin
}

// Start runs a fresh versitygw for this test, waits until it answers, creates
// DefaultBucket, and stops the server (and removes its data) when the test
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return startServer(t, false)
}

// StartTLS is Start with HTTPS, on a certificate for 127.0.0.1 from a CA
// made for this test: CAFile holds the CA, which Options trusts and Env
// passes on as AWS_CA_BUNDLE.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return startServer(t, true)
}

func startServer(t testing.TB, useTLS bool) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	var tlsFiles *testpki.Files
	if useTLS {
		var err error
		if tlsFiles, err = testpki.Loopback(dir); err != nil {
			t.Fatalf("make test certificates: %v", err)
		}
	}

	// A port picked by the kernel can be taken by someone else between our
	// Close and versitygw's Listen, so a failed start is retried on a new one.
	var s *Server
	var err error
	for try := 0; try < 3; try++ {
		s, err = start(bin, root, tlsFiles)
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(s.stop)

	s.Bucket = DefaultBucket
	s.Store = s.OpenStore(t, "", blobs3.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Store.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v\nversitygw log:\n%s", s.Bucket, err, s.log.String())
	}
	return s
}

func start(bin, root string, certs *testpki.Files) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	log := &lockedBuffer{}
	args := []string{"--port", addr, "--keep-alive", "--quiet"}
	scheme := "http://"
	client := &http.Client{Timeout: time.Second}
	if certs != nil {
		args = append(args, "--cert", certs.Cert, "--key", certs.Key)
		scheme = "https://"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool}}
	}
	cmd := exec.Command(bin, append(args, "posix", root)...)
	// The credentials go through the environment, not argv, where any local
	// user's ps could read them.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+AccessKey, "ROOT_SECRET_ACCESS_KEY="+SecretKey, "VGW_REGION="+Region)
	cmd.Stdout, cmd.Stderr = log, log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Endpoint: scheme + addr, Dir: root, cmd: cmd, exited: make(chan struct{}), log: log}
	if certs != nil {
		s.CAFile, s.caPool = certs.CA, certs.Pool
	}
	go func() { cmd.Wait(); close(s.exited) }()

	// Poll until the port answers HTTP; any status will do (an anonymous
	// request gets 403), it proves the S3 handler is up.
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("versitygw exited: %s", log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("versitygw did not answer on %s within 30s: %s", addr, log.String())
		}
	}
}

func (s *Server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Options returns store options that reach this server directly, with the
// test credentials; tests adjust them (PartSize, MaxAttempts, ...) as needed.
func (s *Server) Options() blobs3.Options {
	o := blobs3.Options{
		Endpoint:    s.Endpoint,
		Region:      Region,
		PathStyle:   true,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	}
	if s.caPool != nil {
		pool := s.caPool
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		})
	}
	return o
}

// Location is "s3://Bucket/prefix".
func (s *Server) Location(prefix string) string {
	return "s3://" + s.Bucket + "/" + strings.TrimPrefix(prefix, "/")
}

// OpenStore opens a store under prefix of the server's bucket. The endpoint,
// region, path style and credentials of o are filled in when empty, so that
// o can carry only what the test cares about; a test that wants a proxy in
// between sets o.Endpoint to the proxy's URL.
func (s *Server) OpenStore(t testing.TB, prefix string, o blobs3.Options) *blobs3.Store {
	t.Helper()
	def := s.Options()
	if o.Endpoint == "" {
		o.Endpoint = def.Endpoint
	}
	if o.Region == "" {
		o.Region = def.Region
	}
	o.PathStyle = true
	if o.Credentials == nil {
		o.Credentials = def.Credentials
	}
	if o.HTTPClient == nil && o.Endpoint == def.Endpoint {
		o.HTTPClient = def.HTTPClient
	}
	st, err := blobs3.Open(context.Background(), s.Location(prefix), o)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

// Env is the environment a boostgen subprocess needs to reach this server
// through blob.Open("s3://..."), appended to os.Environ() by the caller:
// cmd.Env = append(os.Environ(), srv.Env()...). It also turns off the
// instance-metadata lookup and shared config files so nothing outside the
// test leaks in.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + SecretKey,
		"AWS_SESSION_TOKEN=",
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_PROFILE=",
		blobs3.EnvPathStyle + "=1",
		"AWS_CA_BUNDLE=" + s.CAFile,
	}
}

// EnvVia is Env for a subprocess that should reach the server through
// proxy: it also raises the attempts per request and shortens the read
// timeout, so that injected faults are retried and stalls are cheap.
func (s *Server) EnvVia(proxy *FaultProxy) []string {
	env := s.Env()
	for i, kv := range env {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL_S3=") {
			env[i] = "AWS_ENDPOINT_URL_S3=" + proxy.URL
		}
	}
	return append(env, "AWS_MAX_ATTEMPTS=10", blobs3.EnvReadTimeout+"=2s")
}

// SetEnv applies Env to this process with t.Setenv (restored after the test),
// for tests that call blob.Open("s3://...") in-process.
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// Log is what versitygw printed so far, for failure messages.
func (s *Server) Log() string { return s.log.String() }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 {
		return len(p), nil // enough to diagnose; do not grow without bound
	}
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
