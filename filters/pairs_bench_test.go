package filters_test

import (
	"image"
	"math"
	"testing"

	"github.com/boostgen/boostgen/filters"
	"github.com/boostgen/boostgen/gen/synthetic"
	"github.com/boostgen/boostgen/geometry"
)

// cameraPath renders n frames of a synthetic scene along a hand-held-like
// path: the camera sways sideways, pans back and forth and drifts forward,
// at a speed that varies along the clip (so the gap at which LPIPS enters
// the band changes as the clip goes on).
func cameraPath(t testing.TB, seed uint64, n, w, h int) ([]*image.RGBA, []geometry.Pose) {
	t.Helper()
	sc, err := synthetic.Generate(seed, 0, 1, synthetic.Options{Width: w, Height: h, WallChance: 1, MinObjects: 6, MaxObjects: 8})
	if err != nil {
		t.Fatal(err)
	}
	c0 := sc.Cameras[0]
	right := geometry.Vec3{c0.CamToWorld.R[0][0], c0.CamToWorld.R[1][0], 0}
	fwd := geometry.Vec3{c0.CamToWorld.R[0][2], c0.CamToWorld.R[1][2], 0}
	var cams []synthetic.Camera
	phase := 0.0
	for f := 0; f < n; f++ {
		u := float64(f) / float64(n)
		phase += 0.6 + 0.5*math.Sin(2*math.Pi*3*u) // speed varies 0.1..1.1
		yaw := 0.5 * math.Sin(phase/25)            // ±29° pan
		side := 1.2 * math.Sin(phase/40)           // ±1.2 m sway
		pos := c0.CamToWorld.T.Add(right.Scale(side)).Add(fwd.Scale(-1 + 1.5*u))
		s, c := math.Sincos(yaw)
		rz := geometry.Mat3{{c, -s, 0}, {s, c, 0}, {0, 0, 1}}
		cam := c0
		cam.CamToWorld = geometry.Pose{R: rz.Mul(c0.CamToWorld.R), T: pos}
		cams = append(cams, cam)
	}
	sc.Cameras = cams
	frames := make([]*image.RGBA, n)
	poses := make([]geometry.Pose, n)
	for f := range cams {
		frames[f] = sc.Render(f).Color
		poses[f] = cams[f].CamToWorld
	}
	return frames, poses
}

// perceptual is the benchmark's stand-in for LPIPS, a real function of the
// two images with LPIPS's structure: at two scales, per-pixel feature
// vectors (colour and gradients) are normalised to unit length over
// channels and their squared differences averaged over space, so it is 0
// for equal images and grows as content moves, saturating for unrelated
// views (about 0.8, as LPIPS on unrelated photos).
type perceptual struct{ feats [][][]float64 }

func newPerceptual(frames []*image.RGBA) *perceptual {
	p := &perceptual{}
	for _, f := range frames {
		var fs [][]float64
		for _, s := range []int{2, 4} {
			fs = append(fs, features(f, s))
		}
		p.feats = append(p.feats, fs)
	}
	return p
}

const featDim = 5

func features(img *image.RGBA, s int) []float64 {
	b := img.Bounds()
	w, h := b.Dx()/s, b.Dy()/s
	lum := make([]float64, w*h)
	col := make([][3]float64, w*h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var c [3]float64
			for dy := 0; dy < s; dy++ {
				for dx := 0; dx < s; dx++ {
					q := img.RGBAAt(x*s+dx, y*s+dy)
					c[0] += float64(q.R)
					c[1] += float64(q.G)
					c[2] += float64(q.B)
				}
			}
			for k := range c {
				c[k] /= float64(s * s * 255)
			}
			col[y*w+x] = c
			lum[y*w+x] = (c[0] + c[1] + c[2]) / 3
		}
	}
	out := make([]float64, 0, w*h*featDim)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			gx := lum[y*w+min(x+1, w-1)] - lum[y*w+max(x-1, 0)]
			gy := lum[min(y+1, h-1)*w+x] - lum[max(y-1, 0)*w+x]
			c := col[y*w+x]
			v := [featDim]float64{c[0] - 0.5, c[1] - 0.5, c[2] - 0.5, 4 * gx, 4 * gy}
			var n float64
			for _, e := range v {
				n += e * e
			}
			n = math.Sqrt(n) + 1e-6
			for _, e := range v {
				out = append(out, e/n)
			}
		}
	}
	return out
}

func (p *perceptual) dist(i, j int) float64 {
	var d float64
	for s := range p.feats[i] {
		a, b := p.feats[i][s], p.feats[j][s]
		var ss float64
		for k := range a {
			e := a[k] - b[k]
			ss += e * e
		}
		d += ss / float64(len(a)/featDim) / 4 // per pixel in [0, 1]
	}
	// The flat-shaded scenes leave most pixels' features alike, so the raw
	// mean saturates near 0.1 where LPIPS saturates near 0.8 on unrelated
	// photos; a monotone map puts it on LPIPS's scale.
	return 1 - math.Exp(-d/float64(len(p.feats[i]))/0.062)
}

type mineResult struct {
	frames, evals, covered, coverable, pairs int
}

func mineClip(t testing.TB, seed uint64, n int, byPose bool, o filters.MineOptions) mineResult {
	frames, poses := cameraPath(t, seed, n, 64, 48)
	p := newPerceptual(frames)
	cands := filters.Temporal(n)
	if byPose {
		cands = filters.ByPose(poses)
	}
	pairs, st, err := filters.Mine(n, cands, func(i, j int) (float64, error) { return p.dist(i, j), nil }, o)
	if err != nil {
		t.Fatal(err)
	}
	res := mineResult{frames: n, evals: st.Evaluations, pairs: len(pairs)}
	in := make([]bool, n)
	for _, pr := range pairs {
		if d := p.dist(pr.A, pr.B); d < o.Lo || d > o.Hi || pr.A >= pr.B {
			t.Fatalf("pair %+v is outside the band (%v)", pr, d)
		}
		in[pr.A], in[pr.B] = true, true
	}
	// Brute force: every frame with any in-band partner.
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if d := p.dist(i, j); i != j && d >= o.Lo && d <= o.Hi {
				res.coverable++
				if in[i] {
					res.covered++
				}
				break
			}
		}
	}
	return res
}

// BenchmarkMinePairs mines three 320-frame synthetic clips and compares
// with brute force: LPIPS evaluations per frame (brute force needs n-1)
// and coverage of the frames that have an in-band partner at all.
//
//	go test ./filters -run '^$' -bench MinePairs -benchtime 1x
func BenchmarkMinePairs(b *testing.B) {
	for _, mode := range []struct {
		name   string
		byPose bool
	}{{"temporal", false}, {"pose", true}} {
		b.Run(mode.name, func(b *testing.B) {
			var sum mineResult
			var brute float64
			for range b.N {
				sum, brute = mineResult{}, 0
				for seed := uint64(1); seed <= 3; seed++ {
					r := mineClip(b, seed, 320, mode.byPose, filters.DefaultMineOptions)
					sum.frames += r.frames
					sum.evals += r.evals
					sum.covered += r.covered
					sum.coverable += r.coverable
					sum.pairs += r.pairs
					brute += float64(r.frames-1) / 2 * float64(r.frames)
				}
			}
			b.ReportMetric(float64(sum.evals)/float64(sum.frames), "evals/frame")
			b.ReportMetric(brute/float64(sum.frames), "bruteforce-evals/frame")
			b.ReportMetric(100*float64(sum.covered)/float64(max(sum.coverable, 1)), "coverage-%")
			b.ReportMetric(float64(sum.pairs)/float64(sum.frames), "pairs/frame")
		})
	}
}
