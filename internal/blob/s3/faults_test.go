package s3_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/boostgen/boostgen/internal/blob"
	blobs3 "github.com/boostgen/boostgen/internal/blob/s3"
	"github.com/boostgen/boostgen/internal/blob/s3/s3test"
)

// faultyOptions reaches srv through proxy, with retries generous enough for
// the fault rate and a read timeout short enough that stalls are cheap.
func faultyOptions(srv *s3test.Server, proxy *s3test.FaultProxy, mode aws.RetryMode) blobs3.Options {
	o := srv.Options()
	o.Endpoint = proxy.URL
	o.PartSize = 5 * MiB
	o.RetryMode = mode
	o.MaxAttempts = 10
	o.ReadTimeout = time.Second
	return o
}

// With 10% of requests failing in every way the proxy knows, uploads and
// conditional puts still complete with the right bytes, and a watcher never
// sees a partial object.
func TestUploadsSurviveFaults(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	sizes := []int64{0, 1000, 5 * MiB, 12 * MiB, 20 * MiB, 3000, 7*MiB + 3, 11 * MiB}
	for _, tc := range []struct {
		mode aws.RetryMode
		seed uint64
	}{
		{aws.RetryModeStandard, 1},
		{aws.RetryModeAdaptive, 2},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			proxy := s3test.StartFaultProxy(t, srv.Endpoint, s3test.FaultConfig{Rate: 0.10, Seed: tc.seed})
			prefix := "faults-" + string(tc.mode)
			st := srv.OpenStore(t, prefix, faultyOptions(srv, proxy, tc.mode))
			direct := srv.OpenStore(t, prefix, srv.Options())

			want := map[string]int64{}
			for i, size := range sizes {
				want[fmt.Sprintf("obj/%d", i)] = size
			}
			// The watcher lists behind the proxy's back while the uploads run:
			// any key it sees must already have its full size.
			stop := make(chan struct{})
			watched := make(chan error, 1)
			go func() {
				for {
					l, err := direct.List(ctx, "obj/")
					if err != nil {
						watched <- err
						return
					}
					for _, info := range l {
						if info.Size != want[info.Key] {
							watched <- fmt.Errorf("%s visible with %d bytes, want %d", info.Key, info.Size, want[info.Key])
							return
						}
					}
					select {
					case <-stop:
						watched <- nil
						return
					default:
					}
				}
			}()

			hashes := make([][32]byte, len(sizes))
			var wg sync.WaitGroup
			errs := make(chan error, len(sizes))
			sem := make(chan struct{}, 3)
			for i, size := range sizes {
				wg.Go(func() {
					sem <- struct{}{}
					defer func() { <-sem }()
					w, err := st.Create(ctx, fmt.Sprintf("obj/%d", i))
					if err != nil {
						errs <- err
						return
					}
					defer w.Abort()
					hashes[i] = writeStream(t, w, size, uint64(i))
					if err := w.Close(); err != nil {
						errs <- fmt.Errorf("obj/%d: %w", i, err)
					}
				})
			}
			wg.Wait()
			close(stop)
			close(errs)
			for err := range errs {
				t.Errorf("upload: %v", err)
			}
			if err := <-watched; err != nil {
				t.Errorf("watcher: %v", err)
			}
			// Read back both ways: directly, and through the faults (where
			// downloads cut off midway must resume).
			for _, rd := range []blob.Store{direct, st} {
				for i, size := range sizes {
					got, n := readHash(t, rd, fmt.Sprintf("obj/%d", i))
					if got != hashes[i] || n != size {
						t.Errorf("obj/%d: read back %d bytes (hash match %v), want %d", i, n, got == hashes[i], size)
					}
				}
			}

			// Conditional puts through the same faults: each key is won
			// exactly once.
			for i := range 20 {
				key := fmt.Sprintf("marker/%d", i)
				if err := st.PutIfAbsent(ctx, key, []byte(key)); err != nil {
					t.Errorf("first put of %s: %v", key, err)
				}
				if err := st.PutIfAbsent(ctx, key, []byte("other")); !errors.Is(err, blob.ErrExists) {
					t.Errorf("second put of %s: %v, want ErrExists", key, err)
				}
			}
			t.Logf("proxy: %s", proxy.Counts())
			if proxy.InjectedTotal() == 0 {
				t.Fatal("the proxy injected no faults: the test proved nothing")
			}
		})
	}
}

// The responses that matter most are lost after the server acted: the retry
// then meets the server's new state, which the store must recognise as its
// own success. (versitygw, like AWS, answers a repeated Complete with
// success; the writer's NoSuchUpload fallback is for servers that do not.)
func TestLostResponses(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		match func(*http.Request) bool
		run   func(t *testing.T, st, direct blob.Store)
	}{
		{"complete multipart", s3test.MatchCompleteMultipart, func(t *testing.T, st, direct blob.Store) {
			w, err := st.Create(ctx, "big")
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			want := writeStream(t, w, 12*MiB, 3)
			if err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if got, n := readHash(t, direct, "big"); got != want || n != 12*MiB {
				t.Fatalf("read back %d bytes, hash match %v", n, got == want)
			}
		}},
		{"put if absent", s3test.MatchPutIfAbsent, func(t *testing.T, st, direct blob.Store) {
			if err := st.PutIfAbsent(ctx, "_DONE", []byte("mine")); err != nil {
				t.Fatalf("put: %v", err)
			}
			if err := st.PutIfAbsent(ctx, "_DONE", []byte("theirs")); !errors.Is(err, blob.ErrExists) {
				t.Fatalf("second put: %v, want ErrExists", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := s3test.StartFaultProxy(t, srv.Endpoint, s3test.FaultConfig{
				Rate: 1, Limit: 1, Faults: []s3test.Fault{s3test.FaultReset}, Match: tc.match,
			})
			prefix := "lost/" + tc.name
			tc.run(t, srv.OpenStore(t, prefix, faultyOptions(srv, proxy, aws.RetryModeStandard)), srv.OpenStore(t, prefix, srv.Options()))
			if proxy.Injected(s3test.FaultReset) != 1 {
				t.Fatalf("proxy: %s; want exactly one reset", proxy.Counts())
			}
		})
	}
}

// A download cut off midway resumes where it stopped and still yields the
// object's exact bytes.
func TestDownloadsResume(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		size  int64
		drops int64
	}{
		{"single part", 3 * MiB, 1},
		{"single part, dropped thrice", 3 * MiB, 3},
		{"multipart", 12 * MiB, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := "resume/" + tc.name
			o := srv.Options()
			o.PartSize = 5 * MiB
			w, err := srv.OpenStore(t, prefix, o).Create(ctx, "x")
			if err != nil {
				t.Fatal(err)
			}
			want := writeStream(t, w, tc.size, 9)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			proxy := s3test.StartFaultProxy(t, srv.Endpoint, s3test.FaultConfig{
				Rate: 1, Limit: tc.drops, Faults: []s3test.Fault{s3test.FaultTruncate}, Match: s3test.MatchGetObject,
			})
			got, n := readHash(t, srv.OpenStore(t, prefix, faultyOptions(srv, proxy, aws.RetryModeStandard)), "x")
			if got != want || n != tc.size {
				t.Fatalf("read %d bytes (hash match %v), want %d", n, got == want, tc.size)
			}
			if proxy.Injected(s3test.FaultTruncate) != tc.drops {
				t.Fatalf("proxy: %s; want %d truncations", proxy.Counts(), tc.drops)
			}
		})
	}
}

// When retries run out, the upload fails and leaves nothing: no object, no
// multipart upload.
func TestFailedUploadLeavesNothing(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		match func(*http.Request) bool
		size  int64
	}{
		{"every part fails", s3test.MatchUploadPart, 12 * MiB},
		{"every complete fails", s3test.MatchCompleteMultipart, 12 * MiB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := s3test.StartFaultProxy(t, srv.Endpoint, s3test.FaultConfig{
				Rate: 1, Faults: []s3test.Fault{s3test.Fault500, s3test.FaultSlowDown}, Match: tc.match,
			})
			o := faultyOptions(srv, proxy, aws.RetryModeStandard)
			o.MaxAttempts = 2
			prefix := "failed/" + tc.name
			st := srv.OpenStore(t, prefix, o)
			w, err := st.Create(ctx, "x")
			if err != nil {
				t.Fatal(err)
			}
			chunk := make([]byte, 1*MiB)
			var werr error
			for written := int64(0); written < tc.size && werr == nil; written += int64(len(chunk)) {
				_, werr = w.Write(chunk)
			}
			werr = errors.Join(werr, w.Close())
			if werr == nil {
				t.Fatal("upload succeeded through a proxy that fails every attempt")
			}
			direct := srv.OpenStore(t, prefix, srv.Options())
			if _, err := direct.Stat(ctx, "x"); !errors.Is(err, blob.ErrNotExist) {
				t.Fatalf("after a failed upload: stat = %v, want ErrNotExist", err)
			}
			ups, err := direct.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket), Prefix: aws.String(direct.Prefix())})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Fatalf("%d multipart uploads left behind", len(ups.Uploads))
			}
		})
	}
}

// The proxy's decisions are a function of the seed and the request's order,
// so a failing fault test can be replayed.
func TestFaultProxyDeterministic(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer backend.Close()
	run := func(seed uint64) []int {
		proxy := s3test.StartFaultProxy(t, backend.URL, s3test.FaultConfig{
			Rate: 0.3, Seed: seed, Faults: []s3test.Fault{s3test.Fault500, s3test.FaultSlowDown},
		})
		client := &http.Client{Transport: &http.Transport{}}
		var codes []int
		for range 200 {
			resp, err := client.Get(proxy.URL + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			codes = append(codes, resp.StatusCode)
		}
		if got := proxy.InjectedTotal(); got < 30 || got > 90 {
			t.Errorf("seed %d: injected %d faults in 200 requests at rate 0.3", seed, got)
		}
		return codes
	}
	a, b, c := run(7), run(7), run(8)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("same seed, different faults")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Error("different seeds, same faults")
	}
}

// A subprocess configured by Server.EnvVia (here: this process, through
// blob.Open and the environment alone) rides out the proxy's faults.
func TestEnvViaProxy(t *testing.T) {
	srv := s3test.Start(t)
	proxy := s3test.StartFaultProxy(t, srv.Endpoint, s3test.FaultConfig{Rate: 0.2, Seed: 3})
	isolateAWSEnv(t)
	for _, kv := range srv.EnvVia(proxy) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	st, err := blob.Open(ctx, srv.Location("via"))
	if err != nil {
		t.Fatal(err)
	}
	for i, size := range []int64{10, 12 * MiB, 1000, 9 * MiB} {
		key := fmt.Sprintf("obj-%d", i)
		w, err := st.Create(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		want := writeStream(t, w, size, uint64(i))
		if err := w.Close(); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if got, n := readHash(t, st, key); got != want || n != size {
			t.Fatalf("%s: read back %d bytes (hash match %v), want %d", key, n, got == want, size)
		}
	}
	t.Logf("proxy: %s", proxy.Counts())
	if proxy.InjectedTotal() == 0 {
		t.Fatal("the proxy injected no faults: the test proved nothing")
	}
}

// The writer's fallback for a lost Complete response rests on recognising its
// own object by size and composite CRC32; that must hold on a real server,
// and must not mistake another writer's object for its own.
func TestCompletedByUs(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	o := srv.Options()
	o.PartSize = 5 * MiB
	st := srv.OpenStore(t, "ours", o)
	upload := func(seed uint64) blob.Writer {
		w, err := st.Create(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		writeStream(t, w, 12*MiB, seed)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	first := upload(1)
	if !blobs3.CompletedByUs(first) {
		t.Fatal("the writer does not recognise the object it just completed")
	}
	upload(2) // same key, same size, other bytes
	if blobs3.CompletedByUs(first) {
		t.Fatal("the writer takes another writer's object for its own")
	}
}
