package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/boostgen/boostgen/internal/blob"
)

// viewMixConfig is a quick run with every view count (1, 2, 4, 8).
func viewMixConfig(t *testing.T) *Config {
	t.Helper()
	cfg, err := ParseConfig([]byte(`
seed: 5
source:
  type: synthetic
  synthetic:
    width: 320
    height: 240
    sets: [{views: 1, scenes: 14}, {views: 2, scenes: 3}, {views: 4, scenes: 2}, {views: 8, scenes: 1}]
output: {items_per_part: 6}
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = b
		return nil
	})
	return files
}

func TestSameOutputForAnyWorkerCount(t *testing.T) {
	cfg := viewMixConfig(t)
	var trees []map[string][]byte
	for _, workers := range []int{1, 2, 5} {
		out := filepath.Join(t.TempDir(), "out")
		if _, err := Run(context.Background(), cfg, RunOptions{Out: out, Workers: workers}); err != nil {
			t.Fatal(err)
		}
		trees = append(trees, readTree(t, out))
	}
	for k := 1; k < len(trees); k++ {
		if len(trees[k]) != len(trees[0]) {
			t.Fatalf("run %d wrote %d files, run 0 wrote %d", k, len(trees[k]), len(trees[0]))
		}
		for name, b := range trees[0] {
			if name == SuccessFile {
				continue // a commit marker, unique to the finalize that wrote it
			}
			if !bytes.Equal(b, trees[k][name]) {
				t.Errorf("%s differs between worker counts", name)
			}
		}
	}
	shards := 0
	for name := range trees[0] {
		if strings.HasPrefix(name, "part-") {
			shards++
		}
	}
	if shards < 2 {
		t.Errorf("%d shards; the shard limit should have split the output", shards)
	}
}

func TestRunOutputValidates(t *testing.T) {
	cfg := viewMixConfig(t)
	out := t.TempDir()
	sum, err := Run(context.Background(), cfg, RunOptions{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Items != 20 || sum.Records+sum.Rejects != 20 || sum.Records < 15 {
		t.Errorf("summary %+v", sum)
	}
	store, _ := blob.NewLocal(out)
	rep := Validate(context.Background(), store)
	if !rep.OK || rep.Records != sum.Records {
		t.Fatalf("validate: %+v", rep)
	}
	// Multi-view records carry a list of images and one <image> each.
	views := map[int]int{}
	for _, rec := range readRecords(t, out) {
		n := 1
		if list, ok := rec.Image.([]any); ok {
			n = len(list)
		}
		views[n]++
		if got := strings.Count(rec.Conversations[0].Value, "<image>"); got != n {
			t.Errorf("%s: %d <image> tokens for %d images", rec.ID, got, n)
		}
		if rec.Meta.Frame.Kind != "floor" {
			t.Errorf("%s: frame %s", rec.ID, rec.Meta.Frame.Kind)
		}
	}
	for _, n := range []int{1, 2, 4, 8} {
		if views[n] == 0 {
			t.Errorf("no %d-view record: %v", n, views)
		}
	}
	// Running again on a finished dataset resumes: nothing is rewritten.
	before := readTree(t, out)
	again, err := Run(context.Background(), cfg, RunOptions{Out: out})
	if err != nil || again.PartsWritten != 0 || again.Records != sum.Records {
		t.Fatalf("second run: %+v, %v", again, err)
	}
	for name, b := range readTree(t, out) {
		if name != SuccessFile && !bytes.Equal(b, before[name]) {
			t.Errorf("%s changed on a rerun", name)
		}
	}
}

func readRecords(t *testing.T, dir string) []Record {
	t.Helper()
	var recs []Record
	matches, _ := filepath.Glob(filepath.Join(dir, "part-*.jsonl.zst"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(zr)
		for dec.More() {
			var r Record
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		zr.Close()
	}
	return recs
}

func TestValidateCatchesDamage(t *testing.T) {
	cfg := viewMixConfig(t)
	src := t.TempDir()
	if _, err := Run(context.Background(), cfg, RunOptions{Out: src}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		damage func(dir string)
		want   string
	}{
		{"flipped byte in a shard", func(dir string) {
			p := filepath.Join(dir, "part-00000.jsonl.zst")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}, "part-00000.jsonl.zst"},
		{"missing image", func(dir string) {
			imgs, _ := filepath.Glob(filepath.Join(dir, "images", "*", "*"))
			os.Remove(imgs[0])
		}, "is missing"},
		{"no manifest", func(dir string) { os.Remove(filepath.Join(dir, ManifestFile)) }, "manifest.json"},
		{"manifest count off", func(dir string) {
			p := filepath.Join(dir, ManifestFile)
			b, _ := os.ReadFile(p)
			var m map[string]any
			json.Unmarshal(b, &m)
			sh := m["shards"].([]any)[0].(map[string]any)
			sh["records"] = sh["records"].(float64) + 1
			b, _ = json.Marshal(m)
			os.WriteFile(p, b, 0o644)
		}, "manifest says"},
		{"truncated rejects", func(dir string) { os.WriteFile(filepath.Join(dir, RejectsFile), []byte("{\"item\""), 0o644) }, RejectsFile},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, b := range readTree(t, src) {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
				os.WriteFile(filepath.Join(dir, name), b, 0o644)
			}
			c.damage(dir)
			store, _ := blob.NewLocal(dir)
			rep := Validate(context.Background(), store)
			if rep.OK || !strings.Contains(strings.Join(rep.Errors, "\n"), c.want) {
				t.Fatalf("report %+v, want an error mentioning %q", rep, c.want)
			}
		})
	}
}
