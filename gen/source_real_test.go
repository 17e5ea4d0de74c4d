package gen

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen/sa1b"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/gen/synthetic"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/internal/testenv"
)

// ffmpegForTest is $BOOSTGEN_FFMPEG (scripts/setup/ffmpeg.sh); without it
// the test is skipped, or fails under BOOSTGEN_TEST_REQUIRE=1.
func ffmpegForTest(t *testing.T) string {
	t.Helper()
	return testenv.Lookup(t, "BOOSTGEN_FFMPEG", "ffmpeg.sh")
}

// renderItems renders single-view synthetic scenes, as JPEG when jpg.
func renderItems(t *testing.T, seed uint64, n, w, h int) []*scene.Item {
	t.Helper()
	var items []*scene.Item
	for i := 0; i < n; i++ {
		sc, err := synthetic.Generate(seed, i, 1, synthetic.Options{Width: w, Height: h, WallChance: 0.5, MinObjects: 3, MaxObjects: 6})
		if err != nil {
			t.Fatal(err)
		}
		it, _, err := sc.Item(fmt.Sprintf("s%d", i))
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	return items
}

// annotationsFor writes an SA-1B annotation file from an item's instance
// map: one mask per object, scores high enough to pass the filters.
func annotationsFor(it *scene.Item, labels bool) []byte {
	v := it.Views[0]
	byID := map[uint16][]bool{}
	for n, id := range v.Instances {
		if id == 0 {
			continue
		}
		if byID[id] == nil {
			byID[id] = make([]bool, v.W*v.H)
		}
		byID[id][n] = true
	}
	f := sa1b.File{Image: sa1b.ImageInfo{Width: v.W, Height: v.H}}
	for _, o := range it.Objects {
		bits := byID[uint16(o.ID)]
		if bits == nil {
			continue
		}
		a := sa1b.Annotation{ID: int64(o.ID), PredictedIoU: 0.95, StabilityScore: 0.97,
			Segmentation: sa1b.Segmentation{Size: []int{v.H, v.W}, Counts: sa1b.EncodeCounts(columnRuns(bits, v.W, v.H))}}
		if labels {
			a.Label = o.Label
		}
		f.Annotations = append(f.Annotations, a)
	}
	b, _ := json.Marshal(f)
	return b
}

func columnRuns(bits []bool, w, h int) []int {
	var runs []int
	cur, n := false, 0
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			if bits[y*w+x] != cur {
				runs = append(runs, n)
				cur, n = !cur, 0
			}
			n++
		}
	}
	return append(runs, n)
}

// bombPNG is a PNG header declaring w×h pixels, and nothing else.
func bombPNG(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
		td := append([]byte(typ), data...)
		b = append(b, td...)
		b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(td))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, w), h)
	chunk("IHDR", append(ihdr, 8, 2, 0, 0, 0))
	chunk("IEND", nil)
	return b
}

func readRejects(t *testing.T, dir string) map[string]Reject {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, RejectsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]Reject{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Reject
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out[r.Item] = r
	}
	return out
}

func runConfig(t *testing.T, text string) (*Summary, string) {
	t.Helper()
	cfg, err := ParseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := Run(context.Background(), cfg, RunOptions{Out: out, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	store, _ := blob.NewLocal(out)
	if rep := Validate(context.Background(), store); !rep.OK {
		t.Fatalf("validate: %+v", rep)
	}
	return sum, out
}

// Every kind of broken image file is a reject naming the file and what is
// wrong, and the run goes on to the next.
func TestImageSourceBadInputs(t *testing.T) {
	dir := t.TempDir()
	items := renderItems(t, 3, 1, 160, 120)
	good := items[0].Views[0].Image.Bytes
	img, _, _ := image.Decode(bytes.NewReader(good))
	var jb bytes.Buffer
	jpeg.Encode(&jb, img, &jpeg.Options{Quality: 90})
	jpg := jb.Bytes()
	overflow := sa1b.File{Annotations: []sa1b.Annotation{{ID: 77, PredictedIoU: 1, StabilityScore: 1,
		Segmentation: sa1b.Segmentation{Size: []int{120, 160}, Counts: sa1b.EncodeCounts([]int{160 * 120, 5})}}}}
	ob, _ := json.Marshal(overflow)
	files := map[string][]byte{
		"a-good.png":      good,
		"a-good.json":     annotationsFor(items[0], true),
		"b-truncated.jpg": jpg[:len(jpg)*2/3],
		"c-empty.jpg":     {},
		"d-bomb.png":      bombPNG(100000, 100000),
		"e-overflow.jpg":  jpg,
		"e-overflow.json": ob,
		"f-nomasks.jpg":   jpg,
		"notes.txt":       []byte("not an image"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sum, out := runConfig(t, fmt.Sprintf("source: {type: folder, folder: {path: %q}}", dir))
	if sum.Items != 6 {
		t.Fatalf("%d items, want the 6 images", sum.Items)
	}
	rej := readRejects(t, out)
	for item, want := range map[string]struct{ code, text string }{
		"b-truncated.jpg": {RejectSource, "b-truncated.jpg: jpeg pixel data is corrupt or truncated"},
		"c-empty.jpg":     {RejectSource, "c-empty.jpg: empty file (0 bytes)"},
		"d-bomb.png":      {RejectSource, "d-bomb.png: header says 100000×100000 = 10000000000 pixels, over the limit"},
		"e-overflow.jpg":  {RejectMasks, "e-overflow.json: annotation 77: rle: counts add up to more than the 120×160"},
		// No depth model in this run: the good image gets as far as depth.
		"a-good.png": {RejectDepth, "no depth"},
		// An image without an annotation file has no masks.
		"f-nomasks.jpg": {RejectDepth, "no depth"},
	} {
		r, ok := rej[item]
		if !ok {
			t.Errorf("%s: no reject", item)
			continue
		}
		if r.Code != want.code || !strings.Contains(r.Reason, want.text) {
			t.Errorf("%s: reject %s %q, want %s containing %q", item, r.Code, r.Reason, want.code, want.text)
		}
	}
}

// writeSA1BTar writes items as an SA-1B shard: sa_N.jpg then sa_N.json.
func writeSA1BTar(t *testing.T, path string, items []*scene.Item, extra map[string][]byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	for n, it := range items {
		img, _, err := image.Decode(bytes.NewReader(it.Views[0].Image.Bytes))
		if err != nil {
			t.Fatal(err)
		}
		var jb bytes.Buffer
		jpeg.Encode(&jb, img, &jpeg.Options{Quality: 95})
		add(fmt.Sprintf("sa_%d.jpg", n+1), jb.Bytes())
		add(fmt.Sprintf("sa_%d.json", n+1), annotationsFor(it, false))
	}
	for name, b := range extra {
		add(name, b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// The SA-1B source turns each mask of a shard into one object of the
// instance map, exactly where the annotation puts it.
func TestSA1BSourceMasks(t *testing.T) {
	items := renderItems(t, 5, 3, 160, 120)
	shard := filepath.Join(t.TempDir(), "sa_000000.tar")
	writeSA1BTar(t, shard, items, nil)
	cfg, err := ParseConfig([]byte(fmt.Sprintf("source: {type: sa1b, sa1b: {path: %q, masks: {min_area: 0.0001, max_overlap: 0.01}}}", shard)))
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = src.Tasks(context.Background(), func(task Task) bool {
		it := task.Load(context.Background())
		if it.Err != nil {
			t.Fatalf("%s: %v", task.ID, it.Err)
		}
		want := items[n].Views[0]
		got := it.Views[0]
		if task.ID != fmt.Sprintf("sa_%d", n+1) || got.W != want.W || got.H != want.H {
			t.Fatalf("task %s: %d×%d", task.ID, got.W, got.H)
		}
		// Same partition of the pixels, whatever the ids.
		mapping := map[uint16]uint16{}
		for p := range want.Instances {
			a, b := want.Instances[p], got.Instances[p]
			if (a == 0) != (b == 0) {
				t.Fatalf("%s: pixel %d is object %d in the scene but %d in the item", task.ID, p, a, b)
			}
			if a != 0 {
				if m, ok := mapping[a]; ok && m != b {
					t.Fatalf("%s: object %d split into %d and %d", task.ID, a, m, b)
				}
				mapping[a] = b
			}
		}
		n++
		return true
	})
	if err != nil || n != 3 {
		t.Fatalf("%d tasks, err %v", n, err)
	}
}

// A video ffmpeg cannot read is a reject carrying ffmpeg's message; a
// readable one becomes frame pairs (here at a fixed gap), without any frame
// written to disk.
func TestVideoSource(t *testing.T) {
	ff := ffmpegForTest(t)
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	out, err := exec.Command(ff, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "4", "-pix_fmt", "yuv420p", clip).CombinedOutput()
	if err != nil {
		t.Fatalf("making the test video: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.mp4"), []byte("this is not a video at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	sum, outDir := runConfig(t, fmt.Sprintf("source: {type: video, video: {path: %q, fps: 2, gap_frames: 3}}", dir))
	after, _ := os.ReadDir(dir)
	if len(before) != len(after) {
		t.Fatalf("the video source left files beside the videos: %d → %d", len(before), len(after))
	}
	rej := readRejects(t, outDir)
	r, ok := rej["broken.mp4"]
	if !ok || r.Code != RejectSource || !strings.Contains(r.Reason, "video broken.mp4: ffmpeg cannot read it") {
		t.Fatalf("broken video: %+v", r)
	}
	// 4 s at 2 fps = 8 frames; gap 3 → (0,3), (3,6).
	var pairs []string
	for id := range rej {
		if strings.HasPrefix(id, "clip.mp4#") {
			pairs = append(pairs, id)
		}
	}
	if sum.Items != 3 || len(pairs) != 2 || rej["clip.mp4#000000-000003"].Item == "" || rej["clip.mp4#000003-000006"].Item == "" {
		t.Fatalf("%d items, pairs %v", sum.Items, pairs)
	}
}

func TestVideoSourceNeedsFFmpeg(t *testing.T) {
	t.Setenv("BOOSTGEN_FFMPEG", "")
	t.Setenv("PATH", t.TempDir())
	cfg, err := ParseConfig([]byte(fmt.Sprintf("source: {type: video, video: {path: %q}}", t.TempDir())))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewSource(cfg)
	if err == nil || !strings.Contains(err.Error(), "ffmpeg is needed") || !strings.Contains(err.Error(), "scripts/setup/ffmpeg.sh") {
		t.Fatalf("error %v, want a clear startup error", err)
	}
}

// The example configs of the real sources are valid as written.
func TestSourceExampleConfigsAreValid(t *testing.T) {
	for _, name := range []string{"sa1b.yaml", "video.yaml"} {
		cfg, err := LoadConfig(filepath.Join("..", "examples", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Filters == nil {
			t.Fatalf("%s: no filters section", name)
		}
	}
}
