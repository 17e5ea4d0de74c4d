package geometry

import (
	"fmt"
	"math"
)

// Intrinsics is a pinhole camera for an image of W×H pixels.
type Intrinsics struct {
	Fx, Fy, Cx, Cy float64
	W, H           int
}

// IntrinsicsFromHFOV builds a centered pinhole camera with square pixels
// from a horizontal field of view in radians.
func IntrinsicsFromHFOV(w, h int, hfov float64) Intrinsics {
	f := float64(w) / 2 / math.Tan(hfov/2)
	return Intrinsics{Fx: f, Fy: f, Cx: float64(w-1) / 2, Cy: float64(h-1) / 2, W: w, H: h}
}

// Validate reports intrinsics that would turn into NaN or nonsense.
func (k Intrinsics) Validate() error {
	if k.W <= 0 || k.H <= 0 {
		return fmt.Errorf("intrinsics: image size %d×%d", k.W, k.H)
	}
	if !(k.Fx > 0 && k.Fy > 0) || !finite(k.Cx) || !finite(k.Cy) {
		return fmt.Errorf("intrinsics: fx=%g fy=%g cx=%g cy=%g", k.Fx, k.Fy, k.Cx, k.Cy)
	}
	return nil
}

// Unproject returns the camera-frame point seen at pixel (u, v) whose depth
// (distance along the optical axis, as depth sensors and Depth-Pro report it)
// is z.
func (k Intrinsics) Unproject(u, v, z float64) Vec3 {
	return Vec3{(u - k.Cx) / k.Fx * z, (v - k.Cy) / k.Fy * z, z}
}

// Project returns the continuous pixel coordinates of a camera-frame point
// and whether it lies in front of the camera.
func (k Intrinsics) Project(p Vec3) (u, v float64, ok bool) {
	if p[2] <= 1e-9 {
		return 0, 0, false
	}
	return k.Fx*p[0]/p[2] + k.Cx, k.Fy*p[1]/p[2] + k.Cy, true
}

// Ray returns the (unnormalized) camera-frame direction through pixel (u, v),
// scaled so that its z is 1: point = Ray·depth.
func (k Intrinsics) Ray(u, v float64) Vec3 { return k.Unproject(u, v, 1) }

// NormalizedPoint is a point stated in an answer: x right and y down, origin
// at the image's top-left corner, both in [0, 1].
type NormalizedPoint struct{ X, Y float64 }

// NormalizePixel states pixel (i, j) as a normalized point at its center,
// rounded to 3 decimals as answers print it.
func NormalizePixel(i, j, w, h int) NormalizedPoint {
	return NormalizedPoint{X: Round3((float64(i) + 0.5) / float64(w)), Y: Round3((float64(j) + 0.5) / float64(h))}
}

// Pixel returns the pixel a stated normalized point falls in. The depth of a
// stated point is the depth of this pixel, so that a reader can check any
// answer against the depth map.
func (p NormalizedPoint) Pixel(w, h int) (i, j int) {
	return clampInt(int(p.X*float64(w)), 0, w-1), clampInt(int(p.Y*float64(h)), 0, h-1)
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
