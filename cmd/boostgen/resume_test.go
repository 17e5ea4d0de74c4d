package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/blob/s3/s3test"
	"github.com/boostgen/boostgen/internal/testenv"
)

// These tests run the real binary, as a data engineer would: killed with
// SIGKILL and rerun, behind a faulty S3, and as three shards.

// killConfig is ~40 small synthetic scenes in ten parts of four.
const killConfig = `seed: 3
source:
  type: synthetic
  synthetic:
    width: 320
    height: 240
    sets:
      - {views: 1, scenes: 24}
      - {views: 2, scenes: 8}
      - {views: 4, scenes: 8}
output:
  items_per_part: 4
`

type cli struct {
	t      *testing.T
	bin    string
	config string
	env    []string
}

func newCLI(t *testing.T, env []string) *cli {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "kill.yaml")
	if err := os.WriteFile(cfg, []byte(killConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, bin: testenv.Boostgen(t), config: cfg, env: append(os.Environ(), env...)}
}

// with is c for test t with env instead of c's extra environment: the same
// binary (built once, not per trial) and config.
func (c *cli) with(t *testing.T, env []string) *cli {
	return &cli{t: t, bin: c.bin, config: c.config, env: append(os.Environ(), env...)}
}

func (c *cli) command(args ...string) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	return cmd, &out
}

// run runs boostgen to completion and fails the test if it fails.
func (c *cli) run(args ...string) string {
	c.t.Helper()
	cmd, out := c.command(args...)
	if err := cmd.Run(); err != nil {
		c.t.Fatalf("boostgen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out.String()
}

func (c *cli) gen(out string, extra ...string) []string {
	return append([]string{"run", c.config, "--out", out, "--no-progress", "--workers", "2"}, extra...)
}

// checkDataset asserts that st holds exactly the reference dataset: the
// same manifest (which carries every part's sha256), parts that match it,
// and every item exactly once, in order, as a record or a reject.
func checkDataset(t *testing.T, st blob.Store, refManifest []byte) {
	t.Helper()
	ctx := context.Background()
	mb, err := blob.ReadAll(ctx, st, gen.ManifestFile)
	if err != nil {
		t.Fatalf("%s: %v", st, err)
	}
	if !bytes.Equal(mb, refManifest) {
		t.Fatalf("%s: manifest.json differs from the uninterrupted run's:\n%s", st, mb)
	}
	if rep := gen.Validate(ctx, st); !rep.OK {
		t.Fatalf("%s does not validate: %v", st, rep.Errors)
	}
	var m gen.Manifest
	json.Unmarshal(mb, &m)
	seen := map[int]string{}
	note := func(idx int, what string) {
		if prev, dup := seen[idx]; dup {
			t.Errorf("item %d is there twice: %s and %s", idx, prev, what)
		}
		seen[idx] = what
	}
	err = dataset.Records(ctx, st, &m, func(e *dataset.Entry) error {
		note(e.Record.Meta.Source.Index, "record "+e.Record.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rejects, err := dataset.Rejects(ctx, st, &m)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rejects {
		note(r.Index, "reject "+r.Item)
	}
	for i := range m.Totals.Items {
		if _, ok := seen[i]; !ok {
			t.Errorf("item %d is missing: neither a record nor a reject", i)
		}
	}
}

// TestKillAndResume kills `boostgen run` with SIGKILL at 20 random moments
// per backend, reruns to completion each time, and asserts the dataset is
// byte-identical to an uninterrupted run's.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and reruns the binary 40 times")
	}
	ref := filepath.Join(t.TempDir(), "ref")
	c := newCLI(t, nil)
	t0 := time.Now()
	c.run(c.gen(ref)...)
	full := time.Since(t0)
	refManifest, err := os.ReadFile(filepath.Join(ref, gen.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}

	backends := []struct {
		name string
		open func(t *testing.T, trial int) (env []string, out string, st blob.Store)
	}{
		{"local", func(t *testing.T, trial int) ([]string, string, blob.Store) {
			out := filepath.Join(t.TempDir(), fmt.Sprint("out", trial))
			st, err := blob.NewLocal(out)
			if err != nil {
				t.Fatal(err)
			}
			return nil, out, st
		}},
		{"s3", func() func(t *testing.T, trial int) ([]string, string, blob.Store) {
			var srv *s3test.Server
			return func(t *testing.T, trial int) ([]string, string, blob.Store) {
				if srv == nil {
					srv = s3test.Start(t)
				}
				prefix := fmt.Sprintf("kill/%d", trial)
				return srv.Env(), srv.Location(prefix), srv.OpenStore(t, prefix+"/", srv.Options())
			}
		}()},
	}
	const kills = 20
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			if s := os.Getenv("BOOSTGEN_KILL_SEED"); s != "" {
				fmt.Sscan(s, &seed)
			}
			t.Logf("kill moments drawn with BOOSTGEN_KILL_SEED=%d; an uninterrupted run takes %v", seed, full.Round(time.Millisecond))
			rng := rand.New(rand.NewPCG(seed, 0))
			delivered := 0
			for trial := 0; delivered < kills; trial++ {
				if trial >= 3*kills {
					t.Fatalf("only %d of %d kills landed on a running process", delivered, kills)
				}
				env, out, st := be.open(t, trial)
				c := c.with(t, env)
				// Up to two kills per output, the second one on the rerun.
				for k := 0; k < 2 && delivered < kills; k++ {
					cmd, log := c.command(c.gen(out)...)
					if err := cmd.Start(); err != nil {
						t.Fatal(err)
					}
					exited := make(chan error, 1)
					go func() { exited <- cmd.Wait() }()
					// A random moment of the run: up to the length of a
					// whole run (S3 runs are slower, so this includes late
					// moments such as finalize).
					moment := time.Duration(rng.Int64N(int64(full)))
					select {
					case err := <-exited:
						if err != nil {
							t.Fatalf("run exited by itself with %v\n%s", err, log)
						}
						continue // finished before the moment: not a kill
					case <-time.After(moment):
					}
					cmd.Process.Kill()
					if err := <-exited; err == nil {
						continue // it finished just before the signal
					}
					delivered++
					// Whatever the moment, a reader must never see a wrong
					// dataset: a manifest, if there is one, is the final one.
					if mb, err := blob.ReadAll(context.Background(), st, gen.ManifestFile); err == nil && !bytes.Equal(mb, refManifest) {
						t.Fatalf("after a kill at %v, %s holds a manifest that is not the final one", moment, out)
					}
				}
				c.run(c.gen(out)...)
				checkDataset(t, st, refManifest)
			}
			t.Logf("%d kills delivered", delivered)
		})
	}
}

// TestFaultyS3 runs through a proxy that fails 10% of requests (500, 503
// SlowDown, resets, stalls, truncated bodies): the run completes, the output
// validates and equals a clean run's.
func TestFaultyS3(t *testing.T) {
	srv := s3test.Start(t)
	ref := filepath.Join(t.TempDir(), "ref")
	base := newCLI(t, nil)
	base.run(base.gen(ref)...)
	refManifest, _ := os.ReadFile(filepath.Join(ref, gen.ManifestFile))

	// Seed 25 gives at least three of each kind within the first 140
	// requests, and a run makes about 180.
	proxy := s3test.StartFaultProxy(t, srv.Endpoint, s3test.FaultConfig{Rate: 0.10, Seed: 25, StallFor: 10 * time.Second})
	c := base.with(t, srv.EnvVia(proxy))
	c.run(c.gen(srv.Location("faulty"))...)
	t.Logf("proxy: %d requests, faults injected: %s", proxy.Requests(), proxy.Counts())
	for _, f := range []s3test.Fault{s3test.Fault500, s3test.FaultSlowDown, s3test.FaultReset, s3test.FaultStall} {
		if proxy.Injected(f) == 0 {
			t.Errorf("no %s fault was injected; the test proves less than it claims", f)
		}
	}
	checkDataset(t, srv.OpenStore(t, "faulty/", srv.Options()), refManifest)
}

// TestShardsOnS3 runs three shards at once into one S3 prefix, checks that
// finalize refuses while one is missing, then races two finalizes: exactly
// one commits, and the dataset equals the single-process one.
func TestShardsOnS3(t *testing.T) {
	srv := s3test.Start(t)
	ref := filepath.Join(t.TempDir(), "ref")
	c := newCLI(t, srv.Env())
	c.run(c.gen(ref)...)
	refManifest, _ := os.ReadFile(filepath.Join(ref, gen.ManifestFile))
	out := srv.Location("sharded")
	st := srv.OpenStore(t, "sharded/", srv.Options())

	parallel := func(argss ...[]string) ([]error, []string) {
		errs, outs := make([]error, len(argss)), make([]string, len(argss))
		var wg sync.WaitGroup
		for k, args := range argss {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd, o := c.command(args...)
				errs[k] = cmd.Run()
				outs[k] = o.String()
			}()
		}
		wg.Wait()
		return errs, outs
	}
	shard := func(i int) []string { return c.gen(out, "--shard", fmt.Sprintf("%d/3", i), "--workers", "1") }
	errs, outs := parallel(shard(0), shard(2))
	for k, err := range errs {
		if err != nil {
			t.Fatalf("shard: %v\n%s", err, outs[k])
		}
	}
	cmd, o := c.command("finalize", out)
	if err := cmd.Run(); err == nil || !strings.Contains(o.String(), "--shard 1/3 (not started)") {
		t.Fatalf("finalize with shard 1/3 missing: %v, %q; want a refusal naming --shard 1/3", err, o)
	}
	c.run(shard(1)...)

	errs, outs = parallel([]string{"finalize", out}, []string{"finalize", out})
	committed := 0
	for k, err := range errs {
		switch {
		case strings.Contains(outs[k], "boostgen: finalized "):
			committed++
			if err != nil {
				t.Errorf("the committing finalize exited with %v", err)
			}
		case err == nil && strings.Contains(outs[k], "already finalized"):
		case err != nil && strings.Contains(outs[k], "another finalize committed this dataset at the same time"):
		default:
			t.Errorf("finalize: %v\n%s", err, outs[k])
		}
	}
	if committed != 1 {
		t.Fatalf("%d finalizes say they committed the dataset; want exactly 1:\n%s", committed, strings.Join(outs, "\n"))
	}
	checkDataset(t, st, refManifest)
}
