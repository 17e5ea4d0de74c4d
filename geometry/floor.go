package geometry

import (
	"math"
	"math/rand/v2"
)

// Plane is the set of points p with N·p + D = 0, N a unit vector.
type Plane struct {
	N Vec3
	D float64
}

// Dist is the signed distance of p from the plane (positive on N's side).
func (pl Plane) Dist(p Vec3) float64 { return pl.N.Dot(p) + pl.D }

// FloorOptions tune the floor search.
type FloorOptions struct {
	Iterations int     // RANSAC hypotheses
	InlierDist float64 // meters
	// MaxTiltDeg bounds the angle between a candidate normal and the camera's
	// up (−y in camera coordinates): a floor seen by a camera pitched by at
	// most 40° and rolled by at most 5° is within ~41° of it, walls are ~90°.
	MaxTiltDeg float64
	// MinInlierShare and MinInliers decide whether the best plane is a floor
	// at all, as a share of the candidates and as a count.
	MinInlierShare float64
	MinInliers     int
	// MaxSamples caps the candidates scored per hypothesis.
	MaxSamples int
}

// DefaultFloorOptions are the settings the pipeline uses unless configured.
var DefaultFloorOptions = FloorOptions{
	Iterations: 300, InlierDist: 0.02, MaxTiltDeg: 50,
	MinInlierShare: 0.05, MinInliers: 200, MaxSamples: 2000,
}

// ransacConfidence is the probability that adaptive RANSAC has not missed a
// better plane when it stops; minIterations is never cut.
// earlyCheck is how many samples a hypothesis is scored on before it may be
// dropped early.
const (
	ransacConfidence = 0.9999
	minIterations    = 40
	earlyCheck       = 255
)

// FitFloor finds the floor among support candidates (camera-frame points,
// typically those outside object masks) by RANSAC over planes whose normal is
// near the camera's up and which lie below the camera, then refines it by
// least squares on the inliers. The normal points up, towards the camera. It
// returns ok=false when no plane qualifies (close-ups, walls only).
func FitFloor(cands []Vec3, o FloorOptions, rng *rand.Rand) (Plane, int, bool) {
	if len(cands) < 3 {
		return Plane{}, 0, false
	}
	sample := cands
	if o.MaxSamples > 0 && len(cands) > o.MaxSamples {
		sample = make([]Vec3, o.MaxSamples)
		for n := range sample {
			sample[n] = cands[rng.IntN(len(cands))]
		}
	}
	camUp := Vec3{0, -1, 0}
	cosTilt := math.Cos(Deg(o.MaxTiltDeg))
	best, bestCount := Plane{}, 0
	// Adaptive RANSAC: once the best plane holds a share w of the samples,
	// log(1−p)/log(1−w³) hypotheses find a plane at least as good with
	// probability p, so a floor filling half the view needs ~70 rather than
	// the cap. The count depends only on the random stream: deterministic.
	need := o.Iterations
	for it := 0; it < need; it++ {
		a, b, c := sample[rng.IntN(len(sample))], sample[rng.IntN(len(sample))], sample[rng.IntN(len(sample))]
		n := b.Sub(a).Cross(c.Sub(a))
		if n.Norm() < 1e-9 {
			continue
		}
		n = n.Unit()
		pl := Plane{N: n, D: -n.Dot(a)}
		if pl.D < 0 { // orient towards the camera at the origin
			pl = Plane{N: n.Scale(-1), D: -pl.D}
		}
		if pl.N.Dot(camUp) < cosTilt || pl.D <= 0 {
			continue
		}
		count := 0
		for k, p := range sample {
			if math.Abs(pl.Dist(p)) < o.InlierDist {
				count++
			}
			// Early exit: a hypothesis with under half the best share on
			// its first points is not going to win; most are like that.
			if k == earlyCheck && bestCount > 0 && float64(count) < 0.5*float64(bestCount)*float64(earlyCheck+1)/float64(len(sample)) {
				count = -1
				break
			}
		}
		if count < 0 {
			continue
		}
		// Among equally supported planes prefer the lower one: a floor lies
		// below tabletops.
		if count > bestCount || (count == bestCount && count > 0 && pl.D > best.D) {
			best, bestCount = pl, count
			w := float64(count) / float64(len(sample))
			if n := int(math.Ceil(math.Log(1-ransacConfidence) / math.Log(1-w*w*w))); n > 0 {
				need = max(minIterations, min(o.Iterations, n))
			}
		}
	}
	if bestCount < 3 {
		return Plane{}, 0, false
	}
	// Refine on the full candidate set twice: the second pass uses the
	// inliers of the refined plane, which drops points the hypothesis caught
	// by chance.
	pl := best
	inliers := 0
	for pass := 0; pass < 2; pass++ {
		var sel []Vec3
		for _, p := range cands {
			if math.Abs(pl.Dist(p)) < o.InlierDist {
				sel = append(sel, p)
			}
		}
		if len(sel) < 3 {
			return Plane{}, 0, false
		}
		if fit, ok := fitPlaneLSQ(sel); ok {
			if fit.D < 0 {
				fit = Plane{N: fit.N.Scale(-1), D: -fit.D}
			}
			pl = fit
		}
		inliers = len(sel)
	}
	if pl.N.Dot(camUp) < cosTilt || pl.D <= 0 {
		return Plane{}, 0, false
	}
	if inliers < o.MinInliers || float64(inliers) < o.MinInlierShare*float64(len(cands)) {
		return Plane{}, inliers, false
	}
	return pl, inliers, true
}

// fitPlaneLSQ fits a plane minimizing squared orthogonal distances: through
// the centroid, normal along the covariance's smallest eigenvector.
func fitPlaneLSQ(pts []Vec3) (Plane, bool) {
	var c Vec3
	for _, p := range pts {
		c = c.Add(p)
	}
	c = c.Scale(1 / float64(len(pts)))
	var cov Mat3
	for _, p := range pts {
		d := p.Sub(c)
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				cov[i][j] += d[i] * d[j]
			}
		}
	}
	_, vecs := symEigen(cov)
	n := Vec3{vecs[0][0], vecs[1][0], vecs[2][0]}.Unit()
	if !n.IsFinite() || n.Norm() == 0 {
		return Plane{}, false
	}
	return Plane{N: n, D: -n.Dot(c)}, true
}
