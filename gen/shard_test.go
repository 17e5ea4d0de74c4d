package gen

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/internal/blob"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in      string
		want    Shard
		wantErr string
	}{
		{"0/3", Shard{0, 3}, ""},
		{"2/3", Shard{2, 3}, ""},
		{"0/1", Shard{0, 1}, ""},
		{"3/3", Shard{}, "want 0 ≤ I < N"},
		{"-1/3", Shard{}, "want 0 ≤ I < N"},
		{"1/0", Shard{}, "want 0 ≤ I < N"},
		{"1", Shard{}, "want I/N"},
		{"a/b", Shard{}, "want I/N"},
	}
	for _, tc := range tests {
		got, err := ParseShard(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseShard(%q): %v, want an error saying %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	// Every part belongs to exactly one of N shards.
	for n := 1; n <= 4; n++ {
		owners := make([]int, 10)
		for i := range n {
			for _, p := range (Shard{i, n}).Parts(10) {
				owners[p]++
			}
		}
		for p, c := range owners {
			if c != 1 {
				t.Errorf("with %d shards, part %d has %d owners", n, p, c)
			}
		}
	}
}

// Validate catches a damaged dataset, and a rerun repairs a part file that
// no longer matches its part manifest.
func TestDamagedDataset(t *testing.T) {
	cfg := smallConfig(t, 3)
	ref := filepath.Join(t.TempDir(), "ref")
	mustRun(t, cfg, RunOptions{Out: ref, Workers: 2})
	refStore := localStore(t, ref)
	part := ShardName(2, "zstd")

	tests := []struct {
		name    string
		damage  func(dir string) error
		want    string // in validate's errors
		repairs bool   // a rerun restores the dataset
	}{
		{"truncated part", func(dir string) error {
			p := filepath.Join(dir, part)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, b[:len(b)/2], 0o644)
		}, part, true},
		{"missing part", func(dir string) error { return os.Remove(filepath.Join(dir, part)) }, part, true},
		{"no _SUCCESS", func(dir string) error { return os.Remove(filepath.Join(dir, SuccessFile)) }, "finalize did not finish", true},
		{"missing image", func(dir string) error {
			imgs, _ := filepath.Glob(filepath.Join(dir, "images", "*", "*"))
			return os.Remove(imgs[0])
		}, "is missing", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if err := os.CopyFS(dir, os.DirFS(ref)); err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(dir); err != nil {
				t.Fatal(err)
			}
			st := localStore(t, dir)
			rep := Validate(context.Background(), st)
			if rep.OK || !strings.Contains(strings.Join(rep.Errors, "\n"), tc.want) {
				t.Fatalf("validate: ok %v, errors %v; want an error naming %q", rep.OK, rep.Errors, tc.want)
			}
			if !tc.repairs {
				return
			}
			// Parts are deterministic, so the redone part matches the
			// manifest that is already there.
			s := mustRun(t, cfg, RunOptions{Out: dir, Workers: 2})
			if tc.name != "no _SUCCESS" && s.PartsWritten != 1 {
				t.Errorf("rerun wrote %d parts, want 1 (the damaged one)", s.PartsWritten)
			}
			assertSameDataset(t, refStore, st)
			if ok, _ := blob.Exists(context.Background(), st, SuccessFile); !ok {
				t.Errorf("no %s after the rerun", SuccessFile)
			}
		})
	}
}
