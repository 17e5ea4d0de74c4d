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
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/internal/llm/llmtest"
	"github.com/boostgen/boostgen/internal/onnxtest"
	"github.com/boostgen/boostgen/internal/testenv"
)

func TestBetweenFrames(t *testing.T) {
	for _, c := range []struct {
		a, b int
		want []int
	}{
		{3, 4, nil},                             // adjacent: stays 2-view
		{3, 5, []int{4}},                        // one frame: still too few for 4 views
		{0, 3, []int{1, 2}},                     // enough for 4 views
		{10, 17, []int{11, 12, 13, 14, 15, 16}}, // exactly 6
		{0, 8, []int{1, 2, 3, 4, 5, 6}},         // 7 between: evenly spaced, never an end
		{100, 170, []int{110, 120, 130, 140, 150, 160}},
		{0, 50, []int{7, 14, 21, 28, 35, 42}},
	} {
		if got := betweenFrames(c.a, c.b); !reflect.DeepEqual(got, c.want) {
			t.Errorf("betweenFrames(%d, %d) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	for a := 0; a < 30; a++ {
		for b := a + 1; b < 60; b++ {
			got := betweenFrames(a, b)
			if len(got) != min(b-a-1, maxBetween) {
				t.Fatalf("betweenFrames(%d, %d) = %v: %d frames", a, b, got, len(got))
			}
			for k, f := range got {
				if f <= a || f >= b || k > 0 && f <= got[k-1] {
					t.Fatalf("betweenFrames(%d, %d) = %v: not strictly between and increasing", a, b, got)
				}
			}
		}
	}
}

// rampScene writes a ScanNet-layout scene without poses whose frame n is a
// flat gray of level 20+step·n: LPIPS (the tiny model's mean absolute
// difference) grows exactly with the frame gap, 2·step/255 per frame.
func rampScene(t *testing.T, dir string, frames, step int) {
	t.Helper()
	for _, d := range []string{"color", "depth", "intrinsic"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	const w, h = 48, 36
	for n := 0; n < frames; n++ {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = uint8(20+step*n), uint8(20+step*n), uint8(20+step*n), 255
		}
		depth := image.NewGray16(image.Rect(0, 0, w, h))
		for j := 0; j < h; j++ {
			for i := 0; i < w; i++ {
				depth.SetGray16(i, j, color.Gray16{Y: 2000})
			}
		}
		for path, im := range map[string]image.Image{"color/" + strconv.Itoa(n) + ".png": img, "depth/" + strconv.Itoa(n) + ".png": depth} {
			var b bytes.Buffer
			png.Encode(&b, im)
			if err := os.WriteFile(filepath.Join(dir, path), b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.WriteFile(filepath.Join(dir, "intrinsic", "intrinsic_color.txt"), []byte("40 0 24 0\n0 40 18 0\n0 0 1 0\n0 0 0 1\n"), 0o644)
}

// cliSummary is what boostgen run --json prints: the run's summary and the
// filter report the CLI adds to it.
type cliSummary struct {
	Summary
	Filters *FilterReport `json:"filters"`
}

// runBinary runs boostgen run with the given workers, validates the output
// with boostgen validate, and returns the JSON summary.
func runBinary(t *testing.T, bin, config, out string, workers int) cliSummary {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "run", config, "--out", out, "--workers", strconv.Itoa(workers), "--json", "--no-progress")
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("boostgen run: %v\n%s%s", err, stdout, stderr.Bytes())
	}
	var sum cliSummary
	if err := json.Unmarshal(stdout, &sum); err != nil {
		t.Fatalf("run summary %q: %v", stdout, err)
	}
	if val, err := exec.Command(bin, "validate", out).CombinedOutput(); err != nil {
		t.Fatalf("boostgen validate: %v\n%s", err, val)
	}
	return sum
}

// outputFiles is an output's files except the LLM cache and spend ledger
// (one file per run) and the commit marker.
func outputFiles(t *testing.T, out string) map[string][]byte {
	files := readTree(t, out)
	for name := range files {
		if strings.HasPrefix(name, "llm"+string(filepath.Separator)) || name == SuccessFile {
			delete(files, name)
		}
	}
	return files
}

func sameFiles(t *testing.T, what string, want, got map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d files, want %d", what, len(got), len(want))
	}
	for name, b := range want {
		if !bytes.Equal(b, got[name]) {
			t.Errorf("%s: %s differs", what, name)
		}
	}
}

// Mined pairs (a video's frames through ffmpeg, and a ScanNet-layout frame
// stream) carry their in-between frames, so boostgen run with view
// interpolation grows them into 4- and 8-view VQA records whose views are
// the pair's ends with frames recorded between them, in order. The output
// is the same for 1 and 3 workers and on a rerun, which asks nothing.
func TestMinedPairsGrowToFourAndEightViews(t *testing.T) {
	lib := onnxtest.Library(t)
	ff := ffmpegForTest(t)
	bin := testenv.Boostgen(t)
	for _, c := range []struct {
		name string
		// input writes the source and returns its config lines.
		input func(t *testing.T, dir string) string
		// frameName is the view name of frame n.
		frameName func(n int) string
	}{
		{"video", func(t *testing.T, dir string) string {
			// A flat gray brightening steadily: LPIPS grows with the gap.
			clip := filepath.Join(dir, "ramp.mp4")
			if out, err := exec.Command(ff, "-v", "error", "-f", "lavfi", "-i", "color=c=black:s=64x48:r=10,geq=lum='20+T*20':cb=128:cr=128",
				"-t", "10", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			return fmt.Sprintf("source: {type: video, video: {path: %q, fps: 2}}\nfilters:\n  lpips: {min: 0.6, max: 0.9, per_frame: 1}\n", clip)
		}, func(n int) string { return fmt.Sprintf("frame %06d", n) }},
		{"scannet", func(t *testing.T, dir string) string {
			// 8 frames apart is 0.50, 7 is 0.44, 9 is 0.56: pairs with 7
			// frames between them; in the second scene, neighbours.
			rampScene(t, filepath.Join(dir, "scans", "scene0001_00"), 24, 8)
			rampScene(t, filepath.Join(dir, "scans", "scene0002_00"), 4, 64)
			return fmt.Sprintf("source: {type: scannet, scannet: {root: %q}}\nfilters:\n  lpips: {min: 0.47, max: 0.53, per_frame: 1}\n", filepath.Join(dir, "scans"))
		}, strconv.Itoa},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := llmtest.New(llmtest.StageAnswer)
			defer srv.Close()
			dir := t.TempDir()
			config := filepath.Join(dir, "run.yaml")
			text := fmt.Sprintf("seed: 3\n%s  lpips_model: {path: %q, size: 32, ort_library: %q}\nllm: {base_url: %q, model: gpt-4o-2024-08-06, concurrency: 4, %s}\n",
				c.input(t, dir), tinyLPIPS(t, dir, 32), lib, srv.URL, testLLMPrice)
			if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			out1 := filepath.Join(dir, "out1")
			rep := runBinary(t, bin, config, out1, 1).Filters
			t.Logf("pairs %+v, views %+v", rep.Pairs, rep.PairViews)
			if rep.PairViews == nil || rep.PairViews.UpTo8 == 0 || c.name == "scannet" && rep.PairViews.Only2 != 2 {
				t.Fatalf("filter report %+v: want pairs with 6 frames between (and, in scannet, 2 with none)", rep.PairViews)
			}

			byViews := map[int]int{}
			for _, r := range readRecords(t, out1) {
				if r.Meta.Kind != KindVQA {
					continue
				}
				views := r.Meta.Source.Views
				byViews[len(views)]++
				_, ends, _ := strings.Cut(r.Meta.Source.Item, "#")
				as, bs, _ := strings.Cut(ends, "-")
				a, _ := strconv.Atoi(as)
				b, _ := strconv.Atoi(bs)
				if views[0] != c.frameName(a) || views[len(views)-1] != c.frameName(b) {
					t.Fatalf("%s: views %v do not start and end with the pair %d, %d", r.ID, views, a, b)
				}
				between := map[string]int{}
				for k, f := range betweenFrames(a, b) {
					between[c.frameName(f)] = k
				}
				last := -1
				for _, v := range views[1 : len(views)-1] {
					k, ok := between[v]
					if !ok || k <= last {
						t.Fatalf("%s: views %v: %s is not the next frame between the pair (%v)", r.ID, views, v, betweenFrames(a, b))
					}
					last = k
				}
				if len(views) == 8 && len(between) != 6 {
					t.Fatalf("%s: 8 views from %d frames between", r.ID, len(between))
				}
				if want := c.name; r.Meta.VQA.PairBy == "path_ends" || !strings.HasPrefix(r.Meta.VQA.PairBy, "lpips") {
					t.Errorf("%s (%s): pair_by %q, want the mining method", r.ID, want, r.Meta.VQA.PairBy)
				}
			}
			pairs := rep.PairViews.UpTo8 + rep.PairViews.UpTo4 + rep.PairViews.Only2
			if byViews[2] != pairs || byViews[4] != rep.PairViews.UpTo8+rep.PairViews.UpTo4 || byViews[8] != rep.PairViews.UpTo8 {
				t.Errorf("VQA records by view count %v for pairs %+v", byViews, rep.PairViews)
			}

			want := outputFiles(t, out1)
			paid := srv.ChatRequests()
			out3 := filepath.Join(dir, "out3")
			runBinary(t, bin, config, out3, 3)
			sameFiles(t, "3 workers", want, outputFiles(t, out3))

			// Rerun into the first output, all but llm/ deleted: the
			// same files, every answer from the cache.
			entries, _ := os.ReadDir(out1)
			for _, e := range entries {
				if e.Name() != "llm" {
					os.RemoveAll(filepath.Join(out1, e.Name()))
				}
			}
			before := srv.ChatRequests()
			if before != 2*paid {
				t.Errorf("the 3-worker run made %d requests, the first %d", before-paid, paid)
			}
			runBinary(t, bin, config, out1, 3)
			if n := srv.ChatRequests() - before; n != 0 {
				t.Errorf("the rerun made %d requests, want 0", n)
			}
			sameFiles(t, "rerun", want, outputFiles(t, out1))
		})
	}
}
