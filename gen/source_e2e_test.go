package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen/sa1b"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/onnxtest"
	"github.com/boostgen/boostgen/internal/testenv"
)

// e2eRun runs the real binary on a config on 3 workers, validates the
// output with the real binary, and returns the summary, the records and the
// rejects.
func e2eRun(t *testing.T, bin, config, out string) (Summary, []Record, map[string]Reject) {
	t.Helper()
	sum := runBinary(t, bin, config, out, 3)
	return sum.Summary, readRecords(t, out), readRejects(t, out)
}

func jpegOf(t *testing.T, v scene.View) []byte {
	img, _, err := image.Decode(bytes.NewReader(v.Image.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	return b.Bytes()
}

// An SA-1B shard end to end through boostgen run: masks from compressed
// RLE, names from a tiny CLIP, depth from a Depth-Pro-contract model, into
// shards boostgen validate accepts; the shard's broken members (a truncated
// JPEG, an empty one, a 100000×100000 header, an RLE overflowing its mask)
// are rejects with their reasons and the run goes on.
func TestSA1BEndToEnd(t *testing.T) {
	lib := onnxtest.Library(t)
	bin := testenv.Boostgen(t)
	dir := t.TempDir()
	items := renderSets(t, 21, []SyntheticSet{{Views: 1, Scenes: 6}}, true)
	jpg := jpegOf(t, items[0].Views[0])
	overflow, _ := json.Marshal(sa1b.File{Annotations: []sa1b.Annotation{{ID: 5, PredictedIoU: 1, StabilityScore: 1,
		Segmentation: sa1b.Segmentation{Size: []int{modelSide, modelSide}, Counts: sa1b.EncodeCounts([]int{modelSide * modelSide, 9})}}}})
	shard := filepath.Join(dir, "sa_000000.tar")
	writeSA1BTar(t, shard, items, map[string][]byte{
		"sa_101.jpg": jpg[:len(jpg)/2], "sa_101.json": annotationsFor(items[0], false),
		"sa_102.jpg": {}, "sa_102.json": annotationsFor(items[0], false),
		"sa_103.png": bombPNG(100000, 100000), "sa_103.json": annotationsFor(items[0], false),
		"sa_104.jpg": jpg, "sa_104.json": overflow,
	})

	// Names: the palette's colours; an object's crop (background at CLIP's
	// mean, which embeds to zero) points the way of its own colour.
	vision := tinyCLIPVision(t, dir)
	table := map[string][]float64{}
	var vocab []string
	for name, rgb := range testPalette {
		table[name] = colorEmbedding(rgb)
		vocab = append(vocab, fmt.Sprintf("%q", name))
	}
	tb, _ := json.Marshal(table)
	text := filepath.Join(dir, "names.json")
	os.WriteFile(text, tb, 0o644)
	dp := depthProModel(t, items, 1)

	config := filepath.Join(dir, "sa1b.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`seed: 3
source: {type: sa1b, sa1b: {path: %q, masks: {min_area: 0.002, max_overlap: 0.05}}}
geometry: {min_mask_pixels: 40, min_points: 20, depth: depthpro}
filters:
  naming: {vocabulary: [%s], prompt: "{label}", margin: 0.02}
  clip_model: {vision: %q, text_embeddings: %q, ort_library: %q}
models:
  ort_library: %q
  batch: {max_batch: 4, max_wait_ms: 2}
  depthpro: {path: %q, size: %d}
`, shard, strings.Join(vocab, ", "), vision, text, lib, lib, dp, modelSide)), 0o644)
	sum, recs, rej := e2eRun(t, bin, config, filepath.Join(dir, "out"))
	t.Logf("summary: %d items, %d records, rejects %v", sum.Items, sum.Records, sum.RejectsByCode)
	if sum.Items != 10 || sum.Records < 2 {
		t.Fatalf("summary %+v: want 10 items and records from the good images", sum)
	}
	for _, r := range recs {
		if r.Meta.Source.Kind != "sa1b" || r.Meta.Filters == nil || r.Meta.Filters.Naming == nil || r.Meta.Geometry == nil || r.Meta.Geometry.Depth != DepthDepthPro {
			t.Errorf("record %s: meta %+v", r.ID, r.Meta)
			continue
		}
		for _, o := range r.Meta.Objects {
			if _, ok := testPalette[o.Label]; !ok {
				t.Errorf("record %s: object %q not named from the vocabulary", r.ID, o.Label)
			}
		}
	}
	for item, want := range map[string]struct{ code, text string }{
		"sa_101": {RejectSource, "sa_101.jpg: jpeg pixel data is corrupt or truncated"},
		"sa_102": {RejectSource, "sa_102.jpg: empty file"},
		"sa_103": {RejectSource, "sa_103.png: header says 100000×100000"},
		"sa_104": {RejectMasks, "sa_104.json: annotation 5: rle: counts add up to more than"},
	} {
		if r := rej[item]; r.Code != want.code || !strings.Contains(r.Reason, want.text) {
			t.Errorf("%s: reject %+v, want %s containing %q", item, r, want.code, want.text)
		}
	}
}

// An image folder end to end: labeled masks beside the images, depth from
// a Depth-Pro-contract model.
func TestFolderEndToEnd(t *testing.T) {
	lib := onnxtest.Library(t)
	bin := testenv.Boostgen(t)
	dir := t.TempDir()
	items := renderSets(t, 22, []SyntheticSet{{Views: 1, Scenes: 4}}, true)
	photos := filepath.Join(dir, "photos", "kitchen")
	os.MkdirAll(photos, 0o755)
	for n, it := range items {
		os.WriteFile(filepath.Join(photos, fmt.Sprintf("img_%d.png", n)), it.Views[0].Image.Bytes, 0o644)
		os.WriteFile(filepath.Join(photos, fmt.Sprintf("img_%d.json", n)), annotationsFor(it, true), 0o644)
	}
	dp := depthProModel(t, items, 1)
	config := filepath.Join(dir, "folder.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`seed: 3
source: {type: folder, folder: {path: photos, masks: {min_area: 0.002, max_overlap: 0.05}}}
geometry: {min_mask_pixels: 40, min_points: 20, depth: depthpro}
models:
  ort_library: %q
  depthpro: {path: %q, size: %d}
`, lib, dp, modelSide)), 0o644)
	sum, recs, _ := e2eRun(t, bin, config, filepath.Join(dir, "out"))
	if sum.Items != 4 || sum.Records < 2 {
		t.Fatalf("summary %+v", sum)
	}
	for _, r := range recs {
		if !strings.HasPrefix(r.ID, "kitchen/img_") || r.Meta.Source.Kind != "folder" {
			t.Errorf("record %s from %s", r.ID, r.Meta.Source.Kind)
		}
		// Labels come from the annotation files, i.e. the scene's own.
		for _, o := range r.Meta.Objects {
			if !strings.Contains(o.Label, " ") {
				t.Errorf("record %s: label %q is not a synthetic object's", r.ID, o.Label)
			}
		}
	}
}

// A short video made with ffmpeg, end to end: frame pairs and an unreadable
// video go through boostgen run into shards that validate. Video pairs have
// no object masks (without geometry.masks: sam2, TestVideoWithSAM2EndToEnd),
// so they end as rejects that name the pair; the unreadable video carries
// ffmpeg's message.
func TestVideoEndToEnd(t *testing.T) {
	ff := ffmpegForTest(t)
	bin := testenv.Boostgen(t)
	dir := t.TempDir()
	clips := filepath.Join(dir, "clips")
	os.MkdirAll(clips, 0o755)
	if out, err := exec.Command(ff, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "3", "-pix_fmt", "yuv420p", filepath.Join(clips, "walk.mp4")).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(clips, "broken.webm"), []byte("\x1aE\xdf\xa3 not really"), 0o644)
	config := filepath.Join(dir, "video.yaml")
	os.WriteFile(config, []byte("source: {type: video, video: {path: clips, fps: 2, gap_frames: 2}}\n"), 0o644)
	sum, _, rej := e2eRun(t, bin, config, filepath.Join(dir, "out"))
	// 3 s at 2 fps = 6 frames: pairs (0,2), (2,4); and the broken file.
	if sum.Items != 3 {
		t.Fatalf("summary %+v", sum)
	}
	if r := rej["broken.webm"]; r.Code != RejectSource || !strings.Contains(r.Reason, "ffmpeg cannot read it") {
		t.Errorf("broken video: %+v", r)
	}
	for _, id := range []string{"walk.mp4#000000-000002", "walk.mp4#000002-000004"} {
		if r, ok := rej[id]; !ok || r.Code != RejectDepth {
			t.Errorf("pair %s: %+v", id, r)
		}
	}
}
