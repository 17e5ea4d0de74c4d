package clip_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/internal/models/clip"
	"github.com/boostgen/boostgen/internal/onnxtest"
)

// tinyVocab has four merges. Token ids, worked out by hand from CLIP's
// vocabulary layout: bytes '!'..'~' are ids 0..93 in order (so 'h' = 71,
// 'e' = 68, 'l' = 75, 'o' = 78), the same with "</w>" are 256 more, the
// merges follow from 512 (he 512, ll 513, hell 514, hello</w> 515), then
// SOT 516 and EOT 517.
const tinyVocab = "#version: 0.2\nh e\nl l\nhe ll\nhell o</w>\n"

func writeVocab(t *testing.T, text string, gz bool) string {
	p := filepath.Join(t.TempDir(), "vocab.txt")
	data := []byte(text)
	if gz {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		data = b.Bytes()
		p += ".gz"
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenizer(t *testing.T) {
	tok, err := clip.LoadTokenizer(writeVocab(t, tinyVocab, true))
	if err != nil {
		t.Fatal(err)
	}
	if tok.SOT != 516 || tok.EOT != 517 {
		t.Fatalf("SOT, EOT = %d, %d, want 516, 517", tok.SOT, tok.EOT)
	}
	tests := []struct {
		text string
		want []int32
	}{
		{"Hello", []int32{516, 515, 517}},
		{"  HELLO \n\t hello ", []int32{516, 515, 515, 517}},
		// "hell" merges to he + l + l</w>; "!" is its own word.
		{"hell!", []int32{516, 512, 75, 256 + 75, 256 + 0, 517}},
		// "'s" splits off: i, t</w>, ', s</w>.
		{"it's", []int32{516, 72, 256 + 83, 6, 256 + 82, 517}},
		// Entities are decoded: "&" is byte 38, id 5.
		{"&amp;", []int32{516, 256 + 5, 517}},
		// Letters and each digit are separate words.
		{"a1", []int32{516, 256 + 64, 256 + 16, 517}},
		// UTF-8 bytes: é is C3 A9; 0xC3 is id 106+(0xC3-0xAE) = 127 and
		// 0xA9 is id 94+(0xA9-0xA1) = 102.
		{"é", []int32{516, 127, 256 + 102, 517}},
		{"", []int32{516, 517}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.text), func(t *testing.T) {
			got := tok.Tokens(tc.text)
			if len(got) != clip.ContextLength {
				t.Fatalf("%d tokens, want %d", len(got), clip.ContextLength)
			}
			want := make([]int32, clip.ContextLength)
			copy(want, tc.want)
			if !slices.Equal(got, want) {
				t.Fatalf("tokens %v, want %v (zero-padded)", got[:len(tc.want)+2], tc.want)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		got := tok.Tokens(strings.Repeat("hello ", 100))
		if len(got) != 77 || got[0] != 516 || got[76] != 517 || got[75] != 515 || got[1] != 515 {
			t.Fatalf("tokens %v, want SOT, 75 x 515, EOT", got)
		}
	})
}

// The real vocabulary has 48894 merges read (extra lines are ignored),
// which puts SOT and EOT at CLIP's 49406 and 49407.
func TestTokenizerFullSize(t *testing.T) {
	var b strings.Builder
	b.WriteString("#version: 0.2\n")
	for i := range 48894 + 10 {
		fmt.Fprintf(&b, "x%d y%d\n", i, i)
	}
	tok, err := clip.NewTokenizer(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if tok.SOT != 49406 || tok.EOT != 49407 {
		t.Fatalf("SOT, EOT = %d, %d, want 49406, 49407", tok.SOT, tok.EOT)
	}
}

func TestTokenizerBadFile(t *testing.T) {
	_, err := clip.LoadTokenizer(writeVocab(t, "#version: 0.2\nh e\nnot-a-merge\n", false))
	if err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "vocab.txt") {
		t.Fatalf("error %v, want it to name the file and line 3", err)
	}
}

// visionModel: image_embeds = per-channel mean of pixel_values, [B,3].
func visionModel(t *testing.T) string {
	g := onnxtest.New().
		Input("pixel_values", onnxtest.Float, "batch", 3, 224, 224).
		Output("image_embeds", onnxtest.Float, "batch", 3)
	g.Node("ReduceMean", []string{"pixel_values"}, []string{"image_embeds"}, onnxtest.Ints("axes", 2, 3), onnxtest.Int("keepdims", 0))
	return g.WriteTemp(t, "vision.onnx")
}

// textModel: text_embeds = [mean(ids*mask), mean(mask)] over the 77
// positions, [B,2].
func textModel(t *testing.T) string {
	g := onnxtest.New().
		Input("input_ids", onnxtest.Int64, "batch", "seq").
		Input("attention_mask", onnxtest.Int64, "batch", "seq").
		Output("text_embeds", onnxtest.Float, "batch", 2)
	ids := g.Op("Cast", []string{"input_ids"}, onnxtest.Int("to", onnxtest.Float))
	mask := g.Op("Cast", []string{"attention_mask"}, onnxtest.Int("to", onnxtest.Float))
	a := g.Op("ReduceMean", []string{g.Op("Mul", []string{ids, mask})}, onnxtest.Ints("axes", 1), onnxtest.Int("keepdims", 1))
	b := g.Op("ReduceMean", []string{mask}, onnxtest.Ints("axes", 1), onnxtest.Int("keepdims", 1))
	g.Node("Concat", []string{a, b}, []string{"text_embeds"}, onnxtest.Int("axis", 1))
	return g.WriteTemp(t, "text.onnx")
}

func unit(v ...float64) []float64 {
	var ss float64
	for _, x := range v {
		ss += x * x
	}
	for i := range v {
		v[i] /= math.Sqrt(ss)
	}
	return v
}

func approx(got []float32, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > 1e-4 {
			return false
		}
	}
	return true
}

func fill(w, h int, at func(x, y int) color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, at(x, y))
		}
	}
	return img
}

func TestEmbedImages(t *testing.T) {
	lib := onnxtest.Library(t)
	c := clip.Defaults()
	c.VisionPath, c.ORT.Library = visionModel(t), lib
	m, err := clip.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	mean := [3]float64{0.48145466, 0.4578275, 0.40821073}
	std := [3]float64{0.26862954, 0.26130258, 0.27577711}
	norm := func(r, g, b float64) []float64 {
		return unit((r-mean[0])/std[0], (g-mean[1])/std[1], (b-mean[2])/std[2])
	}
	red := color.RGBA{255, 0, 0, 255}
	blue := color.RGBA{0, 0, 255, 255}
	imgs := []image.Image{
		fill(50, 80, func(int, int) color.RGBA { return red }),
		fill(64, 64, func(int, int) color.RGBA { return color.RGBA{51, 102, 204, 255} }),
		// 400x200 with a red left quarter: CLIP's centre crop keeps the
		// middle 200x200, all blue.
		fill(400, 200, func(x, _ int) color.RGBA {
			if x < 100 {
				return red
			}
			return blue
		}),
	}
	want := [][]float64{norm(1, 0, 0), norm(0.2, 0.4, 0.8), norm(0, 0, 1)}
	got, err := m.EmbedImages(context.Background(), imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !approx(got[i], want[i]) {
			t.Errorf("image %d: embedding %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := m.EmbedTexts(context.Background(), []string{"x"}); err == nil {
		t.Error("EmbedTexts without a text tower succeeded")
	}
}

func TestEmbedTexts(t *testing.T) {
	lib := onnxtest.Library(t)
	c := clip.Defaults()
	c.TextPath, c.VocabPath, c.ORT.Library = textModel(t), writeVocab(t, tinyVocab, true), lib
	c.Batch.MaxBatch = 2 // three texts take two runs
	m, err := clip.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got, err := m.EmbedTexts(context.Background(), []string{"Hello", "hell!", "hello hello"})
	if err != nil {
		t.Fatal(err)
	}
	// Masked sums of ids over 77 positions, and the unmasked count: the
	// "!" (id 256) is inside the mask, the zero padding is not.
	want := [][]float64{
		unit((516+515+517)/77.0, 3/77.0),
		unit((516+512+75+331+256+517)/77.0, 6/77.0),
		unit((516+515+515+517)/77.0, 4/77.0),
	}
	for i := range want {
		if !approx(got[i], want[i]) {
			t.Errorf("text %d: embedding %v, want %v", i, got[i], want[i])
		}
	}
}

func TestTextEmbeddingsFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "labels.json")
	os.WriteFile(good, []byte(`{"cat": [3, 4], "dog": [0, 2]}`), 0o644)
	c := clip.Defaults()
	c.TextEmbeddings = good
	m, err := clip.New(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.EmbedTexts(context.Background(), []string{"dog", "cat"})
	if err != nil {
		t.Fatal(err)
	}
	if !approx(got[0], []float64{0, 1}) || !approx(got[1], []float64{0.6, 0.8}) {
		t.Errorf("embeddings %v, want [[0 1] [0.6 0.8]] (unit length)", got)
	}
	if _, err := m.EmbedTexts(context.Background(), []string{"cow"}); err == nil || !strings.Contains(err.Error(), `"cow"`) || !strings.Contains(err.Error(), good) {
		t.Errorf("unknown label: error %v, want it to name the label and the file", err)
	}
	bad := []struct{ name, body, want string }{
		{"ragged", `{"a": [1, 2], "b": [1]}`, "values"},
		{"zero", `{"a": [0, 0]}`, "zero"},
		{"not json", `["a"]`, "JSON object"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name+".json")
			os.WriteFile(p, []byte(tc.body), 0o644)
			c := clip.Defaults()
			c.TextEmbeddings = p
			_, err := clip.New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v, want it to name %s and mention %q", err, p, tc.want)
			}
		})
	}
}
