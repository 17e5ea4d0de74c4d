package lpips_test

import (
	"context"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/internal/models/lpips"
	"github.com/boostgen/boostgen/internal/onnxtest"
)

// model is an LPIPS stand-in with the reference export's contract:
// distance [B,1,1,1] = mean over channels and pixels of (in0-in1)^2.
func model(t *testing.T) string {
	g := onnxtest.New().
		Input("in0", onnxtest.Float, "batch", 3, "h", "w").
		Input("in1", onnxtest.Float, "batch", 3, "h", "w").
		Output("distance", onnxtest.Float, "batch", 1, 1, 1)
	d := g.Op("Sub", []string{"in0", "in1"})
	g.Node("ReduceMean", []string{g.Op("Mul", []string{d, d})}, []string{"distance"}, onnxtest.Ints("axes", 1, 2, 3), onnxtest.Int("keepdims", 1))
	return g.WriteTemp(t, "lpips.onnx")
}

func solid(w, h int, c color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func TestDistance(t *testing.T) {
	lib := onnxtest.Library(t)
	c := lpips.Defaults()
	c.Path, c.ORT.Library = model(t), lib
	c.Size = 64
	m, err := lpips.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	black := solid(30, 20, color.RGBA{0, 0, 0, 255})
	white := solid(50, 50, color.RGBA{255, 255, 255, 255})
	gray := solid(10, 40, color.RGBA{51, 51, 51, 255})
	red := solid(20, 20, color.RGBA{255, 0, 0, 255})
	// In [-1,1]: black -1, white +1, gray 51 is -0.6, red is (+1,-1,-1).
	pairs := [][2]image.Image{{black, white}, {gray, black}, {white, white}, {red, black}}
	want := []float64{4, 0.16, 0, 4.0 / 3}
	got, err := m.Distances(context.Background(), pairs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-5 {
			t.Errorf("pair %d: distance %v, want %v", i, got[i], want[i])
		}
	}
	d, err := m.Distance(context.Background(), gray, black)
	if err != nil || math.Abs(d-0.16) > 1e-5 {
		t.Errorf("Distance(gray, black) = %v, %v; want 0.16", d, err)
	}
}

func TestCancelled(t *testing.T) {
	lib := onnxtest.Library(t)
	c := lpips.Defaults()
	c.Path, c.ORT.Library = model(t), lib
	m, err := lpips.New(c)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img := solid(8, 8, color.RGBA{A: 255})
	if _, err := m.Distances(ctx, [][2]image.Image{{img, img}, {img, img}}); err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("cancelled Distances returned %v, want a cancellation error", err)
	}
}

func TestWrongExport(t *testing.T) {
	lib := onnxtest.Library(t)
	c := lpips.Defaults()
	c.Path, c.ORT.Library = model(t), lib
	c.InputB = "inB"
	if _, err := lpips.New(c); err == nil || !strings.Contains(err.Error(), `no input "inB"`) || !strings.Contains(err.Error(), `"in1"`) {
		t.Fatalf("error %v, want it to name the missing input and the model's inputs", err)
	}
}
