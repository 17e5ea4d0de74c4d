package geometry

import "math"

// Cube is a bounding cube in the canonical frame: Center and Size (x width,
// y depth, z height), rotated by Yaw radians about z (0 for axis-aligned).
type Cube struct {
	Center Vec3
	Size   Vec3
	Yaw    float64
}

// Min and Max are the corners of the cube's axis-aligned extent.
func (c Cube) Min() Vec3 { h := c.aabbHalf(); return c.Center.Sub(h) }
func (c Cube) Max() Vec3 { h := c.aabbHalf(); return c.Center.Add(h) }

func (c Cube) aabbHalf() Vec3 {
	cs, sn := math.Abs(math.Cos(c.Yaw)), math.Abs(math.Sin(c.Yaw))
	return Vec3{(c.Size[0]*cs + c.Size[1]*sn) / 2, (c.Size[0]*sn + c.Size[1]*cs) / 2, c.Size[2] / 2}
}

// Volume in cubic meters.
func (c Cube) Volume() float64 { return c.Size[0] * c.Size[1] * c.Size[2] }

// Corners returns the 8 corners in the canonical frame.
func (c Cube) Corners() [8]Vec3 {
	rot := RotZ(c.Yaw)
	var out [8]Vec3
	for n := 0; n < 8; n++ {
		d := Vec3{c.Size[0] / 2, c.Size[1] / 2, c.Size[2] / 2}
		if n&1 != 0 {
			d[0] = -d[0]
		}
		if n&2 != 0 {
			d[1] = -d[1]
		}
		if n&4 != 0 {
			d[2] = -d[2]
		}
		out[n] = c.Center.Add(rot.MulVec(d))
	}
	return out
}

// AxisCube is the axis-aligned bounding cube of points (which must be
// non-empty).
func AxisCube(pts []Vec3) Cube {
	lo, hi := pts[0], pts[0]
	for _, p := range pts[1:] {
		for k := 0; k < 3; k++ {
			lo[k] = math.Min(lo[k], p[k])
			hi[k] = math.Max(hi[k], p[k])
		}
	}
	return Cube{Center: lo.Add(hi).Scale(0.5), Size: hi.Sub(lo)}
}

// OrientedCube is the bounding cube rotated about z that has the smallest
// footprint, searched over yaw in 1° steps on at most 2000 points (the
// footprint area is smooth in yaw, and the search needs no hull).
func OrientedCube(pts []Vec3) Cube {
	sample := pts
	if len(pts) > 2000 {
		step := len(pts) / 2000
		sample = make([]Vec3, 0, 2001)
		for n := 0; n < len(pts); n += step {
			sample = append(sample, pts[n])
		}
	}
	bestYaw, bestArea := 0.0, math.Inf(1)
	for deg := 0; deg < 90; deg++ {
		yaw := Deg(float64(deg))
		c, s := math.Cos(yaw), math.Sin(yaw)
		x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for _, p := range sample {
			x, y := c*p[0]+s*p[1], -s*p[0]+c*p[1]
			x0, x1 = math.Min(x0, x), math.Max(x1, x)
			y0, y1 = math.Min(y0, y), math.Max(y1, y)
		}
		if a := (x1 - x0) * (y1 - y0); a < bestArea-1e-12 {
			bestArea, bestYaw = a, yaw
		}
	}
	// Exact extents on all points at the chosen yaw.
	c, s := math.Cos(bestYaw), math.Sin(bestYaw)
	lo := Vec3{math.Inf(1), math.Inf(1), math.Inf(1)}
	hi := Vec3{math.Inf(-1), math.Inf(-1), math.Inf(-1)}
	for _, p := range pts {
		q := Vec3{c*p[0] + s*p[1], -s*p[0] + c*p[1], p[2]}
		for k := 0; k < 3; k++ {
			lo[k] = math.Min(lo[k], q[k])
			hi[k] = math.Max(hi[k], q[k])
		}
	}
	mid := lo.Add(hi).Scale(0.5)
	center := Vec3{c*mid[0] - s*mid[1], s*mid[0] + c*mid[1], mid[2]}
	return Cube{Center: center, Size: hi.Sub(lo), Yaw: bestYaw}
}
