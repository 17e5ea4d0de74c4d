package sam2

import (
	"context"
	"fmt"
	"image"
	"math"
	"sort"
)

// Options are SAM2AutomaticMaskGenerator's settings (sam2/
// automatic_mask_generator.py), with its defaults in DefaultOptions. Crops
// (crop_n_layers), mask-to-mask refinement (use_m2m) and hole/island
// removal (min_mask_region_area, which needs OpenCV) are not implemented:
// their defaults turn them off.
type Options struct {
	// PointsPerSide is the side of the prompt grid: PointsPerSide² points.
	PointsPerSide int
	// PointsPerBatch points go through the decoder together.
	PointsPerBatch int
	// PredIoUThresh drops masks whose predicted IoU is not above it.
	PredIoUThresh float64
	// StabilityThresh drops masks whose stability score is below it: the
	// IoU of the mask thresholded at MaskThreshold ± StabilityOffset.
	StabilityThresh float64
	StabilityOffset float64
	// MaskThreshold binarises the logits.
	MaskThreshold float64
	// BoxNMSThresh is the box IoU above which the lower-scoring of two
	// masks is a duplicate.
	BoxNMSThresh float64
	// MinArea drops masks of fewer pixels before NMS (boostgen's, 0 = off),
	// so that specks cannot suppress anything.
	MinArea int
}

// DefaultOptions are SAM2AutomaticMaskGenerator's defaults.
func DefaultOptions() Options {
	return Options{
		PointsPerSide:   32,
		PointsPerBatch:  64,
		PredIoUThresh:   0.8,
		StabilityThresh: 0.95,
		StabilityOffset: 1.0,
		MaskThreshold:   0,
		BoxNMSThresh:    0.7,
	}
}

func (o Options) check() error {
	switch {
	case o.PointsPerSide < 1:
		return fmt.Errorf("sam2: points per side %d: want at least 1", o.PointsPerSide)
	case o.PointsPerBatch < 1:
		return fmt.Errorf("sam2: points per batch %d: want at least 1", o.PointsPerBatch)
	case o.StabilityOffset < 0:
		return fmt.Errorf("sam2: stability offset %v: want ≥ 0", o.StabilityOffset)
	}
	return nil
}

// Mask is one generated object mask at the image's own size.
type Mask struct {
	// Runs holds the foreground as (start, length) pairs over the
	// row-major pixels (index y*W+x), in order: compact, since hundreds of
	// candidates are held until NMS.
	Runs []int32
	W, H int
	// Box is the mask's bounding rectangle (Max exclusive).
	Box          image.Rectangle
	Area         int
	PredictedIoU float64
	Stability    float64
	// Point is the prompt that made it, in image pixels.
	Point [2]float64
}

// Foreground calls fn for each foreground run: start is the row-major index
// of its first pixel and n its length.
func (m *Mask) Foreground(fn func(start, n int)) {
	for i := 0; i+1 < len(m.Runs); i += 2 {
		fn(int(m.Runs[i]), int(m.Runs[i+1]))
	}
}

// Bits returns the mask row-major (index y*W+x).
func (m *Mask) Bits() []bool {
	out := make([]bool, m.W*m.H)
	m.Foreground(func(start, n int) {
		for p := start; p < start+n; p++ {
			out[p] = true
		}
	})
	return out
}

// Stats counts what became of the candidate masks (points × masks per point).
type Stats struct {
	Points, Candidates                       int
	LowIoU, Unstable, Small, Duplicate, Kept int
}

// Generate segments the whole image: it prompts the decoder with a grid of
// points in batches, keeps the masks that pass the predicted-IoU and
// stability thresholds, and removes duplicates by box NMS, best predicted
// IoU first. The result is ordered as the NMS keeps it and depends only on
// the image, the models and o.
func (m *Model) Generate(ctx context.Context, img image.Image, o Options) ([]Mask, Stats, error) {
	var st Stats
	if err := o.check(); err != nil {
		return nil, st, err
	}
	e, err := m.Encode(ctx, img)
	if err != nil {
		return nil, st, err
	}
	grid := PointGrid(o.PointsPerSide)
	points := make([][2]float64, len(grid))
	for i, p := range grid {
		points[i] = [2]float64{p[0] * float64(e.W), p[1] * float64(e.H)}
	}
	st.Points = len(points)
	up := newUpsampler(e.W, e.H)
	var cands []Mask
	for lo := 0; lo < len(points); lo += o.PointsPerBatch {
		batch := points[lo:min(lo+o.PointsPerBatch, len(points))]
		pred, err := m.Decode(ctx, e, batch)
		if err != nil {
			return nil, st, err
		}
		for b := range pred.B {
			for k := range pred.K {
				st.Candidates++
				iou := float64(pred.IoU[b*pred.K+k])
				if !(iou > o.PredIoUThresh) {
					st.LowIoU++
					continue
				}
				mk, stab := up.mask(pred.Mask(b, k), pred.W, pred.H, o.MaskThreshold, o.StabilityOffset)
				if !(stab >= o.StabilityThresh) {
					st.Unstable++
					continue
				}
				if mk.Area == 0 || mk.Area < o.MinArea {
					st.Small++
					continue
				}
				mk.PredictedIoU, mk.Stability, mk.Point = iou, stab, batch[b]
				cands = append(cands, mk)
			}
		}
	}
	boxes := make([][4]float64, len(cands))
	scores := make([]float64, len(cands))
	for i, c := range cands {
		boxes[i] = torchBox(c.Box)
		scores[i] = c.PredictedIoU
	}
	keep := NMS(boxes, scores, o.BoxNMSThresh)
	out := make([]Mask, len(keep))
	for i, k := range keep {
		out[i] = cands[k]
	}
	st.Duplicate = len(cands) - len(keep)
	st.Kept = len(keep)
	return out, st, nil
}

// PointGrid is SAM's build_point_grid: n×n points in [0,1]², centred in
// their cells (offset 1/2n), row by row (x varies fastest).
func PointGrid(n int) [][2]float64 {
	out := make([][2]float64, 0, n*n)
	off := 1 / (2 * float64(n))
	at := func(i int) float64 {
		if n == 1 {
			return off
		}
		// np.linspace(off, 1-off, n)
		return off + (1-2*off)*float64(i)/float64(n-1)
	}
	for y := range n {
		for x := range n {
			out = append(out, [2]float64{at(x), at(y)})
		}
	}
	return out
}

// StabilityScore is SAM's calculate_stability_score: the IoU of the mask
// thresholded at thresh+offset and at thresh-offset (the first lies inside
// the second). A mask empty at thresh-offset scores 0.
func StabilityScore(logits []float32, thresh, offset float64) float64 {
	inter, union := 0, 0
	for _, v := range logits {
		f := float64(v)
		if f > thresh+offset {
			inter++
		}
		if f > thresh-offset {
			union++
		}
	}
	if union == 0 {
		return 0
	}
	return float64(inter) / float64(union)
}

// torchBox is a mask box as SAM's batched_mask_to_box gives it to
// torchvision: x0, y0, x1, y1 with x1, y1 the last pixel's indices.
func torchBox(r image.Rectangle) [4]float64 {
	return [4]float64{float64(r.Min.X), float64(r.Min.Y), float64(r.Max.X - 1), float64(r.Max.Y - 1)}
}

// BoxIoU is torchvision's box_iou for two (x0, y0, x1, y1) boxes; 0 when
// both are degenerate.
func BoxIoU(a, b [4]float64) float64 {
	area := func(r [4]float64) float64 { return (r[2] - r[0]) * (r[3] - r[1]) }
	w := math.Min(a[2], b[2]) - math.Max(a[0], b[0])
	h := math.Min(a[3], b[3]) - math.Max(a[1], b[1])
	inter := math.Max(0, w) * math.Max(0, h)
	union := area(a) + area(b) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

// NMS is torchvision's nms: boxes by descending score (ties in index
// order, so the result is deterministic), each dropped when its IoU with a
// box already kept is above thresh. It returns the kept indices in that
// order.
func NMS(boxes [][4]float64, scores []float64, thresh float64) []int {
	order := make([]int, len(boxes))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return scores[order[i]] > scores[order[j]] })
	var keep []int
	for _, i := range order {
		dup := false
		for _, k := range keep {
			if BoxIoU(boxes[i], boxes[k]) > thresh {
				dup = true
				break
			}
		}
		if !dup {
			keep = append(keep, i)
		}
	}
	return keep
}

// upsampler resizes low-resolution logits to the image's size as SAM 2's
// postprocess_masks does (bilinear, align_corners=False, over the whole
// map, since the image was stretched onto the whole input), thresholding
// on the fly.
type upsampler struct {
	w, h   int
	srcW   int // the map size the tables below were made for
	srcH   int
	x0, x1 []int
	fx     []float32
	y0, y1 []int
	fy     []float32
	runs   []int32 // reused between masks
}

func newUpsampler(w, h int) *upsampler { return &upsampler{w: w, h: h} }

// taps are the two source samples and the weight of the second for each
// of n outputs read from a src-long axis (PyTorch's source index, clamped
// below at 0).
func taps(n, src int) (i0, i1 []int, f []float32) {
	i0, i1, f = make([]int, n), make([]int, n), make([]float32, n)
	scale := float64(src) / float64(n)
	for d := range n {
		s := math.Max(0, (float64(d)+0.5)*scale-0.5)
		a := min(int(s), src-1)
		i0[d], i1[d] = a, min(a+1, src-1)
		f[d] = float32(s - float64(a))
	}
	return
}

// span is the range [s, e) of outputs whose taps i0, i1 (both
// non-decreasing) reach into source cells [c0, c1].
func span(i0, i1 []int, c0, c1 int) (s, e int) {
	s = sort.Search(len(i1), func(k int) bool { return i1[k] >= c0 })
	e = sort.Search(len(i0), func(k int) bool { return i0[k] > c1 })
	return s, max(s, e)
}

// mask upsamples one logit map, thresholds it, and returns the mask and
// its stability score.
func (u *upsampler) mask(logits []float32, sw, sh int, thresh, offset float64) (Mask, float64) {
	if u.srcW != sw || u.srcH != sh {
		u.x0, u.x1, u.fx = taps(u.w, sw)
		u.y0, u.y1, u.fy = taps(u.h, sh)
		u.srcW, u.srcH = sw, sh
	}
	hi, lo, th := float32(thresh+offset), float32(thresh-offset), float32(thresh)
	m := Mask{W: u.w, H: u.h}
	// A bilinear value is at most its largest tap, so only output pixels
	// with a tap in the box of cells above lo can count for anything: most
	// masks cover a small part of the image.
	cx0, cy0, cx1, cy1 := sw, sh, -1, -1
	for j := range sh {
		for i, v := range logits[j*sw : (j+1)*sw] {
			if v > lo {
				cx0, cx1 = min(cx0, i), max(cx1, i)
				cy0, cy1 = min(cy0, j), max(cy1, j)
			}
		}
	}
	if cx1 < 0 {
		return m, 0
	}
	xs, xe := span(u.x0, u.x1, cx0, cx1)
	ys, ye := span(u.y0, u.y1, cy0, cy1)
	inter, union, area := 0, 0, 0
	box := image.Rectangle{Min: image.Point{u.w, u.h}}
	u.runs = u.runs[:0]
	for y := ys; y < ye; y++ {
		r0, r1, fy := logits[u.y0[y]*sw:], logits[u.y1[y]*sw:], u.fy[y]
		open := false // whether the last run is still growing
		for x := xs; x < xe; x++ {
			a, b := u.x0[x], u.x1[x]
			fx := u.fx[x]
			top := r0[a] + (r0[b]-r0[a])*fx
			bot := r1[a] + (r1[b]-r1[a])*fx
			v := top + (bot-top)*fy
			if v > hi {
				inter++
			}
			if v > lo {
				union++
			}
			on := v > th
			switch {
			case on && open:
				u.runs[len(u.runs)-1]++
			case on:
				u.runs = append(u.runs, int32(y*u.w+x), 1)
			}
			open = on
			if on {
				area++
				box.Min.X, box.Max.X = min(box.Min.X, x), max(box.Max.X, x+1)
				box.Min.Y, box.Max.Y = min(box.Min.Y, y), max(box.Max.Y, y+1)
			}
		}
	}
	stab := 0.0
	if union > 0 {
		stab = float64(inter) / float64(union)
	}
	m.Area = area
	if area > 0 {
		m.Box = box
		m.Runs = append([]int32(nil), u.runs...)
	}
	return m, stab
}
