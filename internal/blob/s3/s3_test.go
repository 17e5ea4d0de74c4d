package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/boostgen/boostgen/internal/blob"
	blobs3 "github.com/boostgen/boostgen/internal/blob/s3"
	"github.com/boostgen/boostgen/internal/blob/s3/s3test"
)

const MiB = 1 << 20

// writeStream writes size seeded pseudo-random bytes to w in uneven chunks,
// as an encoder would, and returns their SHA-256. It holds only one chunk.
func writeStream(t testing.TB, w io.Writer, size int64, seed uint64) [32]byte {
	t.Helper()
	src := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	sizes := rand.New(rand.NewPCG(seed, 1))
	h := sha256.New()
	buf := make([]byte, 256<<10)
	for size > 0 {
		n := min(int64(1+sizes.IntN(len(buf))), size)
		chunk := buf[:n]
		src.Read(chunk)
		h.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("write: %v", err)
		}
		size -= n
	}
	return [32]byte(h.Sum(nil))
}

// readHash reads key and returns its SHA-256 and length.
func readHash(t testing.TB, st blob.Store, key string) ([32]byte, int64) {
	t.Helper()
	r, err := st.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return [32]byte(h.Sum(nil)), n
}

func TestRoundTrip(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	o := srv.Options()
	o.PartSize = 5 * MiB
	st := srv.OpenStore(t, "rt", o)
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"empty", 0},
		{"small", 1234},
		{"exactly one part", 5 * MiB},
		{"one part and a byte", 5*MiB + 1},
		{"multipart 20MiB", 20 * MiB},
		{"multipart uneven", 17*MiB + 12345},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "obj/" + tc.name
			w, err := st.Create(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			want := writeStream(t, w, tc.size, uint64(tc.size))
			if err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			got, n := readHash(t, st, key)
			if n != tc.size || got != want {
				t.Fatalf("read back %d bytes (hash match %v), wrote %d", n, got == want, tc.size)
			}
			info, err := st.Stat(ctx, key)
			if err != nil || info.Size != tc.size || info.Key != key {
				t.Fatalf("stat = %+v, %v; want size %d", info, err, tc.size)
			}
			if err := w.Abort(); err != nil {
				t.Fatalf("abort after close: %v", err)
			}
			if _, err := st.Stat(ctx, key); err != nil {
				t.Fatalf("abort after close removed the object: %v", err)
			}
		})
	}
}

// A writer holds at most two parts, however big the object: the memory bound
// that lets many shards stream at once.
func TestWriterMemoryBound(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	const part = 5 * MiB
	for _, size := range []int64{3 * part, 64 * MiB} {
		t.Run(fmt.Sprint(size/MiB, "MiB"), func(t *testing.T) {
			o := srv.Options()
			o.PartSize = part
			st := srv.OpenStore(t, "mem", o)
			w, err := st.Create(ctx, "big")
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			want := writeStream(t, w, size, 7)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if n := blobs3.PartBuffers(w); n > 2 {
				t.Errorf("writer allocated %d part buffers, want at most 2", n)
			}
			// Everything allocated while streaming, the SDK's request
			// handling included, stays a few parts, not the object size.
			alloc := int64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("allocated %.1f MiB to stream %d MiB", float64(alloc)/MiB, size/MiB)
			if limit := int64(4 * part); alloc > limit {
				t.Errorf("streaming %d MiB allocated %d MiB, want under %d MiB", size/MiB, alloc/MiB, limit/MiB)
			}
			if got, n := readHash(t, st, "big"); got != want || n != size {
				t.Fatalf("read back %d bytes, hash match %v", n, got == want)
			}
		})
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	o := srv.Options()
	o.PartSize = 5 * MiB
	for _, tc := range []struct {
		name string
		size int64
	}{
		{"nothing written", 0},
		{"within one part", 1000},
		{"parts uploaded", 12 * MiB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := srv.OpenStore(t, "abort/"+fmt.Sprint(tc.size), o)
			w, err := st.Create(ctx, "x")
			if err != nil {
				t.Fatal(err)
			}
			writeStream(t, w, tc.size, 1)
			if err := w.Abort(); err != nil {
				t.Fatalf("abort: %v", err)
			}
			// Close after Abort must not look like a commit.
			if err := w.Close(); err == nil {
				t.Fatal("close after abort returned nil")
			}
			if _, err := st.Stat(ctx, "x"); !errors.Is(err, blob.ErrNotExist) {
				t.Fatalf("stat after abort: %v, want ErrNotExist", err)
			}
			if l, err := st.List(ctx, ""); err != nil || len(l) != 0 {
				t.Fatalf("list after abort = %v, %v; want nothing", l, err)
			}
			ups, err := st.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(srv.Bucket), Prefix: aws.String(st.Prefix())})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Fatalf("%d multipart uploads left after abort", len(ups.Uploads))
			}
			if _, err := w.Write([]byte("more")); err == nil {
				t.Fatal("write after abort succeeded")
			}
		})
	}
}

func TestPutIfAbsent(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	st := srv.Store
	for _, writers := range []int{2, 8} {
		t.Run(fmt.Sprint(writers, " writers"), func(t *testing.T) {
			key := fmt.Sprintf("commit/%d/_DONE", writers)
			errs := make([]error, writers)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range writers {
				wg.Go(func() {
					<-start
					errs[i] = st.PutIfAbsent(ctx, key, []byte(fmt.Sprintf("writer %d", i)))
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("writers %d and %d both won", winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, blob.ErrExists):
					t.Fatalf("writer %d: %v, want ErrExists", i, err)
				}
			}
			if winner < 0 {
				t.Fatal("no writer won")
			}
			got, err := blob.ReadAll(ctx, st, key)
			if err != nil || string(got) != fmt.Sprintf("writer %d", winner) {
				t.Fatalf("stored %q, %v; want the winner's (writer %d) bytes", got, err, winner)
			}
			// A later writer loses too, even with the same bytes.
			if err := st.PutIfAbsent(ctx, key, got); !errors.Is(err, blob.ErrExists) {
				t.Fatalf("late writer: %v, want ErrExists", err)
			}
		})
	}
}

func TestList(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	const n = 45
	o := srv.Options()
	o.ListPageSize = 7 // many pages without writing thousands of objects
	st := srv.OpenStore(t, "list", o)
	for i := range n {
		if err := blob.Put(ctx, st, fmt.Sprintf("shards/%04d.jsonl.zst", i), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := blob.Put(ctx, st, "other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	// Outside the store's prefix: must not show.
	if err := blob.Put(ctx, srv.Store, "listing-outside", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prefix string
		want   int
	}{
		{"", n + 1},
		{"shards/", n},
		{"shards/000", 10},
		{"nothing/", 0},
	} {
		t.Run("prefix="+tc.prefix, func(t *testing.T) {
			l, err := st.List(ctx, tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if len(l) != tc.want {
				t.Fatalf("listed %d keys, want %d: %v", len(l), tc.want, l)
			}
			for i, info := range l {
				if i > 0 && l[i-1].Key >= info.Key {
					t.Fatalf("not sorted: %q then %q", l[i-1].Key, info.Key)
				}
				if info.Size != 1 {
					t.Fatalf("%s: size %d, want 1", info.Key, info.Size)
				}
			}
			if tc.want > 0 && l[0].Key[:len(tc.prefix)] != tc.prefix {
				t.Fatalf("key %q: prefix of the store not stripped", l[0].Key)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	st := srv.OpenStore(t, "missing", srv.Options())
	noBucket, err := blobs3.Open(ctx, "s3://no-such-bucket/x", srv.Options())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		op      func() error
		wantErr error // nil: must succeed
	}{
		{"open", func() error { _, err := st.Open(ctx, "nope"); return err }, blob.ErrNotExist},
		{"stat", func() error { _, err := st.Stat(ctx, "nope"); return err }, blob.ErrNotExist},
		{"delete", func() error { return st.Delete(ctx, "nope") }, nil},
		{"list", func() error { _, err := st.List(ctx, "nope/"); return err }, nil},
		{"delete then stat", func() error {
			if err := blob.Put(ctx, st, "gone", []byte("x")); err != nil {
				return err
			}
			if err := st.Delete(ctx, "gone"); err != nil {
				return err
			}
			_, err := st.Stat(ctx, "gone")
			return err
		}, blob.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %v, want %v", err, tc.wantErr)
			}
		})
	}
	// A missing bucket is a configuration error, not a missing key.
	if _, err := noBucket.Open(ctx, "k"); err == nil || errors.Is(err, blob.ErrNotExist) {
		t.Fatalf("open in a missing bucket: %v, want an error other than ErrNotExist", err)
	}
}

// blob.Open("s3://...") with settings from the environment, the way a
// boostgen subprocess gets them from s3test.Server.Env.
func TestOpenFromEnv(t *testing.T) {
	srv := s3test.Start(t)
	srv.SetEnv(t)
	ctx := context.Background()
	st, err := blob.Open(ctx, srv.Location("env/prefix"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.String(), "s3://"+srv.Bucket+"/env/prefix"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if err := blob.Put(ctx, st, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	got, err := blob.ReadAll(ctx, srv.Store, "env/prefix/k")
	if err != nil || string(got) != "v" {
		t.Fatalf("read through the plain store: %q, %v", got, err)
	}
}

// Bytes that rot on the server's disk are caught by the CRC32 stored with the
// object, rather than flowing into training data.
func TestCorruptionDetected(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	st := srv.OpenStore(t, "rot", srv.Options())
	data := bytes.Repeat([]byte(`{"q":"how far?","a":"1.5 m"}`+"\n"), 40000)
	if err := blob.Put(ctx, st, "shard.jsonl", data); err != nil {
		t.Fatal(err)
	}
	if got, err := blob.ReadAll(ctx, st, "shard.jsonl"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("intact read: %v", err)
	}
	// The posix backend keeps the object as a plain file: flip one byte.
	path := filepath.Join(srv.Dir, srv.Bucket, "rot", "shard.jsonl")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{'X'}, int64(len(data)/2)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := blob.ReadAll(ctx, st, "shard.jsonl"); err == nil {
		t.Fatal("read a corrupted object without an error")
	}
}

// An HTTPS endpoint with a private CA works through AWS_CA_BUNDLE, as
// self-hosted MinIO or versitygw usually needs, and fails without it.
func TestTLSWithCABundle(t *testing.T) {
	srv := s3test.StartTLS(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		trust bool
	}{
		{"AWS_CA_BUNDLE set", true},
		{"no CA bundle", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolateAWSEnv(t)
			srv.SetEnv(t)
			if !tc.trust {
				t.Setenv("AWS_CA_BUNDLE", "")
			}
			st, err := blob.Open(ctx, srv.Location("tls"))
			if err != nil {
				t.Fatal(err)
			}
			err = blob.Put(ctx, st, "k", []byte("v"))
			switch {
			case tc.trust && err != nil:
				t.Fatalf("put over TLS with the CA trusted: %v", err)
			case !tc.trust && err == nil:
				t.Fatal("put over TLS succeeded with an untrusted certificate")
			case !tc.trust && !strings.Contains(err.Error(), "certificate"):
				t.Fatalf("put with an untrusted certificate: %v, want a certificate error", err)
			}
		})
	}
}

// Credentials and settings from a named profile of the shared files reach
// the server, as on a workstation with several accounts.
func TestProfile(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	isolateAWSEnv(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	cfg := filepath.Join(dir, "config")
	for _, f := range []struct{ path, text string }{
		{creds, "[default]\naws_access_key_id = other-account\naws_secret_access_key = other-account-secret-7f3a\n\n[vgw]\naws_access_key_id = " + s3test.AccessKey + "\naws_secret_access_key = " + s3test.SecretKey + "\n"},
		{cfg, "[profile vgw]\nregion = " + s3test.Region + "\n"},
	} {
		if err := os.WriteFile(f.path, []byte(f.text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", cfg)
	for _, tc := range []struct {
		name    string
		profile string
		ok      bool
	}{
		{"named profile", "vgw", true},
		{"default profile has other keys", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := blobs3.Open(ctx, srv.Location("profile"), blobs3.Options{Endpoint: srv.Endpoint, PathStyle: true, Profile: tc.profile})
			if err != nil {
				t.Fatal(err)
			}
			err = blob.Put(ctx, st, "k", []byte("v"))
			if tc.ok != (err == nil) {
				t.Fatalf("put with profile %q: %v, want success %v", tc.profile, err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), "other-account-secret-7f3a") {
				t.Fatalf("the error shows the secret key: %v", err)
			}
		})
	}
}

// Past S3's 1000-key page, with the server's own page size: the listing of a
// big run's shards must be complete.
func TestListBeyondOnePage(t *testing.T) {
	srv := s3test.Start(t)
	ctx := context.Background()
	st := srv.OpenStore(t, "many", srv.Options())
	const n = 1234
	var wg sync.WaitGroup
	errs := make(chan error, n)
	keys := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range keys {
				if err := blob.Put(ctx, st, fmt.Sprintf("shard-%05d", i), nil); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		keys <- i
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	l, err := st.List(ctx, "shard-")
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != n {
		t.Fatalf("listed %d keys, want %d", len(l), n)
	}
	for i, info := range l {
		if want := fmt.Sprintf("shard-%05d", i); info.Key != want {
			t.Fatalf("key %d is %q, want %q", i, info.Key, want)
		}
	}
}
