package imgprep_test

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/boostgen/boostgen/internal/models/imgprep"
)

func solid(w, h int, c color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func TestPlacement(t *testing.T) {
	tests := []struct {
		name         string
		w, h         int
		fit          imgprep.Fit
		x, y, pw, ph int
	}{
		{"stretch wide", 1000, 500, imgprep.Stretch, 0, 0, 100, 100},
		{"pad wide", 1000, 500, imgprep.Pad, 0, 25, 100, 50},
		{"pad tall", 300, 600, imgprep.Pad, 25, 0, 50, 100},
		{"pad square", 37, 37, imgprep.Pad, 0, 0, 100, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, p := imgprep.Input(solid(tc.w, tc.h, color.RGBA{A: 255}), 100, 100, tc.fit, imgprep.Unit, 1)
			if p.X != tc.x || p.Y != tc.y || p.W != tc.pw || p.H != tc.ph || p.SrcW != tc.w || p.SrcH != tc.h {
				t.Fatalf("placement %+v, want image at (%d,%d) size %dx%d", p, tc.x, tc.y, tc.pw, tc.ph)
			}
		})
	}
}

func TestInputValues(t *testing.T) {
	// A red 20x10 image padded onto 10x10 on white: rows 0-2 and 8-9 are
	// background, the middle rows red; channels are planar.
	px, p := imgprep.Input(solid(20, 10, color.RGBA{255, 0, 0, 255}), 10, 10, imgprep.Pad, imgprep.Symmetric, 1)
	if p.Y != 2 || p.H != 5 {
		t.Fatalf("placement %+v", p)
	}
	at := func(c, x, y int) float32 { return px[c*100+y*10+x] }
	for _, tc := range []struct {
		c, x, y int
		want    float32
	}{
		{0, 5, 0, 1}, {1, 5, 0, 1}, {2, 5, 9, 1}, // white background is +1
		{0, 5, 4, 1}, {1, 5, 4, -1}, {2, 0, 6, -1}, // red is (+1,-1,-1)
	} {
		if got := at(tc.c, tc.x, tc.y); math.Abs(float64(got-tc.want)) > 1e-6 {
			t.Errorf("channel %d at (%d,%d) = %v, want %v", tc.c, tc.x, tc.y, got, tc.want)
		}
	}
}

func TestBack(t *testing.T) {
	// A model map that is x+100*y in model pixels (2 channels: that and
	// its negation), read back for a 1000x500 image padded onto 100x100:
	// the image covers rows 25..74, so original row 0 reads model row
	// ~25, never the padding.
	_, p := imgprep.Input(solid(1000, 500, color.RGBA{A: 255}), 100, 100, imgprep.Pad, imgprep.Unit, 0)
	src := make([]float32, 2*100*100)
	for y := range 100 {
		for x := range 100 {
			src[2*(y*100+x)] = float32(x + 100*y)
			src[2*(y*100+x)+1] = -float32(x + 100*y)
		}
	}
	out := p.Back(src, 2)
	if len(out) != 2*1000*500 {
		t.Fatalf("%d values, want %d", len(out), 2*1000*500)
	}
	for _, tc := range []struct {
		x, y int
		want float64
	}{
		{0, 0, 0 + 100*25},            // clamped to the first covered row
		{999, 499, 99 + 100*74},       // and the last
		{500, 250, 49.55 + 100*49.55}, // u = 500.5*0.1-0.5, v = 25+250.5*0.1-0.5
	} {
		got := out[2*(tc.y*1000+tc.x)]
		if math.Abs(float64(got)-tc.want) > 1e-2 || out[2*(tc.y*1000+tc.x)+1] != -got {
			t.Errorf("at (%d,%d): %v, %v; want %v and its negation", tc.x, tc.y, got, out[2*(tc.y*1000+tc.x)+1], tc.want)
		}
	}
}
