package sam2

import (
	"image"
	"math"
	"reflect"
	"testing"
)

func TestPointGrid(t *testing.T) {
	tests := []struct {
		n    int
		want [][2]float64
	}{
		{1, [][2]float64{{0.5, 0.5}}},
		// offset 1/4, linspace(0.25, 0.75, 2); x varies fastest.
		{2, [][2]float64{{0.25, 0.25}, {0.75, 0.25}, {0.25, 0.75}, {0.75, 0.75}}},
		{3, [][2]float64{
			{1. / 6, 1. / 6}, {0.5, 1. / 6}, {5. / 6, 1. / 6},
			{1. / 6, 0.5}, {0.5, 0.5}, {5. / 6, 0.5},
			{1. / 6, 5. / 6}, {0.5, 5. / 6}, {5. / 6, 5. / 6}}},
	}
	for _, tc := range tests {
		got := PointGrid(tc.n)
		if len(got) != len(tc.want) {
			t.Fatalf("n=%d: %d points, want %d", tc.n, len(got), len(tc.want))
		}
		for i := range got {
			if math.Abs(got[i][0]-tc.want[i][0]) > 1e-12 || math.Abs(got[i][1]-tc.want[i][1]) > 1e-12 {
				t.Errorf("n=%d point %d = %v, want %v", tc.n, i, got[i], tc.want[i])
			}
		}
	}
	if g := PointGrid(32); len(g) != 1024 || g[0] != [2]float64{1. / 64, 1. / 64} || g[1023] != [2]float64{63. / 64, 63. / 64} {
		t.Errorf("32×32 grid: %d points from %v to %v", len(g), g[0], g[len(g)-1])
	}
}

func TestStabilityScore(t *testing.T) {
	tests := []struct {
		name        string
		logits      []float32
		thresh, off float64
		want        float64
	}{
		// Above +1: 3 and 5; above −1: 0.5, 3, 5, −0.5 → 2/4.
		{"half", []float32{-3, 0.5, 3, 5, -0.5, -1}, 0, 1, 0.5},
		{"sharp edge", []float32{-32, -32, 32, 32}, 0, 1, 1},
		// Strict comparisons: 1 is not above 1, −1 not above −1.
		{"on the cut-offs", []float32{1, -1, 2}, 0, 1, 0.5},
		{"empty", []float32{-5, -5}, 0, 1, 0},
		{"other threshold", []float32{0, 1, 2, 3}, 2, 0.5, 1. / 2},
	}
	for _, tc := range tests {
		if got := StabilityScore(tc.logits, tc.thresh, tc.off); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestBoxIoUAndNMS(t *testing.T) {
	a := [4]float64{0, 0, 10, 10}
	b := [4]float64{5, 0, 15, 10}   // half of a: 50 / 150
	c := [4]float64{1, 0, 11, 10}   // 90 / 110
	d := [4]float64{20, 20, 30, 30} // apart
	for _, tc := range []struct {
		p, q [4]float64
		want float64
	}{{a, b, 1. / 3}, {a, c, 90. / 110}, {a, d, 0}, {a, a, 1}, {[4]float64{3, 3, 3, 3}, [4]float64{3, 3, 3, 3}, 0}} {
		if got := BoxIoU(tc.p, tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("BoxIoU(%v, %v) = %v, want %v", tc.p, tc.q, got, tc.want)
		}
	}
	tests := []struct {
		name   string
		boxes  [][4]float64
		scores []float64
		thresh float64
		want   []int
	}{
		{"duplicate of a better box", [][4]float64{a, c, d}, []float64{0.8, 0.9, 0.85}, 0.7, []int{1, 2}},
		{"overlap below the threshold", [][4]float64{a, b}, []float64{0.9, 0.8}, 0.7, []int{0, 1}},
		{"IoU equal to the threshold is kept", [][4]float64{a, b}, []float64{0.9, 0.8}, 1. / 3, []int{0, 1}},
		{"ties keep index order", [][4]float64{c, a, d}, []float64{0.9, 0.9, 0.9}, 0.7, []int{0, 2}},
		{"none", nil, nil, 0.7, nil},
	}
	for _, tc := range tests {
		if got := NMS(tc.boxes, tc.scores, tc.thresh); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: kept %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Upsampling a logit map to the image: bilinear with PyTorch's
// align_corners=False (edges clamped), thresholded, with its box, area,
// runs and stability.
func TestUpsampledMask(t *testing.T) {
	// A 2×2 map with one positive cell, read at 4×4: the output pixel
	// centres fall at source positions −0.25, 0.25, 0.75, 1.25 → clamped
	// 0, 0.25, 0.75, 1 along each axis.
	logits := []float32{8, -8, -8, -8}
	u := newUpsampler(4, 4)
	m, stab := u.mask(logits, 2, 2, 0, 1)
	// Values: rows/cols weight w = 1, 0.75, 0.25, 0 of the positive cell,
	// v = 16·wx·wy − 8 (bilinear of ±8): above 0 when wx·wy > 0.5.
	want := []bool{
		true, true, false, false,
		true, true, false, false,
		false, false, false, false,
		false, false, false, false,
	}
	if got := m.Bits(); !reflect.DeepEqual(got, want) {
		t.Errorf("mask %v, want %v", got, want)
	}
	if m.Area != 4 || m.Box != image.Rect(0, 0, 2, 2) {
		t.Errorf("area %d box %v, want 4 and (0,0)-(2,2)", m.Area, m.Box)
	}
	// Stability: above +1 needs wx·wy > 9/16, which three pixels have (the
	// fourth, 0.75·0.75, gives exactly 1); above −1 needs wx·wy > 7/16,
	// which four have: 3/4.
	if math.Abs(stab-3./4) > 1e-6 {
		t.Errorf("stability %v, want 3/4", stab)
	}
	// Same size: the identity.
	id := []float32{-1, 2, 3, -4, 5, -6}
	m, _ = newUpsampler(3, 2).mask(id, 3, 2, 0, 1)
	if got := m.Bits(); !reflect.DeepEqual(got, []bool{false, true, true, false, true, false}) {
		t.Errorf("identity: %v", got)
	}
	if !reflect.DeepEqual(m.Runs, []int32{1, 2, 4, 1}) {
		t.Errorf("runs %v, want [1 2 4 1]", m.Runs)
	}
}
