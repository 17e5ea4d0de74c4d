package geometry

import (
	"fmt"
	"image"
	"math"
	"slices"
)

// DepthMap is metric depth along the optical axis, row-major. A pixel whose
// value is zero, negative, NaN or infinite is invalid (depth sensors write 0
// for "no reading"; models can produce NaN).
type DepthMap struct {
	W, H int
	Z    []float32
}

// At returns the depth at pixel (i, j) and whether it is valid.
func (d DepthMap) At(i, j int) (float64, bool) {
	z := float64(d.Z[j*d.W+i])
	return z, validDepth(z)
}

func validDepth(z float64) bool { return z > 0 && !math.IsInf(z, 0) && !math.IsNaN(z) }

// ValidFraction is the share of pixels with a usable depth.
func (d DepthMap) ValidFraction() float64 {
	if len(d.Z) == 0 {
		return 0
	}
	n := 0
	for _, z := range d.Z {
		if validDepth(float64(z)) {
			n++
		}
	}
	return float64(n) / float64(len(d.Z))
}

// Mask is one object's pixels, stored as a bitmap over its bounding rectangle
// so that membership tests (for erosion and edge checks) are O(1) without a
// full-image bitmap per object.
type Mask struct {
	Bounds image.Rectangle // in image pixels; empty for an empty mask
	Bits   []bool          // Bounds.Dx()*Bounds.Dy(), row-major
	Count  int
}

// Has reports whether pixel (i, j) belongs to the mask.
func (m *Mask) Has(i, j int) bool {
	if !(image.Point{i, j}).In(m.Bounds) {
		return false
	}
	return m.Bits[(j-m.Bounds.Min.Y)*m.Bounds.Dx()+(i-m.Bounds.Min.X)]
}

// MasksFromInstances builds one mask per non-zero id of an instance map.
func MasksFromInstances(ids []uint16, w, h int) map[int]*Mask {
	bounds := map[int]image.Rectangle{}
	for j := 0; j < h; j++ {
		row := ids[j*w : (j+1)*w]
		for i, id := range row {
			if id == 0 {
				continue
			}
			r, ok := bounds[int(id)]
			px := image.Rect(i, j, i+1, j+1)
			if !ok {
				bounds[int(id)] = px
			} else {
				bounds[int(id)] = r.Union(px)
			}
		}
	}
	masks := make(map[int]*Mask, len(bounds))
	for id, r := range bounds {
		masks[id] = &Mask{Bounds: r, Bits: make([]bool, r.Dx()*r.Dy())}
	}
	for j := 0; j < h; j++ {
		for i, id := range ids[j*w : (j+1)*w] {
			if id == 0 {
				continue
			}
			m := masks[int(id)]
			m.Bits[(j-m.Bounds.Min.Y)*m.Bounds.Dx()+(i-m.Bounds.Min.X)] = true
			m.Count++
		}
	}
	return masks
}

// CloudOptions controls how a mask becomes a point cloud.
type CloudOptions struct {
	// Erode drops mask pixels with a 4-neighbour outside the mask: boundary
	// pixels of real masks straddle depth edges and give flying points.
	Erode bool
	// GapM and GapRel split the object's depths where consecutive sorted
	// depths jump by more than max(GapM, GapRel·depth), and keep the part
	// holding the median. A mask that bleeds onto the wall behind or the
	// object in front leaves such a jump; a real surface, however oblique,
	// does not. (A spread-based filter such as MAD would instead trim the
	// far part of a top face seen at a grazing angle.) GapM = 0 disables it.
	GapM   float64
	GapRel float64
	// Stride samples every Stride-th pixel in each direction (1 = all).
	Stride int
}

// DefaultCloudOptions are the settings the pipeline uses unless configured.
var DefaultCloudOptions = CloudOptions{Erode: true, GapM: 0.15, GapRel: 0.05, Stride: 1}

// CloudStats says what happened to a mask on its way to a cloud.
type CloudStats struct {
	MaskPixels, Eroded, InvalidDepth, Outliers, Points int
}

// MaskCloud unprojects the pixels of mask with valid depth and maps them with
// toFrame (camera → target frame).
func MaskCloud(d DepthMap, k Intrinsics, m *Mask, toFrame Pose, o CloudOptions) ([]Vec3, CloudStats) {
	st := CloudStats{MaskPixels: m.Count}
	stride := max(o.Stride, 1)
	type pz struct {
		i, j int
		z    float64
	}
	var kept []pz
	for j := m.Bounds.Min.Y; j < m.Bounds.Max.Y; j += stride {
		for i := m.Bounds.Min.X; i < m.Bounds.Max.X; i += stride {
			if !m.Has(i, j) {
				continue
			}
			if o.Erode && !(m.Has(i-1, j) && m.Has(i+1, j) && m.Has(i, j-1) && m.Has(i, j+1)) {
				st.Eroded++
				continue
			}
			z, ok := d.At(i, j)
			if !ok {
				st.InvalidDepth++
				continue
			}
			kept = append(kept, pz{i, j, z})
		}
	}
	lo, hi := math.Inf(-1), math.Inf(1)
	if o.GapM > 0 && len(kept) > 0 {
		zs := make([]float64, len(kept))
		for n, p := range kept {
			zs[n] = p.z
		}
		lo, hi = depthCluster(zs, o.GapM, o.GapRel)
	}
	pts := make([]Vec3, 0, len(kept))
	for _, p := range kept {
		if p.z < lo || p.z > hi {
			st.Outliers++
			continue
		}
		pts = append(pts, toFrame.Apply(k.Unproject(float64(p.i), float64(p.j), p.z)))
	}
	st.Points = len(pts)
	return pts, st
}

// depthCluster sorts zs and returns the depth range around the median that
// has no jump larger than max(gap, rel·z) between consecutive depths.
func depthCluster(zs []float64, gap, rel float64) (lo, hi float64) {
	slices.Sort(zs)
	m := len(zs) / 2
	jump := func(z float64) float64 { return math.Max(gap, rel*z) }
	hi = zs[len(zs)-1]
	for k := m; k+1 < len(zs); k++ {
		if zs[k+1]-zs[k] > jump(zs[k]) {
			hi = zs[k]
			break
		}
	}
	lo = zs[0]
	for k := m; k > 0; k-- {
		if zs[k]-zs[k-1] > jump(zs[k]) {
			lo = zs[k]
			break
		}
	}
	return lo, hi
}

// ErrTooFewPoints is wrapped when a cloud is too small to describe an object.
type ErrTooFewPoints struct{ Have, Need int }

func (e ErrTooFewPoints) Error() string {
	return fmt.Sprintf("%d points with valid depth, need at least %d", e.Have, e.Need)
}
