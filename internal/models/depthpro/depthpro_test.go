package depthpro_test

import (
	"context"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/internal/models/depthpro"
	"github.com/boostgen/boostgen/internal/onnxtest"
)

// model writes a Depth-Pro stand-in with the public export's contract:
// predicted_depth = a*mean_c(pixel_values) + b, focallength_px = f.
func model(t *testing.T, a, b, f float32) string {
	g := onnxtest.New().
		Input("pixel_values", onnxtest.Float, "batch", 3, 1536, 1536).
		Output("predicted_depth", onnxtest.Float, "batch", 1536, 1536).
		Output("focallength_px", onnxtest.Float, "batch")
	mean := g.Op("ReduceMean", []string{"pixel_values"}, onnxtest.Ints("axes", 1), onnxtest.Int("keepdims", 0))
	g.Node("Add", []string{g.Op("Mul", []string{mean, g.Scalar(a)}), g.Scalar(b)}, []string{"predicted_depth"})
	all := g.Op("ReduceMean", []string{"pixel_values"}, onnxtest.Ints("axes", 1, 2, 3), onnxtest.Int("keepdims", 0))
	g.Node("Add", []string{g.Op("Mul", []string{all, g.Scalar(0)}), g.Scalar(f)}, []string{"focallength_px"})
	return g.WriteTemp(t, "depthpro.onnx")
}

// halves is w x h, black on the left half and white on the right.
func halves(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(0)
			if x >= w/2 {
				v = 255
			}
			img.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	return img
}

func TestPredict(t *testing.T) {
	lib := onnxtest.Library(t)
	// Black pixels normalise to -1 and white to +1, so the stand-in gives
	// depth 3-2 = 1 on the left and 3+2 = 5 on the right.
	path := model(t, 2, 3, 1000)
	tests := []struct {
		name        string
		output      string
		left, right float32
	}{
		{"metric depth", "depth", 1, 5},
		{"inverse depth", "inverse", 1, 0.2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := depthpro.Defaults()
			c.Path, c.Output, c.ORT.Library = path, tc.output, lib
			m, err := depthpro.New(c)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			r, err := m.Predict(context.Background(), halves(300, 200))
			if err != nil {
				t.Fatal(err)
			}
			if r.W != 300 || r.H != 200 || len(r.Depth) != 300*200 {
				t.Fatalf("got %dx%d with %d depths, want 300x200", r.W, r.H, len(r.Depth))
			}
			for _, p := range []struct {
				x, y int
				want float32
			}{{5, 5, tc.left}, {100, 199, tc.left}, {200, 0, tc.right}, {299, 100, tc.right}} {
				if got := r.Depth[p.y*r.W+p.x]; math.Abs(float64(got-p.want)) > 1e-4 {
					t.Errorf("depth at (%d,%d) = %v, want %v", p.x, p.y, got, p.want)
				}
			}
			// 1000 px across 1536 input pixels is 1000*300/1536 across 300.
			if want := 1000 * 300 / 1536.0; math.Abs(r.FocalPx-want) > 1e-3 {
				t.Errorf("focal %v px, want %v", r.FocalPx, want)
			}
			if r.Conf != nil {
				t.Errorf("conf %d values, want nil (the export has none)", len(r.Conf))
			}
		})
	}
}

func TestInvalidOutput(t *testing.T) {
	lib := onnxtest.Library(t)
	tests := []struct {
		name    string
		a, b, f float32
		want    string
	}{
		{"negative depth everywhere", 0, -1, 1000, "no finite positive depth"},
		{"zero focal", 2, 3, 0, "invalid focal length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := depthpro.Defaults()
			c.Path, c.ORT.Library = model(t, tc.a, tc.b, tc.f), lib
			m, err := depthpro.New(c)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			_, err = m.Predict(context.Background(), halves(40, 30))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), c.Path) {
				t.Fatalf("error %v, want it to name the model and say %q", err, tc.want)
			}
		})
	}
}

func TestWrongExport(t *testing.T) {
	lib := onnxtest.Library(t)
	c := depthpro.Defaults()
	c.Path, c.ORT.Library = model(t, 1, 1, 1), lib
	c.Input = "image" // another export's name
	_, err := depthpro.New(c)
	if err == nil || !strings.Contains(err.Error(), `no input "image"`) || !strings.Contains(err.Error(), `"pixel_values"`) {
		t.Fatalf("error %v, want it to name the missing input and the model's real one", err)
	}
}
