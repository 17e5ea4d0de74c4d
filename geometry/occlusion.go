package geometry

// Visibility says how much of an object's outline in one view is hidden.
type Visibility struct {
	Outline int // mask pixels with a 4-neighbour outside the mask
	// Occluded counts outline pixels next to another object that is nearer
	// the camera: there the object continues behind something.
	Occluded int
	// Truncated is true when the mask touches the image border.
	Truncated bool
}

// OccludedShare is Occluded/Outline (0 for an empty outline).
func (v Visibility) OccludedShare() float64 {
	if v.Outline == 0 {
		return 0
	}
	return float64(v.Occluded) / float64(v.Outline)
}

// MaskVisibility measures how much of object id's mask m is cut off by
// nearer objects (from the instance map ids) or by the image border. Only
// other objects count as occluders: the floor just below an object's
// silhouette is nearer by a little, but hides nothing.
func MaskVisibility(d DepthMap, ids []uint16, id int, m *Mask) Visibility {
	var v Visibility
	nb := [4][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}}
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
			for _, o := range nb {
				ii, jj := i+o[0], j+o[1]
				if ii < 0 || jj < 0 || ii >= d.W || jj >= d.H || m.Has(ii, jj) {
					continue
				}
				outline = true
				other := int(ids[jj*d.W+ii])
				if other == 0 || other == id || !zok {
					continue
				}
				if zn, ok := d.At(ii, jj); ok && zn < z-(0.02+0.01*z) {
					occluded = true
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
