package gen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/onnxtest"
	"github.com/boostgen/boostgen/internal/testenv"
)

// TestRunWithModels runs the real binary on synthetic scenes with
// geometry.depth: depthpro and geometry.multiview: vggt (scale from a
// Depth-Pro pass), through the tiny stand-in models, on several workers;
// boostgen validate must accept the result, and every record must say how
// its geometry was made.
func TestRunWithModels(t *testing.T) {
	lib := onnxtest.Library(t)
	bin := testenv.Boostgen(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The stand-ins must know the very images the source renders.
	source := "seed: 7\nsource: {type: synthetic, synthetic: {width: 160, height: 160, sets: [{views: 1, scenes: 8}, {views: 2, scenes: 4}, {views: 4, scenes: 2}]}}\n"
	cfg, err := ParseConfig([]byte(source))
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var items []*scene.Item
	src.Tasks(context.Background(), func(task Task) bool {
		items = append(items, task.Load(context.Background()))
		return true
	})
	dp := depthProModel(t, items, 1)
	vg := vggtModel(t, items)

	config := write("run.yaml", source+fmt.Sprintf(`geometry: {min_mask_pixels: 40, min_points: 20, depth: depthpro, multiview: vggt}
output: {compression: none}
models:
  ort_library: %q
  provider: cpu
  intra_op_threads: 1
  batch: {max_batch: 4, max_wait_ms: 2}
  depthpro: {path: %q, size: 160}
  vggt: {path: %q, size: 160, min_confidence: 2, scale: depthpro}
`, lib, dp, vg))
	run := func(out string, workers int) []byte {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "run", config, "--out", out, "--workers", fmt.Sprint(workers), "--json", "--no-progress")
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("boostgen run --workers %d: %v\n%s%s", workers, err, stdout, stderr.Bytes())
		}
		return stdout
	}
	out := filepath.Join(dir, "out")
	stdout := run(out, 3)
	var sum Summary
	if err := json.Unmarshal(stdout, &sum); err != nil {
		t.Fatalf("run summary %q: %v", stdout, err)
	}
	if sum.Items != len(items) || sum.Records < 3 || sum.RejectsByCode[RejectModel] != 0 {
		t.Fatalf("summary %+v: want %d items, some records, no model failures", sum, len(items))
	}

	val, err := exec.Command(bin, "validate", out).CombinedOutput()
	if err != nil {
		t.Fatalf("boostgen validate: %v\n%s", err, val)
	}

	parts, _ := filepath.Glob(filepath.Join(out, "part-*"))
	seen := 0
	for _, part := range parts {
		f, err := os.Open(part)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			var r Record
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", part, err)
			}
			seen++
			g := r.Meta.Geometry
			views := len(r.Meta.Source.Views)
			switch {
			case g == nil:
				t.Errorf("record %s: no meta.geometry", r.ID)
			case views == 1 && (g.Depth != DepthDepthPro || g.Scale != nil):
				t.Errorf("record %s: single view geometry %+v, want depthpro, metric as is", r.ID, g)
			case views > 1 && (g.Depth != MultiviewVGGT || g.Multiview != MultiviewVGGT || g.Scale == nil || g.Scale.Method != ScaleDepthPro || g.Scale.Factor != 1/vggtUnit):
				t.Errorf("record %s: multi-view geometry %+v (scale %+v), want vggt scaled by depthpro ×%v", r.ID, g, g.Scale, 1/vggtUnit)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if seen != sum.Records {
		t.Errorf("read %d records from %d shards, the summary says %d", seen, len(parts), sum.Records)
	}

	// Batching across workers must not change a byte of the output.
	one := filepath.Join(dir, "one")
	run(one, 1)
	for _, part := range parts {
		a, _ := os.ReadFile(part)
		b, err := os.ReadFile(filepath.Join(one, filepath.Base(part)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between --workers 3 and --workers 1 (%v)", filepath.Base(part), err)
		}
	}
}
