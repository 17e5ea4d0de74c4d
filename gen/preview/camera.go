package preview

import (
	"fmt"
	"math"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/geometry"
)

// Camera is a record's anchor view as its meta states it: the canonical
// frame's points go to the camera with the inverse of canonical_from_camera,
// then to pixels with the intrinsics (OpenCV axes: x right, y down, z
// forward; pixel centers at integer coordinates).
type Camera struct {
	K             geometry.Intrinsics
	FromCanonical geometry.Pose // canonical → camera
}

// nearZ is where segments are clipped in front of the camera (meters):
// nearer than that a projected line would run off to infinity.
const nearZ = 0.05

// NewCamera reads a record's frame meta, refusing what cannot be a camera.
func NewCamera(f gen.FrameMeta) (Camera, error) {
	in := f.Intrinsics
	k := geometry.Intrinsics{Fx: in.Fx, Fy: in.Fy, Cx: in.Cx, Cy: in.Cy, W: in.Width, H: in.Height}
	if err := k.Validate(); err != nil {
		return Camera{}, fmt.Errorf("meta.frame.intrinsics: %v", err)
	}
	m := f.CanonicalFromCamera
	pose := geometry.PoseFromMatrix4(m)
	if !pose.IsFinite() {
		return Camera{}, fmt.Errorf("meta.frame.canonical_from_camera: not finite")
	}
	if m[3] != [4]float64{0, 0, 0, 1} {
		return Camera{}, fmt.Errorf("meta.frame.canonical_from_camera: last row is %v, want [0 0 0 1]", m[3])
	}
	// Rounded to 6 decimals in the record, so orthonormal to about 1e-6.
	rrt := pose.R.Mul(pose.R.T())
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(rrt[i][j]-want) > 1e-3 {
				return Camera{}, fmt.Errorf("meta.frame.canonical_from_camera: rotation is not orthonormal (R·Rᵀ[%d][%d] = %.4f)", i, j, rrt[i][j])
			}
		}
	}
	return Camera{K: k, FromCanonical: pose.Inverse()}, nil
}

// Project returns the pixel coordinates of a canonical-frame point and
// whether it lies in front of the camera.
func (c Camera) Project(p geometry.Vec3) (u, v float64, ok bool) {
	q := c.FromCanonical.Apply(p)
	if q[2] < nearZ {
		return 0, 0, false
	}
	return c.K.Project(q)
}

// Segment projects the canonical-frame segment a–b, clipped to the part in
// front of the camera; ok is false when none of it is.
func (c Camera) Segment(a, b geometry.Vec3) (u0, v0, u1, v1 float64, ok bool) {
	p, q := c.FromCanonical.Apply(a), c.FromCanonical.Apply(b)
	if p[2] < nearZ && q[2] < nearZ {
		return 0, 0, 0, 0, false
	}
	if p[2] < nearZ || q[2] < nearZ {
		t := (nearZ - p[2]) / (q[2] - p[2])
		cut := p.Add(q.Sub(p).Scale(t))
		cut[2] = nearZ
		if p[2] < nearZ {
			p = cut
		} else {
			q = cut
		}
	}
	u0, v0, _ = c.K.Project(p)
	u1, v1, _ = c.K.Project(q)
	return u0, v0, u1, v1, true
}

// CubeOf turns a record's cube meta into a cube (yaw in radians).
func CubeOf(m gen.CubeMeta) (geometry.Cube, error) {
	if len(m.Center) != 3 || len(m.Size) != 3 {
		return geometry.Cube{}, fmt.Errorf("cube needs 3 center and 3 size values, has %d and %d", len(m.Center), len(m.Size))
	}
	c := geometry.Cube{Center: geometry.Vec3{m.Center[0], m.Center[1], m.Center[2]}, Size: geometry.Vec3{m.Size[0], m.Size[1], m.Size[2]}, Yaw: m.YawDeg * math.Pi / 180}
	if !c.Center.IsFinite() || !c.Size.IsFinite() || math.IsNaN(c.Yaw) || math.IsInf(c.Yaw, 0) {
		return geometry.Cube{}, fmt.Errorf("cube is not finite")
	}
	return c, nil
}

// CubeEdges are the 12 edges of a cube as pairs of indices into
// geometry.Cube.Corners (corner n has bit 0 = −x, bit 1 = −y, bit 2 = −z).
var CubeEdges = [12][2]int{
	{0, 1}, {2, 3}, {4, 5}, {6, 7}, // along x
	{0, 2}, {1, 3}, {4, 6}, {5, 7}, // along y
	{0, 4}, {1, 5}, {2, 6}, {3, 7}, // along z
}
