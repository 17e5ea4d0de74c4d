package gen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen/imgload"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/models/clip"
	"github.com/boostgen/boostgen/internal/onnxtest"
)

// tinyCLIPVision writes a CLIP-contract vision tower whose embedding is the
// mean of each normalised channel ([B,3]): an image's embedding is its
// average colour, so test labels can be made to win by giving them colours.
func tinyCLIPVision(t *testing.T, dir string) string {
	g := onnxtest.New().
		Input("pixel_values", onnxtest.Float, "batch", 3, 224, 224).
		Output("image_embeds", onnxtest.Float, "batch", 3)
	g.Node("ReduceMean", []string{"pixel_values"}, []string{"image_embeds"}, onnxtest.Ints("axes", 2, 3), onnxtest.Int("keepdims", 0))
	p := filepath.Join(dir, "clip-vision.onnx")
	if err := g.Write(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// colorEmbedding is the tiny tower's embedding of a plain image of colour c.
func colorEmbedding(c [3]float64) []float64 {
	mean := [3]float64{0.48145466, 0.4578275, 0.40821073}
	std := [3]float64{0.26862954, 0.26130258, 0.27577711}
	v := make([]float64, 3)
	var n float64
	for k := range v {
		v[k] = (c[k]/255 - mean[k]) / std[k]
		n += v[k] * v[k]
	}
	for k := range v {
		v[k] /= math.Sqrt(n)
	}
	return v
}

// The colours of the synthetic palette: zero-shot names for its objects.
var testPalette = map[string][3]float64{
	"red": {200, 30, 30}, "green": {40, 160, 60}, "blue": {40, 70, 200}, "yellow": {230, 200, 40},
	"purple": {130, 50, 170}, "white": {235, 235, 235}, "black": {25, 25, 25}, "cyan": {40, 200, 210},
}

// The CLIP filter keeps and drops SA-1B images by their best label, and
// says so in meta, in the reject reason and in the run's filter report;
// unlabeled masks get zero-shot names.
func TestSA1BWithCLIPFilterAndNaming(t *testing.T) {
	lib := onnxtest.Library(t)
	dir := t.TempDir()
	items := renderItems(t, 11, 3, 160, 120)
	shard := filepath.Join(dir, "sa_000001.tar")
	writeSA1BTar(t, shard, items, nil)

	// The labels: "keep me" looks like image 1, "drop me" like image 2.
	vision := tinyCLIPVision(t, dir)
	c := clip.Defaults()
	c.VisionPath, c.ORT.Library = vision, lib
	m, err := clip.New(c)
	if err != nil {
		t.Fatal(err)
	}
	var imgs []image.Image
	for _, it := range items[:2] {
		d, err := imgload.Decode(it.Views[0].Image.Bytes, 0)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, d.Pixels)
	}
	embs, err := m.EmbedImages(context.Background(), imgs)
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	table := map[string][]float32{"keep me": embs[0], "drop me": embs[1]}
	for name, rgb := range testPalette {
		e := colorEmbedding(rgb)
		table[name] = []float32{float32(e[0]), float32(e[1]), float32(e[2])}
	}
	tb, _ := json.Marshal(table)
	text := filepath.Join(dir, "text.json")
	os.WriteFile(text, tb, 0o644)
	var vocab []string
	for name := range testPalette {
		vocab = append(vocab, fmt.Sprintf("%q", name))
	}
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
source: {type: sa1b, sa1b: {path: %q, masks: {min_area: 0.001}}}
filters:
  clip: {labels: [{text: keep me, positive: true}, {text: drop me, positive: false}]}
  naming: {vocabulary: [%s], prompt: "{label}", margin: 0.05}
  clip_model: {vision: %q, text_embeddings: %q, ort_library: %q}
`, shard, strings.Join(vocab, ", "), vision, text, lib)))
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []*scene.Item
	src.Tasks(context.Background(), func(task Task) bool {
		got = append(got, task.Load(context.Background()))
		return true
	})
	if len(got) != 3 {
		t.Fatalf("%d items", len(got))
	}
	kept, dropped := got[0], got[1]
	if kept.Err != nil || kept.Filters == nil || kept.Filters.CLIP == nil || kept.Filters.CLIP.BestLabel != "keep me" || !kept.Filters.CLIP.Positive {
		t.Fatalf("image 1: err %v, filters %+v", kept.Err, kept.Filters)
	}
	var re *rejectError
	if dropped.Err == nil || !errors.As(dropped.Err, &re) || re.code != RejectFiltered || !strings.Contains(re.msg, `sa_2.jpg: clip: best label "drop me"`) {
		t.Fatalf("image 2: %v", dropped.Err)
	}
	// Naming: every selected mask is either named from the vocabulary or
	// counted as ambiguous; named ones are the item's objects.
	nm := kept.Filters.Naming
	if nm == nil || nm.Named+nm.Ambiguous != len(nm.Objects) || nm.Named == 0 {
		t.Fatalf("naming meta %+v", nm)
	}
	if len(kept.Objects) != nm.Named {
		t.Fatalf("%d objects for %d named masks", len(kept.Objects), nm.Named)
	}
	for _, o := range kept.Objects {
		if _, ok := testPalette[o.Label]; !ok {
			t.Fatalf("object %d named %q, not from the vocabulary", o.ID, o.Label)
		}
	}
	rep := cfg.FilterReport()
	total := 0
	for _, lc := range rep.CLIP {
		total += lc.Kept + lc.Dropped
		if lc.Label == "drop me" && (lc.Dropped == 0 || lc.Kept != 0) {
			t.Fatalf("report for %q: %+v", lc.Label, lc)
		}
	}
	if total != 3 || rep.Naming == nil || rep.Naming.Named < nm.Named {
		t.Fatalf("report %+v", rep)
	}
}

// tinyLPIPS writes an LPIPS-contract model: distance = mean |in0 - in1|.
func tinyLPIPS(t *testing.T, dir string, side int) string {
	g := onnxtest.New().
		Input("in0", onnxtest.Float, "B", 3, side, side).
		Input("in1", onnxtest.Float, "B", 3, side, side).
		Output("distance", onnxtest.Float, "B")
	diff := g.Op("Abs", []string{g.Op("Sub", []string{"in0", "in1"})})
	g.Node("ReduceMean", []string{diff}, []string{"distance"}, onnxtest.Ints("axes", 1, 2, 3), onnxtest.Int("keepdims", 0))
	p := filepath.Join(dir, "lpips.onnx")
	if err := g.Write(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// With filters.lpips, a video's pairs are mined with the LPIPS model and
// carry their distance in meta.
func TestVideoLPIPSPairs(t *testing.T) {
	lib := onnxtest.Library(t)
	ff := ffmpegForTest(t)
	dir := t.TempDir()
	clipPath := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command(ff, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "4", "-pix_fmt", "yuv420p", clipPath).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	model := tinyLPIPS(t, dir, 32)
	// Every pair is in this band, one pair per frame: (0,1), (2,3), ...
	cfg, err := ParseConfig([]byte(fmt.Sprintf(`
source: {type: video, video: {path: %q, fps: 2}}
filters:
  lpips: {min: 0, max: 100, per_frame: 1}
  lpips_model: {path: %q, size: 32, ort_library: %q}
`, clipPath, model, lib)))
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
	if len(items) != 4 {
		t.Fatalf("%d items, want 4 pairs of 8 frames", len(items))
	}
	for n, it := range items {
		p := it.Filters.Pair
		if it.Err != nil || len(it.Views) != 2 || p.Method != "lpips" || p.LPIPS == nil || *p.LPIPS <= 0 || p.Frames != [2]int{2 * n, 2*n + 1} {
			t.Fatalf("item %d (%s): err %v, pair %+v", n, it.ID, it.Err, p)
		}
		if it.Views[0].W != 160 || it.Views[0].H != 120 {
			t.Fatalf("frame size %d×%d", it.Views[0].W, it.Views[0].H)
		}
		if _, _, err := image.Decode(bytes.NewReader(it.Views[1].Image.Bytes)); err != nil {
			t.Fatalf("frame image: %v", err)
		}
	}
	// A run lists its source twice (to count, then to work): the second
	// listing gives the same pairs without mining again.
	n := 0
	src.Tasks(context.Background(), func(task Task) bool {
		if task.ID != items[n].ID {
			t.Fatalf("second listing: task %d is %s, was %s", n, task.ID, items[n].ID)
		}
		n++
		return true
	})
	if rep := cfg.FilterReport(); n != 4 || rep.Pairs == nil || rep.Pairs.Frames != 8 || rep.Pairs.Pairs != 4 || rep.Pairs.Evaluations != 4 {
		t.Fatalf("%d tasks the second time, report %+v", n, rep.Pairs)
	}
}

// ScanNet-layout scans with filters.lpips: frame pairs mined in pose order
// become two-view items with the scan's own depth and poses, and records.
func TestScanNetLPIPSPairs(t *testing.T) {
	lib := onnxtest.Library(t)
	dir := t.TempDir()
	scans := filepath.Join(dir, "scans")
	gen, err := ParseConfig([]byte(fmt.Sprintf("seed: 4\nsource: {type: synthetic, synthetic: {width: 160, height: 120, sets: [{views: 8, scenes: 3}], export_dir: %q}}", scans)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), gen, RunOptions{Out: filepath.Join(dir, "a")}); err != nil {
		t.Fatal(err)
	}
	model := tinyLPIPS(t, dir, 32)
	sum, out := runConfig(t, fmt.Sprintf(`seed: 4
source: {type: scannet, scannet: {root: %q}}
filters:
  lpips: {min: 0, max: 100, per_frame: 1}
  lpips_model: {path: %q, size: 32, ort_library: %q}
`, scans, model, lib))
	// 8 frames, one pair each: 4 pairs per scene.
	t.Logf("%d items, %d records, rejects %v", sum.Items, sum.Records, sum.RejectsByCode)
	if sum.Items != 12 || sum.Records == 0 {
		t.Fatalf("summary %+v", sum)
	}
	for _, r := range readRecords(t, out) {
		p := r.Meta.Filters.Pair
		if len(r.Meta.Source.Views) != 2 || p == nil || p.Method != "lpips-pose" || p.LPIPS == nil || !strings.Contains(r.ID, "#") {
			t.Fatalf("record %s: views %v, pair %+v", r.ID, r.Meta.Source.Views, p)
		}
	}
}
