package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/internal/onnxtest"
)

// A ScanNet-layout export end to end through the CLI: boostgen run writes
// synthetic scenes in the layout, a second boostgen run reads them back
// (plus two broken scenes: a pose with NaN, depth of another size with no
// depth intrinsics), and boostgen validate accepts the dataset. No model is
// needed: the layout carries depth and poses.
func TestScanNetLayoutEndToEnd(t *testing.T) {
	dir := t.TempDir()
	scenes := filepath.Join(dir, "scans")
	gen := filepath.Join(dir, "gen.yaml")
	os.WriteFile(gen, []byte("seed: 5\nsource:\n  type: synthetic\n  synthetic: {width: 160, height: 120, sets: [{views: 1, scenes: 3}, {views: 4, scenes: 3}], export_dir: "+scenes+"}\n"), 0o644)
	if _, _, err := runCLI(t, "run", gen, "--out", filepath.Join(dir, "a"), "--no-progress"); err != nil {
		t.Fatal(err)
	}
	// Break two copies of an exported scene.
	entries, _ := os.ReadDir(scenes)
	if len(entries) != 6 {
		t.Fatalf("%d exported scenes", len(entries))
	}
	src := filepath.Join(scenes, entries[3].Name()) // a 4-view scene
	copyDir(t, src, filepath.Join(scenes, "zz-nan-pose"))
	os.WriteFile(filepath.Join(scenes, "zz-nan-pose", "pose", "1.txt"), []byte("1 0 0 nan\n0 1 0 0\n0 0 1 0\n0 0 0 1\n"), 0o644)
	copyDir(t, src, filepath.Join(scenes, "zz-depth-size"))
	var px bytes.Buffer
	png.Encode(&px, image.NewGray16(image.Rect(0, 0, 1, 1)))
	os.WriteFile(filepath.Join(scenes, "zz-depth-size", "depth", "0.png"), px.Bytes(), 0o644)
	os.Remove(filepath.Join(scenes, "zz-depth-size", "intrinsic", "intrinsic_depth.txt"))

	cfg := filepath.Join(dir, "scannet.yaml")
	os.WriteFile(cfg, []byte("seed: 5\nsource: {type: scannet, scannet: {root: "+scenes+"}}\n"), 0o644)
	out := filepath.Join(dir, "b")
	stdout, _, err := runCLI(t, "run", cfg, "--out", out, "--workers", "2", "--json", "--no-progress")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct{ Items, Records, Rejects int }
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Items != 8 || sum.Records < 4 {
		t.Fatalf("summary %s (%v)", stdout, err)
	}
	stdout, _, err = runCLI(t, "validate", out)
	if err != nil || !strings.Contains(stdout, `"ok": true`) {
		t.Fatalf("validate: %v\n%s", err, stdout)
	}
	rejects, _ := os.ReadFile(filepath.Join(out, "rejects.jsonl"))
	for item, want := range map[string]string{
		"zz-nan-pose":   "pose/1.txt: pose is not finite",
		"zz-depth-size": "depth is 1×1 but color is 160×120, and without",
	} {
		found := false
		for _, line := range strings.Split(string(rejects), "\n") {
			if strings.Contains(line, `"item":"`+item+`"`) {
				found = true
				if !strings.Contains(line, want) {
					t.Errorf("%s: %s, want %q", item, line, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no reject in\n%s", item, rejects)
		}
	}
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// The run summary carries the filter report: per best CLIP label, how many
// images were kept and dropped (stderr text, and "filters" in --json).
func TestRunSummaryHasFilterReport(t *testing.T) {
	lib := onnxtest.Library(t)
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	os.MkdirAll(photos, 0o755)
	for name, c := range map[string]color.RGBA{"red.png": {220, 20, 20, 255}, "blue.png": {20, 20, 220, 255}, "red2.png": {200, 30, 30, 255}} {
		img := image.NewRGBA(image.Rect(0, 0, 32, 24))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		os.WriteFile(filepath.Join(photos, name), b.Bytes(), 0o644)
	}
	// A CLIP-contract vision tower embedding an image as its mean colour,
	// and label embeddings pointing at red (positive) and blue (negative).
	g := onnxtest.New().
		Input("pixel_values", onnxtest.Float, "batch", 3, 224, 224).
		Output("image_embeds", onnxtest.Float, "batch", 3)
	g.Node("ReduceMean", []string{"pixel_values"}, []string{"image_embeds"}, onnxtest.Ints("axes", 2, 3), onnxtest.Int("keepdims", 0))
	vision := filepath.Join(dir, "vision.onnx")
	if err := g.Write(vision); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "text.json"), []byte(`{"a photo": [1.6, -1.3, -1.2], "a sketch": [-1.2, -1.3, 1.8]}`), 0o644)
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(`source: {type: folder, folder: {path: photos}}
filters:
  clip: {labels: [{text: a photo, positive: true}, {text: a sketch, positive: false}]}
  clip_model: {vision: vision.onnx, text_embeddings: text.json, ort_library: `+lib+`}
`), 0o644)
	stdout, _, err := runCLI(t, "run", cfg, "--out", filepath.Join(dir, "a"), "--json", "--no-progress")
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Items   int
		Filters struct {
			CLIP []struct {
				Label         string
				Kept, Dropped int
			} `json:"clip"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil || sum.Items != 3 {
		t.Fatalf("summary %s (%v)", stdout, err)
	}
	got := map[string][2]int{}
	for _, c := range sum.Filters.CLIP {
		got[c.Label] = [2]int{c.Kept, c.Dropped}
	}
	if got["a photo"] != [2]int{2, 0} || got["a sketch"] != [2]int{0, 1} {
		t.Fatalf("filter report %+v, want a photo kept 2, a sketch dropped 1", sum.Filters)
	}
	_, stderr, err := runCLI(t, "run", cfg, "--out", filepath.Join(dir, "b"), "--no-progress")
	if err != nil || !strings.Contains(stderr, `clip - "a sketch"`) || !strings.Contains(stderr, "dropped 1") {
		t.Fatalf("summary text lacks the filter report: %v\n%s", err, stderr)
	}
}
