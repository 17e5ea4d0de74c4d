package geometry

// Image sides of an outline, by the direction of the outside neighbour.
const (
	SideLeft = iota
	SideRight
	SideTop
	SideBottom
)

// SideCount counts outline pixels facing one side and how many of them are
// hidden there.
type SideCount struct{ Outline, Occluded int }

// Visibility says how much of an object's outline in one view is hidden.
type Visibility struct {
	Outline int // mask pixels with a 4-neighbour outside the mask
	// Occluded counts outline pixels next to another object that is nearer
	// the camera: there the object continues behind something.
	Occluded int
	// Side splits the outline by the image side it faces, so that callers
	// can tell a hidden bottom (height unknown) from a hidden flank.
	Side [4]SideCount
	// Truncated is true when the mask touches the image border.
	Truncated bool
}

// OccludedShare is Occluded/Outline (0 for an empty outline).
func (v Visibility) OccludedShare() float64 { return share(v.Occluded, v.Outline) }

// SideShare is the hidden share of the outline facing side.
func (v Visibility) SideShare(side int) float64 {
	return share(v.Side[side].Occluded, v.Side[side].Outline)
}

func share(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// MaskVisibility measures how much of object id's mask m is cut off by
// nearer objects (from the instance map ids) or by the image border. Only
// other objects count as occluders: the floor just below an object's
// silhouette is nearer by a little, but hides nothing.
func MaskVisibility(d DepthMap, ids []uint16, id int, m *Mask) Visibility {
	var v Visibility
	nb := [4][2]int{SideLeft: {-1, 0}, SideRight: {1, 0}, SideTop: {0, -1}, SideBottom: {0, 1}}
	for j := m.Bounds.Min.Y; j < m.Bounds.Max.Y; j++ {
		for i := m.Bounds.Min.X; i < m.Bounds.Max.X; i++ {
			if !m.Has(i, j) {
				continue
			}
			if i == 0 || j == 0 || i == d.W-1 || j == d.H-1 {
				v.Truncated = true
			}
			outline, occluded := false, false
			z, zok := d.At(i, j)
			for side, o := range nb {
				ii, jj := i+o[0], j+o[1]
				if ii < 0 || jj < 0 || ii >= d.W || jj >= d.H || m.Has(ii, jj) {
					continue
				}
				outline = true
				v.Side[side].Outline++
				other := int(ids[jj*d.W+ii])
				if other == 0 || other == id || !zok {
					continue
				}
				if zn, ok := d.At(ii, jj); ok && zn < z-(0.02+0.01*z) {
					occluded = true
					v.Side[side].Occluded++
				}
			}
			if outline {
				v.Outline++
				if occluded {
					v.Occluded++
				}
			}
		}
	}
	return v
}

// MaxSideHidden is the hidden share of an outline side above which the
// extent on that side is taken as unknown.
const MaxSideHidden = 0.1

// extentSides are the outline sides each relation's extents are read from.
var extentSides = map[Relation][]int{
	Taller: {SideBottom, SideTop},
	Above:  {SideBottom, SideTop},
	Wider:  {SideLeft, SideRight},
	Bigger: {SideLeft, SideRight, SideTop, SideBottom},
}

// Answerable reports whether r can be decided for objects seen with
// visibilities va and vb: a relation is only as good as the extents it
// reads. Heights (taller, above) need the bottoms, which nearer objects
// hide first; widths (wider) need both flanks; volumes (bigger) need all.
// Centers along the floor (left, behind) move little when a part is hidden
// and are left to the margin.
func Answerable(r Relation, va, vb Visibility) bool {
	for _, s := range extentSides[r] {
		if va.SideShare(s) > MaxSideHidden || vb.SideShare(s) > MaxSideHidden {
			return false
		}
	}
	return true
}
