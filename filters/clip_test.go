package filters_test

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/boostgen/boostgen/filters"
	"github.com/boostgen/boostgen/internal/models/clip"
	"github.com/boostgen/boostgen/internal/onnxtest"
)

// tinyCLIP is a CLIP-contract vision tower whose embedding is the mean of
// each normalised channel, [B,3], with a text-embeddings file giving each
// label the embedding of a colour: an image of that colour makes it win.
func tinyCLIP(t *testing.T, labels map[string]color.RGBA) *clip.Model {
	t.Helper()
	lib := onnxtest.Library(t)
	dir := t.TempDir()
	g := onnxtest.New().
		Input("pixel_values", onnxtest.Float, "batch", 3, 224, 224).
		Output("image_embeds", onnxtest.Float, "batch", 3)
	g.Node("ReduceMean", []string{"pixel_values"}, []string{"image_embeds"}, onnxtest.Ints("axes", 2, 3), onnxtest.Int("keepdims", 0))
	vision := filepath.Join(dir, "vision.onnx")
	if err := g.Write(vision); err != nil {
		t.Fatal(err)
	}
	table := map[string][]float64{}
	for l, c := range labels {
		table[l] = ColorEmbedding(c)
	}
	b, _ := json.Marshal(table)
	text := filepath.Join(dir, "text.json")
	if err := os.WriteFile(text, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c := clip.Defaults()
	c.VisionPath, c.TextEmbeddings, c.ORT.Library = vision, text, lib
	m, err := clip.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// ColorEmbedding is what the tiny vision tower returns for a plain image of
// colour c: CLIP's normalisation of the colour.
func ColorEmbedding(c color.RGBA) []float64 {
	mean := [3]float64{0.48145466, 0.4578275, 0.40821073}
	std := [3]float64{0.26862954, 0.26130258, 0.27577711}
	v := []float64{(float64(c.R)/255 - mean[0]) / std[0], (float64(c.G)/255 - mean[1]) / std[1], (float64(c.B)/255 - mean[2]) / std[2]}
	n := math.Sqrt(v[0]*v[0] + v[1]*v[1] + v[2]*v[2])
	for i := range v {
		v[i] /= n
	}
	return v
}

func plain(c color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, 255
	}
	return img
}

var (
	red    = color.RGBA{220, 20, 20, 255}
	green  = color.RGBA{20, 200, 40, 255}
	blue   = color.RGBA{20, 30, 220, 255}
	yellow = color.RGBA{230, 210, 30, 255}
	white  = color.RGBA{250, 250, 250, 255}
)

func TestCLIPFilter(t *testing.T) {
	// Table 11's labels, each tied to a colour; the positive ones to warm
	// colours, the negative ones to cold and plain ones.
	colors := map[string]color.RGBA{}
	cold := []color.RGBA{blue, white, {20, 200, 220, 255}, {120, 20, 200, 255}, {10, 10, 10, 255}, {128, 128, 128, 255}, {60, 60, 140, 255}}
	warm := []color.RGBA{red, yellow, {230, 120, 20, 255}, {200, 20, 120, 255}}
	pi, ni := 0, 0
	for _, l := range filters.Table11 {
		if l.Positive {
			colors[l.Text] = warm[pi]
			pi++
		} else {
			colors[l.Text] = cold[ni]
			ni++
		}
	}
	m := tinyCLIP(t, colors)
	ctx := context.Background()
	tests := []struct {
		name     string
		img      color.RGBA
		margin   float64
		best     string
		keep     bool
		positive bool
	}{
		{"red is an indoor iPhone photo", red, 0, "an iPhone photo of an indoor scene", true, true},
		{"yellow is an outdoor iPhone photo", yellow, 0, "an iphone photo of an outdoor scene", true, true},
		{"blue is a close-up", blue, 0, "a close up shot of a single object", false, false},
		{"white is a product shot", white, 0, "a product displayed in front of a white background", false, false},
		{"a margin of 1 drops even the best positive", red, 1, "an iPhone photo of an indoor scene", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := filters.NewCLIPFilter(ctx, m, filters.Table11, tc.margin)
			if err != nil {
				t.Fatal(err)
			}
			s, err := f.Score(ctx, plain(tc.img))
			if err != nil {
				t.Fatal(err)
			}
			if s.Best != tc.best || s.Keep != tc.keep || s.Positive != tc.positive {
				t.Fatalf("score %+v, want best %q keep %v", s, tc.best, tc.keep)
			}
			if s.Prob <= 0 || s.Prob > 1 {
				t.Fatalf("probability %v", s.Prob)
			}
		})
	}
	if _, err := filters.NewCLIPFilter(ctx, m, []filters.Label{{"a sketch", false}, {"a painting", false}}, 0); err == nil {
		t.Fatal("a filter without positive labels was accepted")
	}
	if _, err := filters.NewCLIPFilter(ctx, m, []filters.Label{{"not in the file", true}}, 0); err == nil {
		t.Fatal("a label missing from the embeddings file was accepted")
	}
}

func TestNamer(t *testing.T) {
	m := tinyCLIP(t, map[string]color.RGBA{"red box": red, "green ball": green, "blue cup": blue, "blue mug": blue})
	ctx := context.Background()
	_, err := filters.NewNamer(ctx, m, []string{"box", "ball", "cup"}, "red {label}", 0.1)
	if err == nil {
		t.Fatal("a prompt producing texts missing from the embeddings file was accepted")
	}
	n, err := filters.NewNamer(ctx, m, []string{"red box", "green ball", "blue cup", "blue mug"}, "{label}", 0.1)
	if err != nil {
		t.Fatal(err)
	}
	// A blue crop could be the cup or the mug: ambiguous, left unnamed.
	names, err := n.Name(ctx, []image.Image{plain(red), plain(green), plain(blue)})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"red box", "green ball", ""}
	for i, nm := range names {
		if nm.Label != want[i] {
			t.Errorf("crop %d named %q (best %q, margin %v), want %q", i, nm.Label, nm.Best, nm.Margin, want[i])
		}
	}
	if b := names[2].Best; b != "blue cup" && b != "blue mug" || names[2].Margin > 0.01 {
		t.Errorf("blue crop: best guess %q, margin %v", b, names[2].Margin)
	}
	if _, err := filters.NewNamer(ctx, m, []string{"red box", "green ball"}, "no placeholder", 0.1); err == nil {
		t.Fatal("a prompt without {label} was accepted")
	}
}

func TestMaskCrop(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 10, 10))
	inst := make([]uint16, 100)
	for y := 2; y < 6; y++ {
		for x := 3; x < 8; x++ {
			img.SetNRGBA(x, y, color.NRGBA{255, 0, 0, 255})
			inst[y*10+x] = 7
		}
	}
	img.SetNRGBA(3, 2, color.NRGBA{0, 255, 0, 255})
	inst[2*10+3] = 0 // a pixel of the box not in the mask
	c := filters.MaskCrop(img, inst, 7, image.Rect(3, 2, 8, 6), 0)
	if c.Bounds().Dx() != 5 || c.Bounds().Dy() != 4 {
		t.Fatalf("crop %v, want 5×4", c.Bounds())
	}
	if got := c.NRGBAAt(1, 1); got != (color.NRGBA{255, 0, 0, 255}) {
		t.Fatalf("mask pixel %v", got)
	}
	if got := c.NRGBAAt(0, 0); got.G == 255 {
		t.Fatal("a pixel outside the mask kept its colour")
	}
}
