package geometry

import (
	"fmt"
	"math"
)

// Relation is a binary spatial predicate between two objects, named by its
// positive form; each has an opposite form ("left" ↔ "right") that questions
// may use as well.
type Relation string

const (
	Left   Relation = "left"   // A's center is further to the viewer's left
	Above  Relation = "above"  // A's center is higher
	Behind Relation = "behind" // A's center is further from the viewer, along the floor
	Taller Relation = "taller" // A's vertical extent is larger
	Wider  Relation = "wider"  // A's extent along the viewer's left-right is larger
	Bigger Relation = "bigger" // A's volume is larger
)

// Relations lists every relation in a stable order.
var Relations = []Relation{Left, Above, Behind, Taller, Wider, Bigger}

// Opposite is the word for the relation reversed.
func (r Relation) Opposite() string {
	switch r {
	case Left:
		return "right"
	case Above:
		return "below"
	case Behind:
		return "front"
	case Taller:
		return "shorter"
	case Wider:
		return "thinner"
	case Bigger:
		return "smaller"
	}
	return "not-" + string(r)
}

// Margin returns how strongly r(a, b) holds, in meters: positive when it
// holds, negative when the reverse holds. "Bigger" compares the side of the
// cube of equal volume, so that its margin is a length like the others.
func Margin(r Relation, a, b Cube) float64 {
	switch r {
	case Left:
		return b.Center[0] - a.Center[0]
	case Above:
		return a.Center[2] - b.Center[2]
	case Behind:
		return a.Center[1] - b.Center[1]
	case Taller:
		return Height(a) - Height(b)
	case Wider:
		return Width(a) - Width(b)
	case Bigger:
		return math.Cbrt(a.Volume()) - math.Cbrt(b.Volume())
	}
	panic(fmt.Sprintf("geometry: unknown relation %q", r))
}

// Decide answers r(a, b) when the estimated margin is at least minMargin
// meters, and abstains (ok=false) otherwise: a label is only as good as the
// geometry behind it, and near-ties are where estimates flip.
func Decide(r Relation, a, b Cube, minMargin float64) (holds, ok bool) {
	m := Margin(r, a, b)
	if math.Abs(m) < minMargin || math.IsNaN(m) {
		return false, false
	}
	return m > 0, true
}

// CenterDistance is the distance between the cubes' centers.
func CenterDistance(a, b Cube) float64 { return a.Center.Dist(b.Center) }

// ClosestDistance is the gap between the cubes' axis-aligned extents (0 when
// they overlap).
func ClosestDistance(a, b Cube) float64 {
	amin, amax, bmin, bmax := a.Min(), a.Max(), b.Min(), b.Max()
	var s float64
	for k := 0; k < 3; k++ {
		gap := math.Max(0, math.Max(bmin[k]-amax[k], amin[k]-bmax[k]))
		s += gap * gap
	}
	return math.Sqrt(s)
}

// VerticalDistance is the height difference between the centers.
func VerticalDistance(a, b Cube) float64 { return math.Abs(a.Center[2] - b.Center[2]) }

// HorizontalDistance is the distance between the centers along the floor.
func HorizontalDistance(a, b Cube) float64 {
	return math.Hypot(a.Center[0]-b.Center[0], a.Center[1]-b.Center[1])
}

// Width and Height of a cube's axis-aligned extent as the viewer sees it.
func Width(c Cube) float64  { return c.aabbHalf()[0] * 2 }
func Height(c Cube) float64 { return c.Size[2] }

// Direction is where b lies as seen from a, as a clock position on the
// floor: 12 o'clock is the viewer's forward, 3 o'clock the viewer's right.
func Direction(a, b Cube) int {
	dx, dy := b.Center[0]-a.Center[0], b.Center[1]-a.Center[1]
	ang := math.Atan2(dx, dy) * 180 / math.Pi // 0 = forward, 90 = right
	h := int(math.Round(ang/30)) % 12
	if h <= 0 {
		h += 12
	}
	return h
}
