// Package geometry holds the 3D side of boostgen: camera models, per-object
// point clouds, the gravity-aligned canonical frame, bounding cubes, and the
// predicates and metrics that spatial questions are answered from. Every
// number a record states about 3D space is computed here.
//
// Conventions. Camera frames are OpenCV's: x right, y down, z forward, and a
// pixel (i, j) has its center at (u, v) = (i, j). World and canonical frames
// are right-handed with z up. Lengths are meters.
package geometry

import "math"

// Vec3 is a point or direction in 3D.
type Vec3 [3]float64

func (a Vec3) Add(b Vec3) Vec3      { return Vec3{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func (a Vec3) Sub(b Vec3) Vec3      { return Vec3{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func (a Vec3) Scale(s float64) Vec3 { return Vec3{a[0] * s, a[1] * s, a[2] * s} }
func (a Vec3) Dot(b Vec3) float64   { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func (a Vec3) Norm() float64        { return math.Sqrt(a.Dot(a)) }
func (a Vec3) Dist(b Vec3) float64  { return a.Sub(b).Norm() }
func (a Vec3) IsFinite() bool       { return finite(a[0]) && finite(a[1]) && finite(a[2]) }
func finite(f float64) bool         { return !math.IsNaN(f) && !math.IsInf(f, 0) }
func (a Vec3) Cross(b Vec3) Vec3 {
	return Vec3{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// Unit returns a scaled to length 1 (the zero vector stays zero).
func (a Vec3) Unit() Vec3 {
	n := a.Norm()
	if n == 0 {
		return a
	}
	return a.Scale(1 / n)
}

// Mat3 is a row-major 3×3 matrix.
type Mat3 [3][3]float64

// Identity3 is the 3×3 identity.
var Identity3 = Mat3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}

func (m Mat3) MulVec(v Vec3) Vec3 {
	return Vec3{
		m[0][0]*v[0] + m[0][1]*v[1] + m[0][2]*v[2],
		m[1][0]*v[0] + m[1][1]*v[1] + m[1][2]*v[2],
		m[2][0]*v[0] + m[2][1]*v[1] + m[2][2]*v[2],
	}
}

func (m Mat3) Mul(n Mat3) Mat3 {
	var r Mat3
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			r[i][j] = m[i][0]*n[0][j] + m[i][1]*n[1][j] + m[i][2]*n[2][j]
		}
	}
	return r
}

func (m Mat3) T() Mat3 {
	return Mat3{{m[0][0], m[1][0], m[2][0]}, {m[0][1], m[1][1], m[2][1]}, {m[0][2], m[1][2], m[2][2]}}
}

// Pose is a rigid transform p' = R·p + T. Names say the direction:
// CamToWorld maps camera coordinates to world coordinates.
type Pose struct {
	R Mat3
	T Vec3
}

// IdentityPose maps every point to itself.
var IdentityPose = Pose{R: Identity3}

func (p Pose) Apply(v Vec3) Vec3 { return p.R.MulVec(v).Add(p.T) }

// Rotate applies only the rotation (for directions).
func (p Pose) Rotate(v Vec3) Vec3 { return p.R.MulVec(v) }

// Inverse returns the transform in the other direction.
func (p Pose) Inverse() Pose {
	rt := p.R.T()
	return Pose{R: rt, T: rt.MulVec(p.T).Scale(-1)}
}

// Then returns the transform that applies p first and q second.
func (p Pose) Then(q Pose) Pose {
	return Pose{R: q.R.Mul(p.R), T: q.R.MulVec(p.T).Add(q.T)}
}

// Matrix4 returns the pose as a row-major homogeneous 4×4 matrix.
func (p Pose) Matrix4() [4][4]float64 {
	return [4][4]float64{
		{p.R[0][0], p.R[0][1], p.R[0][2], p.T[0]},
		{p.R[1][0], p.R[1][1], p.R[1][2], p.T[1]},
		{p.R[2][0], p.R[2][1], p.R[2][2], p.T[2]},
		{0, 0, 0, 1},
	}
}

// PoseFromMatrix4 reads a homogeneous 4×4 matrix.
func PoseFromMatrix4(m [4][4]float64) Pose {
	return Pose{
		R: Mat3{{m[0][0], m[0][1], m[0][2]}, {m[1][0], m[1][1], m[1][2]}, {m[2][0], m[2][1], m[2][2]}},
		T: Vec3{m[0][3], m[1][3], m[2][3]},
	}
}

// IsFinite reports whether every entry is a finite number.
func (p Pose) IsFinite() bool {
	for i := 0; i < 3; i++ {
		if !Vec3(p.R[i]).IsFinite() {
			return false
		}
	}
	return p.T.IsFinite()
}

// RotZ is a rotation by angle radians about +z.
func RotZ(a float64) Mat3 {
	c, s := math.Cos(a), math.Sin(a)
	return Mat3{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
}

// Deg converts degrees to radians.
func Deg(d float64) float64 { return d * math.Pi / 180 }
