package preview

import (
	"fmt"
	"math"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/geometry"
)

// Overlay is what is drawn over a record's anchor view, in image
// coordinates: pixel (i, j) covers [i, i+1] × [j, j+1], so that a pixel
// center u of the intrinsics is at x = u + 0.5. The page's SVG (viewBox
// 0 0 W H) and the PNG cards draw the same overlay.
type Overlay struct {
	W, H    int
	Axes    []Line // x, y, z of the canonical frame
	Objects []ObjectOverlay
	Points  []PointOverlay
	// Problems says what could not be drawn and why (shown on the card).
	Problems []string
}

// Line is a segment in image coordinates.
type Line struct {
	X1, Y1, X2, Y2 float64
	Name           string // axis name, or "" for cube edges
}

// ObjectOverlay is an object's 2D box and projected cube.
type ObjectOverlay struct {
	Ref   string // "A" or "B"
	Name  string
	Box   [4]float64 // x0, y0, x1, y1
	Edges []Line     // the cube's visible (in front of the camera) edges
	// Corners are the cube's 8 projected corners (image coordinates), with
	// InFront false for those behind the camera.
	Corners [8][2]float64
	InFront [8]bool
}

// PointOverlay is a stated point and where its name is written.
type PointOverlay struct {
	Name   string
	Object string
	X, Y   float64
	DepthM float64
	// LX, LY is the label's baseline start, placed clear of the other
	// points and labels where it can be.
	LX, LY float64
}

// pixelToImage converts the intrinsics' pixel coordinates (centers at
// integers) to image coordinates (pixel edges at integers).
const pixelToImage = 0.5

// BuildOverlay projects what a record's meta states onto its anchor view.
func BuildOverlay(rec *gen.Record) (*Overlay, error) {
	cam, err := NewCamera(rec.Meta.Frame)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", rec.ID, err)
	}
	W, H := float64(cam.K.W), float64(cam.K.H)
	o := &Overlay{W: cam.K.W, H: cam.K.H}
	o.Axes = axes(cam, rec.Meta.Frame.Kind)
	for _, om := range rec.Meta.Objects {
		ov := ObjectOverlay{Ref: om.Ref, Name: om.Name,
			Box: [4]float64{om.Box2D[0] * W, om.Box2D[1] * H, om.Box2D[2] * W, om.Box2D[3] * H}}
		cube, err := CubeOf(om.Cube)
		if err != nil {
			o.Problems = append(o.Problems, fmt.Sprintf("object %s: %v", om.Ref, err))
			o.Objects = append(o.Objects, ov)
			continue
		}
		ov.Corners, ov.InFront = ProjectCube(cam, cube)
		corners := cube.Corners()
		for _, e := range CubeEdges {
			if u0, v0, u1, v1, ok := cam.Segment(corners[e[0]], corners[e[1]]); ok {
				ov.Edges = append(ov.Edges, Line{X1: u0 + pixelToImage, Y1: v0 + pixelToImage, X2: u1 + pixelToImage, Y2: v1 + pixelToImage})
			}
		}
		if len(ov.Edges) == 0 {
			o.Problems = append(o.Problems, fmt.Sprintf("object %s: cube is behind the camera", om.Ref))
		}
		o.Objects = append(o.Objects, ov)
	}
	for _, p := range rec.Meta.Points {
		o.Points = append(o.Points, PointOverlay{Name: p.Name, Object: p.Object, X: p.XY[0] * W, Y: p.XY[1] * H, DepthM: p.DepthM})
	}
	placeLabels(o.Points, math.Max(W, H)/640)
	return o, nil
}

// placeLabels puts each point's name at the first of eight spots around it,
// on rings ever farther out, whose box overlaps no point and no label placed
// before (points of one object are often a few pixels apart); scale is the
// overlay's font scale.
func placeLabels(pts []PointOverlay, scale float64) {
	type box struct{ x0, y0, x1, y1 float64 }
	overlaps := func(a, b box) bool { return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1 }
	r := 6 * scale
	var taken []box
	for _, p := range pts {
		taken = append(taken, box{p.X - r, p.Y - r, p.X + r, p.Y + r})
	}
	w, h := 18*scale, 11*scale // "P1" at the page's font size
	spots := [][2]float64{{1, -1}, {1, 1}, {-1, -1}, {-1, 1}, {0, -1.6}, {0, 1.6}, {2.2, 0}, {-2.2, 0}}
	for k := range pts {
		p := &pts[k]
		lw := w + 8*scale*float64(len(p.Name)-2)
		var best box
		found := false
		// Rings of spots ever farther out, until one is free.
		for ring := 0; ring < 4 && !found; ring++ {
			d := r + 2 + float64(ring)*h
			for n, s := range spots {
				// Spot s puts the label's nearest corner d away from the point.
				x := p.X + s[0]*d
				if s[0] < 0 {
					x -= lw
				} else if s[0] == 0 {
					x -= lw / 2
				}
				y := p.Y + s[1]*d
				if s[1] > 0 {
					y += h
				} else if s[1] == 0 {
					y += h / 2
				}
				b := box{x, y - h, x + lw, y}
				if ring == 0 && n == 0 {
					best = b
				}
				free := true
				for _, t := range taken {
					if overlaps(b, t) {
						free = false
						break
					}
				}
				if free {
					best, found = b, true
					break
				}
			}
		}
		p.LX, p.LY = best.x0, best.y1
		taken = append(taken, best)
	}
}

// ProjectCube projects a canonical-frame cube's 8 corners (in
// geometry.Cube.Corners order) to image coordinates.
func ProjectCube(cam Camera, cube geometry.Cube) (xy [8][2]float64, inFront [8]bool) {
	for n, p := range cube.Corners() {
		u, v, ok := cam.Project(p)
		xy[n], inFront[n] = [2]float64{u + pixelToImage, v + pixelToImage}, ok
	}
	return xy, inFront
}

// axes draws the canonical frame's x, y, z at a point on the floor in front
// of the camera (the frame's origin, below the camera, is rarely in view):
// where the ray through the bottom middle of the image meets the floor, or,
// without a floor, 2.5 m along that ray. Each axis is 15 % of that point's
// distance long.
func axes(cam Camera, kind string) []Line {
	toCanon := cam.FromCanonical.Inverse()
	eye := toCanon.T
	ray := toCanon.Rotate(cam.K.Ray(float64(cam.K.W-1)/2, 0.8*float64(cam.K.H-1)))
	t := 2.5 / ray.Norm()
	if kind == geometry.FrameFloor && ray[2] < -1e-6 {
		if hit := -eye[2] / ray[2]; hit > 0 && hit*ray.Norm() < 30 {
			t = hit
		}
	}
	origin := eye.Add(ray.Scale(t))
	length := 0.15 * ray.Norm() * t
	var out []Line
	for k, name := range []string{"x", "y", "z"} {
		var d geometry.Vec3
		d[k] = length
		if u0, v0, u1, v1, ok := cam.Segment(origin, origin.Add(d)); ok && finite(u0, v0, u1, v1) {
			out = append(out, Line{X1: u0 + pixelToImage, Y1: v0 + pixelToImage, X2: u1 + pixelToImage, Y2: v1 + pixelToImage, Name: name})
		}
	}
	return out
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}
