package templates

import (
	"fmt"

	"github.com/boostgen/boostgen/geometry"
)

// Length states a length as answers do (Appendix C): meters with 3
// decimals, and centimeters for values below 0.5 m, keeping the same
// precision (1 mm).
func Length(m float64) string {
	m = geometry.Round3(m)
	if m < 0.5 {
		return fmt.Sprintf("%.1f cm", m*100)
	}
	return fmt.Sprintf("%.3f m", m)
}

// Point states a normalized image point: (x, y), x right and y down from
// the top-left corner, 3 decimals.
func Point(p geometry.NormalizedPoint) string {
	return fmt.Sprintf("(%.3f, %.3f)", p.X, p.Y)
}

// CubeText states a bounding cube in the canonical frame: its center and
// its size (width, depth, height), in meters.
func CubeText(c geometry.Cube) string {
	r := geometry.Round3
	return fmt.Sprintf("(%.3f, %.3f, %.3f), size (%.3f, %.3f, %.3f)",
		r(c.Center[0]), r(c.Center[1]), r(c.Center[2]), r(c.Size[0]), r(c.Size[1]), r(c.Size[2]))
}
