package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/gen/synthetic"
	"github.com/boostgen/boostgen/internal/models/sam2"
	"github.com/boostgen/boostgen/internal/models/sam2/sam2test"
	"github.com/boostgen/boostgen/internal/onnxtest"
	"github.com/boostgen/boostgen/internal/testenv"
)

// namingModels writes the tiny CLIP vision tower and the palette's colour
// names as text embeddings, and returns the config lines that use them.
func namingModels(t *testing.T, dir, lib string) string {
	t.Helper()
	vision := tinyCLIPVision(t, dir)
	table := map[string][]float64{}
	var vocab []string
	for name, rgb := range fullPalette {
		table[name] = colorEmbedding(rgb)
		vocab = append(vocab, fmt.Sprintf("%q", name))
	}
	tb, _ := json.Marshal(table)
	text := filepath.Join(dir, "names.json")
	if err := os.WriteFile(text, tb, 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`filters:
  naming: {vocabulary: [%s], prompt: "{label}", margin: 0.02}
  clip_model: {vision: %q, text_embeddings: %q, ort_library: %q}
`, strings.Join(vocab, ", "), vision, text, lib)
}

// fullPalette is every colour the synthetic scenes use (gen/synthetic's
// palette): names for everything the stand-in segments.
var fullPalette = map[string][3]float64{
	"red": {200, 30, 30}, "green": {40, 160, 60}, "blue": {40, 70, 200}, "yellow": {230, 200, 40},
	"orange": {235, 130, 30}, "purple": {130, 50, 170}, "pink": {240, 130, 180}, "brown": {120, 75, 40},
	"white": {235, 235, 235}, "black": {25, 25, 25}, "cyan": {40, 200, 210},
}

// greyPNG is a plain image: nothing in it for SAM 2 to segment.
func greyPNG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{128, 128, 128, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// A folder of photos without mask files, end to end through the boostgen
// binary: with geometry.masks: sam2 the images get masks from the SAM 2
// stand-in (sam2test), names from a tiny CLIP and depth from a
// Depth-Pro-contract model, and become records that boostgen validate
// accepts; without it every image is a masks reject. The only masks reject
// left is the plain grey image, where SAM 2 finds nothing, and its reason
// says where the masks went. The records' objects are the scenes' own: each
// one's box is the box of one of the scene's objects (the names are the
// tiny CLIP's guesses from colour, so they are not checked). The
// output is the same bytes for --workers 3 and 1.
func TestFolderWithSAM2EndToEnd(t *testing.T) {
	lib := onnxtest.Library(t)
	bin := testenv.Boostgen(t)
	dir := t.TempDir()
	items := sam2Scenes(t, 22, 8, 1)
	photos := filepath.Join(dir, "photos")
	os.MkdirAll(photos, 0o755)
	for n, it := range items {
		os.WriteFile(filepath.Join(photos, fmt.Sprintf("img_%d.png", n)), it.Views[0].Image.Bytes, 0o644)
	}
	os.WriteFile(filepath.Join(photos, "grey.png"), greyPNG(modelSide, modelSide), 0o644)
	enc, dec := sam2test.Write(t, dir, sam2test.Good)
	dp := depthProModel(t, items, 1)
	base := fmt.Sprintf(`seed: 3
source: {type: folder, folder: {path: photos}}
%smodels:
  ort_library: %q
  depthpro: {path: %q, size: %d}
  sam2: {encoder: %q, decoder: %q, points_per_side: 16}
`, namingModels(t, dir, lib), lib, dp, modelSide, enc, dec)
	write := func(name, geometry string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(base+geometry), 0o644)
		return p
	}

	without := write("without.yaml", "geometry: {min_mask_pixels: 40, min_points: 20, depth: depthpro}\n")
	sum, _, _ := e2eRun(t, bin, without, filepath.Join(dir, "without"))
	if sum.Items != 9 || sum.Records != 0 || sum.RejectsByCode[RejectMasks] != 9 {
		t.Fatalf("without SAM 2: %+v, want every image a masks reject", sum)
	}

	with := write("with.yaml", "geometry: {min_mask_pixels: 40, min_points: 20, depth: depthpro, masks: sam2}\n")
	out := filepath.Join(dir, "with")
	sum, recs, rej := e2eRun(t, bin, with, out)
	t.Logf("with SAM 2: %d items, %d records, rejects %v", sum.Items, sum.Records, sum.RejectsByCode)
	for id, r := range rej {
		t.Logf("reject %s: %s %s", id, r.Code, r.Reason)
	}
	// Half the scenes: at 160×160, with names from colour alone (white and
	// black objects get no mask from the stand-in, two objects of one
	// colour share a name), the others have fewer than two objects whole,
	// named apart and clearly related: few_objects and no_pair rejects.
	if sum.Items != 9 || sum.Records < 4 || sum.RejectsByCode[RejectMasks] != 1 || sum.RejectsByCode[RejectModel] != 0 {
		t.Fatalf("with SAM 2: %+v, want records from most images and one masks reject", sum)
	}
	if r := rej["grey.png"]; r.Code != RejectMasks || !strings.Contains(r.Reason, "grey.png: sam2: no object mask: 256 prompts gave 768 masks") {
		t.Errorf("grey image: %+v", r)
	}
	byID := map[string]*scene.Item{}
	for n, it := range items {
		byID[fmt.Sprintf("img_%d.png", n)] = it
	}
	checked := 0
	for _, r := range recs {
		g := r.Meta.Geometry
		if g == nil || g.Masks != MasksSAM2 || g.Depth != DepthDepthPro || r.Meta.Filters == nil || r.Meta.Filters.Naming == nil {
			t.Errorf("record %s: geometry %+v filters %+v, want masks sam2, depth depthpro and naming", r.ID, g, r.Meta.Filters)
			continue
		}
		it := byID[r.ID]
		for _, o := range r.Meta.Objects {
			best := 0.0
			for _, truth := range it.Objects {
				best = max(best, sam2.BoxIoU(o.Box2D, trueBox(it.Views[0], truth.ID)))
			}
			if best < 0.7 {
				t.Errorf("record %s: %q at %v is none of the scene's objects (best box IoU %.2f)", r.ID, o.Name, o.Box2D, best)
				for _, truth := range it.Objects {
					t.Logf("  %s at %v", truth.Label, trueBox(it.Views[0], truth.ID))
				}
			}
			checked++
		}
	}
	if checked < 8 {
		t.Errorf("only %d objects could be checked against the scenes", checked)
	}

	one := filepath.Join(dir, "one")
	cmd := exec.Command(bin, "run", with, "--out", one, "--workers", "1", "--no-progress")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("boostgen run --workers 1: %v\n%s", err, b)
	}
	parts, _ := filepath.Glob(filepath.Join(out, "part-*"))
	if len(parts) == 0 {
		t.Fatal("no parts")
	}
	for _, part := range append(parts, filepath.Join(out, RejectsFile)) {
		a, _ := os.ReadFile(part)
		b, err := os.ReadFile(filepath.Join(one, filepath.Base(part)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between --workers 3 and --workers 1 (%v)", filepath.Base(part), err)
		}
	}
}

// sam2Scenes renders n scenes of views views at modelSide that the SAM 2
// stand-in can segment: no wooden floor (it has a brown object's chroma)
// and no colour on two objects (touching, they would be one mask). The
// stand-in's limits, not SAM 2's; the scenes are otherwise as generated.
func sam2Scenes(t *testing.T, seed uint64, n, views int) []*scene.Item {
	t.Helper()
	var items []*scene.Item
	for index := 0; len(items) < n; index++ {
		sc, err := synthetic.Generate(seed, index, views, modelScenes)
		if err != nil {
			t.Fatal(err)
		}
		colours := map[string]bool{}
		for _, o := range sc.Objects {
			colours[o.Color] = true
		}
		if sc.FloorColor == "wooden" || len(colours) < len(sc.Objects) {
			continue
		}
		float32Focal(sc)
		it, _, err := sc.Item(fmt.Sprintf("scene-%d", index))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}

// trueBox is an object's box in the rendered instance map, normalised as
// meta.objects[].box2d.
func trueBox(v scene.View, id int) [4]float64 {
	r := image.Rectangle{}
	for p, x := range v.Instances {
		if int(x) == id {
			r = r.Union(image.Rect(p%v.W, p/v.W, p%v.W+1, p/v.W+1))
		}
	}
	return [4]float64{float64(r.Min.X) / float64(v.W), float64(r.Min.Y) / float64(v.H), float64(r.Max.X) / float64(v.W), float64(r.Max.Y) / float64(v.H)}
}

// Video pairs end to end with SAM 2: each clip (two views of a synthetic
// scene, encoded losslessly by ffmpeg) is one pair; its first frame gets
// SAM 2's masks and names, VGGT (scaled by Depth-Pro) the cameras and
// depth, and the pair becomes a record boostgen validate accepts, where
// without SAM 2 every pair is a masks reject (TestVideoEndToEnd).
func TestVideoWithSAM2EndToEnd(t *testing.T) {
	lib := onnxtest.Library(t)
	ff := ffmpegForTest(t)
	bin := testenv.Boostgen(t)
	dir := t.TempDir()
	items := sam2Scenes(t, 31, 6, 2)
	clips := filepath.Join(dir, "clips")
	os.MkdirAll(clips, 0o755)
	for n, it := range items {
		frames := t.TempDir()
		for v, view := range it.Views {
			os.WriteFile(filepath.Join(frames, fmt.Sprintf("f%d.png", v)), view.Image.Bytes, 0o644)
		}
		clip := filepath.Join(clips, fmt.Sprintf("clip%d.mkv", n))
		if out, err := exec.Command(ff, "-v", "error", "-framerate", "2", "-i", filepath.Join(frames, "f%d.png"), "-c:v", "ffv1", clip).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v\n%s", err, out)
		}
	}
	enc, dec := sam2test.Write(t, dir, sam2test.Good)
	config := filepath.Join(dir, "video.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf(`seed: 3
source: {type: video, video: {path: clips, fps: 2, gap_frames: 1}}
geometry: {min_mask_pixels: 40, min_points: 20, depth: depthpro, multiview: vggt, masks: sam2}
%smodels:
  ort_library: %q
  depthpro: {path: %q, size: %d}
  vggt: {path: %q, size: %d, min_confidence: 2, scale: depthpro}
  sam2: {encoder: %q, decoder: %q, points_per_side: 16}
`, namingModels(t, dir, lib), lib, depthProModel(t, items, 1), modelSide, vggtModel(t, items), modelSide, enc, dec)), 0o644)
	sum, recs, rej := e2eRun(t, bin, config, filepath.Join(dir, "out"))
	t.Logf("%d items, %d records, rejects %v", sum.Items, sum.Records, sum.RejectsByCode)
	for id, r := range rej {
		t.Logf("reject %s: %s %s", id, r.Code, r.Reason)
	}
	if sum.Items != len(items) || sum.Records < 2 || sum.RejectsByCode[RejectMasks] != 0 || sum.RejectsByCode[RejectModel] != 0 {
		t.Fatalf("summary %+v: want one pair per clip, records, no masks or model rejects", sum)
	}
	for _, r := range recs {
		g := r.Meta.Geometry
		if !strings.HasSuffix(r.ID, "#000000-000001") || len(r.Meta.Source.Views) != 2 || g == nil || g.Masks != MasksSAM2 || g.Multiview != MultiviewVGGT ||
			r.Meta.Frame.AnchorView != 0 || r.Meta.Filters == nil || r.Meta.Filters.Naming == nil || r.Meta.Filters.Pair == nil {
			t.Errorf("record %s: views %v geometry %+v anchor %d filters %+v", r.ID, r.Meta.Source.Views, g, r.Meta.Frame.AnchorView, r.Meta.Filters)
		}
	}
}
