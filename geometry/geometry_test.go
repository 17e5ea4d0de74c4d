package geometry

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestProjectUnprojectRoundTrip(t *testing.T) {
	k := IntrinsicsFromHFOV(640, 480, Deg(60))
	for _, c := range []struct{ u, v, z float64 }{{0, 0, 1}, {319.5, 239.5, 2.5}, {639, 479, 7.25}, {100.25, 400.75, 0.3}} {
		p := k.Unproject(c.u, c.v, c.z)
		u, v, ok := k.Project(p)
		if !ok || !near(u, c.u, 1e-9) || !near(v, c.v, 1e-9) || !near(p[2], c.z, 1e-12) {
			t.Errorf("(%g, %g, %g) → %v → (%g, %g, %v)", c.u, c.v, c.z, p, u, v, ok)
		}
	}
	if _, _, ok := k.Project(Vec3{0, 0, -1}); ok {
		t.Error("a point behind the camera projected")
	}
}

func TestNormalizedPointRoundTrip(t *testing.T) {
	// A stated point (3 decimals) maps back to the pixel it was made from for
	// any image under 1000 pixels wide: half a thousandth is under half a pixel.
	// (Wider images may land on a neighbour; the planner therefore re-derives
	// the pixel from the stated point and checks that one.)
	for _, size := range [][2]int{{640, 480}, {999, 750}, {320, 240}, {64, 48}} {
		w, h := size[0], size[1]
		for i := 0; i < w; i++ {
			j := (i * 7) % h
			p := NormalizePixel(i, j, w, h)
			if pi, pj := p.Pixel(w, h); pi != i || pj != j {
				t.Fatalf("%dx%d: pixel (%d, %d) → %v → (%d, %d)", w, h, i, j, p, pi, pj)
			}
		}
	}
}

func TestRound3(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{{1.2344, 1.234}, {1.2345001, 1.235}, {-0.0004, 0}, {0.4995, 0.5}, {2, 2}} {
		if got := Round3(c.in); got != c.want || math.Signbit(got) && got == 0 {
			t.Errorf("Round3(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestPoseAlgebra(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 20; n++ {
		p := Pose{R: RotZ(rng.Float64() * 6).Mul(Mat3{{1, 0, 0}, {0, math.Cos(0.3), -math.Sin(0.3)}, {0, math.Sin(0.3), math.Cos(0.3)}}), T: Vec3{rng.Float64(), rng.Float64(), rng.Float64()}}
		q := Pose{R: RotZ(rng.Float64()), T: Vec3{1, -2, 3}}
		x := Vec3{rng.Float64(), rng.Float64(), rng.Float64()}
		if got := p.Inverse().Apply(p.Apply(x)); got.Dist(x) > 1e-12 {
			t.Fatalf("inverse: %v → %v", x, got)
		}
		if a, b := p.Then(q).Apply(x), q.Apply(p.Apply(x)); a.Dist(b) > 1e-12 {
			t.Fatalf("then: %v vs %v", a, b)
		}
		if m := PoseFromMatrix4(p.Matrix4()); m.Apply(x).Dist(p.Apply(x)) > 1e-15 {
			t.Fatal("matrix round trip")
		}
	}
}

func TestSymEigen(t *testing.T) {
	a := Mat3{{4, 1, 0.5}, {1, 3, 0.2}, {0.5, 0.2, 1}}
	vals, vecs := symEigen(a)
	for c := 0; c < 3; c++ {
		v := Vec3{vecs[0][c], vecs[1][c], vecs[2][c]}
		if d := a.MulVec(v).Sub(v.Scale(vals[c])).Norm(); d > 1e-9 {
			t.Errorf("eigenpair %d: residual %g", c, d)
		}
	}
	if !(vals[0] <= vals[1] && vals[1] <= vals[2]) {
		t.Errorf("eigenvalues not ascending: %v", vals)
	}
}

// planePoints samples a floor seen from a camera at height h pitched down,
// plus a wall and clutter, in camera coordinates.
func planePoints(h, pitchDeg float64, rng *rand.Rand) ([]Vec3, Vec3) {
	// World: z up. Camera looks along +y pitched down; camera axes in world:
	// x = (1,0,0), z = (0, cos p, sin p) (p < 0), y = z × x … built as rows.
	p := Deg(pitchDeg)
	fwd := Vec3{0, math.Cos(p), math.Sin(p)}
	right := Vec3{1, 0, 0}
	down := fwd.Cross(right) // x × y = z ⇒ y = z × x
	worldToCam := Pose{R: Mat3{right, down, fwd}}.Then(Pose{R: Identity3})
	worldToCam.T = worldToCam.R.MulVec(Vec3{0, 0, -h})
	var pts []Vec3
	for n := 0; n < 3000; n++ { // floor
		w := Vec3{rng.Float64()*6 - 3, 1 + rng.Float64()*6, rng.NormFloat64() * 0.002}
		pts = append(pts, worldToCam.Apply(w))
	}
	for n := 0; n < 1500; n++ { // wall at y = 6
		w := Vec3{rng.Float64()*6 - 3, 6, rng.Float64() * 2.5}
		pts = append(pts, worldToCam.Apply(w))
	}
	for n := 0; n < 800; n++ { // clutter: a table top at 0.7 m and boxes
		w := Vec3{rng.Float64() - 0.5, 2 + rng.Float64(), 0.7}
		pts = append(pts, worldToCam.Apply(w))
	}
	return pts, worldToCam.Rotate(Vec3{0, 0, 1})
}

func TestFitFloor(t *testing.T) {
	for _, c := range []struct {
		name          string
		height, pitch float64
	}{
		{"low and level", 0.8, -5},
		{"typical", 1.4, -20},
		{"high and steep", 1.8, -40},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 7))
			pts, up := planePoints(c.height, c.pitch, rng)
			pl, inliers, ok := FitFloor(pts, DefaultFloorOptions, rng)
			if !ok {
				t.Fatal("no floor")
			}
			if d := UpAngleDeg(pl.N, up); d > 0.5 {
				t.Errorf("normal off by %.3f°", d)
			}
			if !near(pl.D, c.height, 0.005) {
				t.Errorf("camera height %.4f, want %.4f", pl.D, c.height)
			}
			if inliers < 2500 {
				t.Errorf("%d inliers", inliers)
			}
			f := FloorFrame(pl, inliers)
			// The camera sits at (0, 0, h) in the canonical frame, looking
			// along +y (its forward has no x component).
			if cam := f.FromCamera.Apply(Vec3{}); cam.Dist(Vec3{0, 0, pl.D}) > 1e-9 {
				t.Errorf("camera at %v in the canonical frame", cam)
			}
			if fw := f.FromCamera.Rotate(Vec3{0, 0, 1}); !near(fw[0], 0, 1e-9) || fw[1] <= 0 {
				t.Errorf("forward maps to %v", fw)
			}
			if r := f.FromCamera.Rotate(Vec3{1, 0, 0}); r[0] <= 0.9 {
				t.Errorf("camera right maps to %v", r)
			}
		})
	}
}

func TestFitFloorFallsBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var wall []Vec3 // a wall straight ahead, no floor: a close-up
	for n := 0; n < 2000; n++ {
		wall = append(wall, Vec3{rng.Float64()*2 - 1, rng.Float64()*2 - 1, 1.5})
	}
	if _, _, ok := FitFloor(wall, DefaultFloorOptions, rng); ok {
		t.Fatal("a wall was taken for a floor")
	}
	if _, _, ok := FitFloor(nil, DefaultFloorOptions, rng); ok {
		t.Fatal("no points, yet a floor")
	}
	f := CameraFrame()
	if f.Kind != FrameCamera || !f.FromCamera.IsFinite() {
		t.Fatalf("fallback frame %+v", f)
	}
	if up := f.FromCamera.Rotate(Vec3{0, -1, 0}); up.Dist(Vec3{0, 0, 1}) > 1e-12 {
		t.Errorf("image up maps to %v", up)
	}
}

func TestCubes(t *testing.T) {
	// Points on the surface of a box rotated by 30°.
	yaw := Deg(30)
	var pts []Vec3
	rot := RotZ(yaw)
	for i := 0; i <= 20; i++ {
		for j := 0; j <= 20; j++ {
			a, b := float64(i)/20-0.5, float64(j)/20-0.5
			for _, q := range []Vec3{{a * 0.8, b * 0.4, 0.3}, {a * 0.8, b * 0.4, -0.3}, {0.4, a * 0.4, b * 0.6}, {-0.4, a * 0.4, b * 0.6}} {
				pts = append(pts, rot.MulVec(q).Add(Vec3{1, 2, 0.3}))
			}
		}
	}
	oc := OrientedCube(pts)
	if !near(oc.Size[0]*oc.Size[1], 0.8*0.4, 0.005) || !near(oc.Size[2], 0.6, 1e-9) || oc.Center.Dist(Vec3{1, 2, 0.3}) > 0.01 {
		t.Errorf("oriented cube %+v", oc)
	}
	ac := AxisCube(pts)
	if ac.Volume() <= oc.Volume() {
		t.Errorf("axis cube %v not larger than oriented %v", ac.Volume(), oc.Volume())
	}
	for _, c := range oc.Corners() {
		if c[2] < -1e-9 || c[2] > 0.6+1e-9 {
			t.Errorf("corner %v outside the height", c)
		}
	}
	// Min/Max of a rotated cube bound its corners.
	lo, hi := oc.Min(), oc.Max()
	for _, c := range oc.Corners() {
		for k := 0; k < 3; k++ {
			if c[k] < lo[k]-1e-9 || c[k] > hi[k]+1e-9 {
				t.Fatalf("corner %v outside [%v, %v]", c, lo, hi)
			}
		}
	}
}

func TestRelations(t *testing.T) {
	a := Cube{Center: Vec3{-1, 2, 0.5}, Size: Vec3{0.4, 0.4, 1.0}}
	b := Cube{Center: Vec3{1, 3, 0.2}, Size: Vec3{0.8, 0.4, 0.4}}
	for _, c := range []struct {
		r      Relation
		margin float64
	}{
		{Left, 2}, {Above, 0.3}, {Behind, -1}, {Taller, 0.6}, {Wider, -0.4},
		{Bigger, math.Cbrt(0.16) - math.Cbrt(0.128)},
	} {
		if m := Margin(c.r, a, b); !near(m, c.margin, 1e-12) {
			t.Errorf("%s: margin %v, want %v", c.r, m, c.margin)
		}
		if m := Margin(c.r, b, a); !near(m, -c.margin, 1e-12) {
			t.Errorf("%s reversed: margin %v, want %v", c.r, m, -c.margin)
		}
		holds, ok := Decide(c.r, a, b, 0.05)
		if math.Abs(c.margin) >= 0.05 && (!ok || holds != (c.margin > 0)) {
			t.Errorf("%s: decided %v/%v", c.r, holds, ok)
		}
		if _, ok := Decide(c.r, a, b, math.Abs(c.margin)+0.01); ok {
			t.Errorf("%s: answered inside the abstention margin", c.r)
		}
	}
	if d := CenterDistance(a, b); !near(d, math.Sqrt(4+1+0.09), 1e-12) {
		t.Errorf("center distance %v", d)
	}
	if d := ClosestDistance(a, b); !near(d, math.Sqrt(1.4*1.4+0.6*0.6), 1e-12) {
		t.Errorf("closest distance %v", d)
	}
	if d := VerticalDistance(a, b); !near(d, 0.3, 1e-12) {
		t.Errorf("vertical %v", d)
	}
	if d := HorizontalDistance(a, b); !near(d, math.Sqrt(5), 1e-12) {
		t.Errorf("horizontal %v", d)
	}
}

func TestDirection(t *testing.T) {
	o := Cube{}
	for _, c := range []struct {
		x, y float64
		want int
	}{{0, 1, 12}, {1, 0, 3}, {0, -1, 6}, {-1, 0, 9}, {1, 1.7320508, 1}, {-1, 1.7320508, 11}, {0.5, -0.8660254, 5}} {
		if got := Direction(o, Cube{Center: Vec3{c.x, c.y, 0}}); got != c.want {
			t.Errorf("(%v, %v): %d o'clock, want %d", c.x, c.y, got, c.want)
		}
	}
}

func TestMaskCloudDropsBleed(t *testing.T) {
	// A 20×20 object at 2 m whose mask bleeds one column onto a wall at 5 m
	// and one onto a nearer object at 1 m: the gap filter keeps the object.
	w, h := 40, 40
	d := DepthMap{W: w, H: h, Z: make([]float32, w*h)}
	ids := make([]uint16, w*h)
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			d.Z[j*w+i] = 5
		}
	}
	for j := 10; j < 30; j++ {
		for i := 10; i < 30; i++ {
			d.Z[j*w+i] = 2 + float32(j-10)*0.01 // a slanted surface
			ids[j*w+i] = 1
		}
		ids[j*w+30] = 1 // bleed onto the wall
		ids[j*w+31] = 1
		d.Z[j*w+9] = 1 // nearer object beside
		ids[j*w+9] = 1
		ids[j*w+8] = 1
		d.Z[j*w+8] = 1
	}
	m := MasksFromInstances(ids, w, h)[1]
	k := IntrinsicsFromHFOV(w, h, Deg(60))
	pts, st := MaskCloud(d, k, m, IdentityPose, DefaultCloudOptions)
	for _, p := range pts {
		if p[2] < 1.99 || p[2] > 2.2 {
			t.Fatalf("kept a point at depth %.2f (stats %+v)", p[2], st)
		}
	}
	if st.Outliers == 0 || len(pts) < 300 {
		t.Errorf("stats %+v, %d points", st, len(pts))
	}
}

func TestMaskVisibility(t *testing.T) {
	// Object 1 (10×10 at 3 m) with object 2 (nearer, 1 m) covering the
	// rows below it, and object 3 touching the border.
	w, h := 30, 30
	d := DepthMap{W: w, H: h, Z: make([]float32, w*h)}
	ids := make([]uint16, w*h)
	set := func(r image.Rectangle, id uint16, z float32) {
		for j := r.Min.Y; j < r.Max.Y; j++ {
			for i := r.Min.X; i < r.Max.X; i++ {
				ids[j*w+i], d.Z[j*w+i] = id, z
			}
		}
	}
	for n := range d.Z {
		d.Z[n] = 6
	}
	set(image.Rect(10, 5, 20, 15), 1, 3)
	set(image.Rect(8, 15, 22, 22), 2, 1)
	set(image.Rect(0, 25, 5, 30), 3, 2)
	masks := MasksFromInstances(ids, w, h)
	v1 := MaskVisibility(d, ids, 1, masks[1])
	if v1.SideShare(SideBottom) != 1 || v1.SideShare(SideTop) != 0 || v1.Truncated {
		t.Errorf("object 1: %+v", v1)
	}
	if Answerable(Taller, v1, Visibility{}) || !Answerable(Left, v1, Visibility{}) {
		t.Error("a hidden bottom must block taller but not left")
	}
	v2 := MaskVisibility(d, ids, 2, masks[2])
	if v2.Occluded != 0 {
		t.Errorf("object 2 is in front of everything: %+v", v2)
	}
	if v3 := MaskVisibility(d, ids, 3, masks[3]); !v3.Truncated {
		t.Error("object 3 touches the border")
	}
}
