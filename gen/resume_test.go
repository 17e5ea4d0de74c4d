package gen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/blob/s3/s3test"
)

// smallConfig is 40 small synthetic scenes in parts of 4 items: big enough
// for ten parts, rejects and multi-view records, small enough to run often.
func smallConfig(t testing.TB, seed int) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
seed: %d
source:
  type: synthetic
  synthetic:
    width: 160
    height: 120
    sets:
      - {views: 1, scenes: 24}
      - {views: 2, scenes: 8}
      - {views: 4, scenes: 8}
output:
  items_per_part: 4
`, seed)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func mustRun(t *testing.T, cfg *Config, opts RunOptions) *Summary {
	t.Helper()
	s, err := Run(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("run %s (shard %v): %v", opts.Out, opts.Shard, err)
	}
	return s
}

// datasetFiles is what a reader of the dataset sees: manifest.json, the
// files it lists, and the image keys. Bookkeeping (_run.json, _parts/,
// _shards/, _SUCCESS) is left out: it records how the run went.
func datasetFiles(t *testing.T, store blob.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	files := map[string]string{}
	mb, err := blob.ReadAll(ctx, store, ManifestFile)
	if err != nil {
		t.Fatalf("%s: %v", store, err)
	}
	files[ManifestFile] = string(mb)
	var m Manifest
	if err := json.Unmarshal(mb, &m); err != nil {
		t.Fatal(err)
	}
	keys := []string{RejectsFile}
	for _, sh := range m.Shards {
		keys = append(keys, sh.Path)
	}
	for _, k := range keys {
		b, err := blob.ReadAll(ctx, store, k)
		if err != nil {
			t.Fatalf("%s: %v", store, err)
		}
		files[k] = string(b)
	}
	imgs, err := store.List(ctx, "images/")
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range imgs {
		files[info.Key] = fmt.Sprint(info.Size)
	}
	return files
}

func assertSameDataset(t *testing.T, want, got blob.Store) {
	t.Helper()
	w, g := datasetFiles(t, want), datasetFiles(t, got)
	for k, v := range w {
		if gv, ok := g[k]; !ok {
			t.Errorf("%s: %s is missing", got, k)
		} else if gv != v {
			t.Errorf("%s: %s differs from %s's", got, k, want)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("%s: extra %s", got, k)
		}
	}
	if rep := Validate(context.Background(), got); !rep.OK {
		t.Errorf("%s does not validate: %v", got, rep.Errors)
	}
}

func localStore(t *testing.T, dir string) blob.Store {
	t.Helper()
	st, err := blob.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// An interrupted run, rerun, gives the dataset an uninterrupted one gives:
// committed parts are kept, the part that was being written is redone, and
// a part file whose manifest never got written is replaced.
func TestResumeAfterInterruption(t *testing.T) {
	cfg := smallConfig(t, 3)
	ref := filepath.Join(t.TempDir(), "ref")
	mustRun(t, cfg, RunOptions{Out: ref, Workers: 2})
	refStore := localStore(t, ref)

	tests := []struct {
		name      string
		stopAfter int // items written before the interruption
		workers   int
		resume    int // workers of the rerun
		garbage   bool
	}{
		{"after one item", 1, 1, 2, false},
		{"mid part", 6, 2, 1, false},
		{"many parts, orphan part file", 23, 3, 2, true},
		{"just before the end", 39, 2, 2, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := Run(ctx, cfg, RunOptions{Out: out, Workers: tc.workers, OnProgress: func(p Progress) {
				if p.Done == tc.stopAfter {
					cancel()
				}
			}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: got %v, want context.Canceled", err)
			}
			st := localStore(t, out)
			if ok, _ := blob.Exists(context.Background(), st, ManifestFile); ok {
				t.Fatalf("an interrupted run wrote %s", ManifestFile)
			}
			if rep := Validate(context.Background(), st); rep.OK {
				t.Fatal("an interrupted run validates as a dataset")
			}
			if tc.garbage {
				// A part file whose part manifest was never written: the
				// process died between the two.
				if err := blob.Put(context.Background(), st, ShardName(7, "zstd"), []byte("half a part")); err != nil {
					t.Fatal(err)
				}
				st.Delete(context.Background(), partManifestKey(7))
			}
			s := mustRun(t, cfg, RunOptions{Out: out, Workers: tc.resume})
			if s.PartsSkipped == 0 && tc.stopAfter >= 8 {
				t.Errorf("rerun skipped no part after %d items were written", tc.stopAfter)
			}
			if s.PartsSkipped+s.PartsWritten != 10 || !s.Finalized {
				t.Errorf("rerun: %d parts skipped + %d written, finalized %v; want 10 in all, finalized", s.PartsSkipped, s.PartsWritten, s.Finalized)
			}
			assertSameDataset(t, refStore, st)

			// Once more: nothing to do, same dataset.
			s = mustRun(t, cfg, RunOptions{Out: out, Workers: 2})
			if s.PartsWritten != 0 || s.PartsSkipped != 10 {
				t.Errorf("rerun of a finished run wrote %d parts, skipped %d; want 0 and 10", s.PartsWritten, s.PartsSkipped)
			}
			assertSameDataset(t, refStore, st)
		})
	}
}

// A rerun with another config (or seed, or --limit) is refused, naming what
// changed; --force-new starts over and gives what a fresh run gives.
func TestResumeRefusesAnotherConfig(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, smallConfig(t, 3), RunOptions{Out: out, Workers: 2})
	tests := []struct {
		name string
		cfg  *Config
		opts RunOptions
		want string
	}{
		{"seed", smallConfig(t, 4), RunOptions{}, "seed 4 (output has 3)"},
		{"limit", smallConfig(t, 3), RunOptions{Limit: 20}, "items (source size or --limit) 20 (output has 40)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Out = out
			_, err := Run(context.Background(), tc.cfg, tc.opts)
			if !errors.Is(err, ErrConfigChanged) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--force-new") {
				t.Fatalf("got %v, want ErrConfigChanged naming %q and --force-new", err, tc.want)
			}
		})
	}
	// A dataset without _run.json (written by something else, or by an
	// older boostgen) is not resumed or overwritten either.
	foreign := filepath.Join(t.TempDir(), "foreign")
	if err := blob.Put(context.Background(), localStore(t, foreign), ManifestFile, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), smallConfig(t, 3), RunOptions{Out: foreign}); err == nil || !strings.Contains(err.Error(), "cannot resume") {
		t.Errorf("run into a folder with a foreign manifest: %v; want a refusal", err)
	}

	cfg := smallConfig(t, 4)
	fresh := filepath.Join(t.TempDir(), "fresh")
	mustRun(t, cfg, RunOptions{Out: fresh, Workers: 2})
	mustRun(t, cfg, RunOptions{Out: out, Workers: 2, ForceNew: true})
	st := localStore(t, out)
	want, got := datasetFiles(t, localStore(t, fresh)), datasetFiles(t, st)
	for k, v := range want {
		// The old run's images stay (content-addressed), so only the new
		// run's must be there.
		if got[k] != v {
			t.Errorf("after --force-new, %s differs from a fresh run's", k)
		}
	}
	if rep := Validate(context.Background(), st); !rep.OK {
		t.Errorf("after --force-new: %v", rep.Errors)
	}
}

// Three shards into one output, then finalize, give the single-process
// dataset; finalize refuses before, naming the missing parts and shard.
func TestShardsThenFinalize(t *testing.T) {
	cfg := smallConfig(t, 3)
	ref := filepath.Join(t.TempDir(), "ref")
	mustRun(t, cfg, RunOptions{Out: ref, Workers: 2})
	out := filepath.Join(t.TempDir(), "out")
	st := localStore(t, out)
	ctx := context.Background()

	for _, i := range []int{2, 0} {
		s := mustRun(t, cfg, RunOptions{Out: out, Workers: 2, Shard: Shard{Index: i, Count: 3}})
		if s.Finalized {
			t.Fatalf("shard %d/3 finalized the dataset on its own", i)
		}
	}
	_, err := Finalize(ctx, st)
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("finalize with shard 1/3 missing: got %v, want ErrIncomplete", err)
	}
	for _, want := range []string{"3 of 10 parts", "part-00001, part-00004, part-00007", "--shard 1/3 (not started)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("finalize error %q does not say %q", err, want)
		}
	}
	if ok, _ := blob.Exists(ctx, st, ManifestFile); ok {
		t.Fatalf("a refused finalize wrote %s", ManifestFile)
	}
	mustRun(t, cfg, RunOptions{Out: out, Workers: 1, Shard: Shard{Index: 1, Count: 3}})
	res, err := Finalize(ctx, st)
	if err != nil || res.Already {
		t.Fatalf("finalize: %v (already %v)", err, res != nil && res.Already)
	}
	assertSameDataset(t, localStore(t, ref), st)
	res, err = Finalize(ctx, st)
	if err != nil || !res.Already {
		t.Fatalf("second finalize: %v; want no error and Already", err)
	}
}

// barrierStore holds every PutIfAbsent of _SUCCESS until n callers are
// there, so that concurrent finalizes really do race for it.
type barrierStore struct {
	blob.Store
	n     int
	mu    sync.Mutex
	count int
	all   chan struct{}
}

func (b *barrierStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if key == SuccessFile {
		b.mu.Lock()
		b.count++
		if b.count == b.n {
			close(b.all)
		}
		b.mu.Unlock()
		select {
		case <-b.all:
		case <-time.After(30 * time.Second):
			return errors.New("barrier: the other finalize never got here")
		}
	}
	return b.Store.PutIfAbsent(ctx, key, data)
}

// Of two concurrent finalizes exactly one commits; the other gets
// ErrFinalizeRace. On a local folder and on a real S3 server.
func TestConcurrentFinalize(t *testing.T) {
	backends := []struct {
		name string
		open func(t *testing.T) (out string, st blob.Store)
	}{
		{"local", func(t *testing.T) (string, blob.Store) {
			out := filepath.Join(t.TempDir(), "out")
			return out, localStore(t, out)
		}},
		{"s3", func(t *testing.T) (string, blob.Store) {
			srv := s3test.Start(t)
			srv.SetEnv(t)
			return srv.Location("ds"), srv.OpenStore(t, "ds/", srv.Options())
		}},
	}
	cfg := smallConfig(t, 3)
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			out, st := be.open(t)
			for i := range 2 {
				mustRun(t, cfg, RunOptions{Out: out, Workers: 2, Shard: Shard{Index: i, Count: 2}})
			}
			bs := &barrierStore{Store: st, n: 2, all: make(chan struct{})}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for k := range errs {
				wg.Add(1)
				go func() { defer wg.Done(); _, errs[k] = Finalize(context.Background(), bs) }()
			}
			wg.Wait()
			won, lost := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case errors.Is(err, ErrFinalizeRace):
					lost++
				default:
					t.Errorf("finalize: %v", err)
				}
			}
			if won != 1 || lost != 1 {
				t.Fatalf("%d finalizes won and %d lost (%v); want exactly one of each", won, lost, errs)
			}
			if rep := Validate(context.Background(), st); !rep.OK {
				t.Errorf("after the race: %v", rep.Errors)
			}
			if res, err := Finalize(context.Background(), st); err != nil || !res.Already {
				t.Errorf("finalize after the race: %v; want Already", err)
			}
		})
	}
}
