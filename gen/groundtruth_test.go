package gen

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/boostgen/boostgen/gen/synthetic"
	"github.com/boostgen/boostgen/geometry"
	"github.com/boostgen/boostgen/templates"
)

// defaultSyntheticProcessor is the processor of a synthetic run with every
// default, seed 42: the settings the ground-truth checks hold the pipeline to.
func defaultSyntheticProcessor(t *testing.T) (*Config, *processor) {
	t.Helper()
	cfg, err := ParseConfig([]byte("{seed: 42, source: {type: synthetic}}"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, p
}

// trueCanonical is the canonical frame built from the exact camera pose and
// the exact floor (z = 0): what the estimated frame should be.
func trueCanonical(cam synthetic.Camera) geometry.Pose {
	pos := cam.Position()
	f := cam.CamToWorld.Rotate(geometry.Vec3{0, 0, 1})
	fwd := geometry.Vec3{f[0], f[1], 0}.Unit()
	up := geometry.Vec3{0, 0, 1}
	right := fwd.Cross(up)
	r := geometry.Mat3{right, fwd, up}
	return geometry.Pose{R: r, T: r.MulVec(geometry.Vec3{pos[0], pos[1], 0}).Scale(-1)}
}

type sceneResult struct {
	name     string
	rejected string
	failures []string
	// counts
	predPairs, predAnswered, predTrueClear int
	distPairs                              int
	maxUpDeg, maxHeightErr, maxDistRel     float64
	depthTurns, distTurns, relTurns        int
}

// checkScene runs the geometry and the planner on one synthetic scene and
// compares everything they state with the scene's exact geometry.
func checkScene(p *processor, seed uint64, index, views int) sceneResult {
	id := fmt.Sprintf("gt-%06d-%dv", index, views)
	res := sceneResult{name: id}
	fail := func(format string, args ...any) {
		res.failures = append(res.failures, id+": "+fmt.Sprintf(format, args...))
	}
	sc, err := synthetic.Generate(seed, index, views, synthetic.DefaultOptions)
	if err != nil {
		fail("generate: %v", err)
		return res
	}
	it, rendered, err := sc.Item(id)
	if err != nil {
		fail("item: %v", err)
		return res
	}
	it.Index = index
	an, err := p.analyze(it, itemRand(p.cfg.Seed, id))
	if err != nil {
		res.rejected = err.Error()
		return res
	}
	cam := sc.Cameras[an.anchor]

	// Floor: normal within 1°, camera height within 1 cm.
	if an.frame.Kind != geometry.FrameFloor {
		fail("no floor found (frame %s)", an.frame.Kind)
		return res
	}
	trueUp := cam.CamToWorld.R.T().MulVec(geometry.Vec3{0, 0, 1})
	res.maxUpDeg = geometry.UpAngleDeg(an.frame.Floor.N, trueUp)
	res.maxHeightErr = math.Abs(an.frame.CameraHeight - cam.Position()[2])
	if res.maxUpDeg > 1 {
		fail("floor normal %.3f° off", res.maxUpDeg)
	}
	if res.maxHeightErr > 0.01 {
		fail("camera height %.4f m, true %.4f m", an.frame.CameraHeight, cam.Position()[2])
	}

	canon := trueCanonical(cam)
	truth := map[int]geometry.Cube{}
	for k := range sc.Objects {
		truth[sc.Objects[k].ID] = sc.Objects[k].TrueCube(canon)
	}
	minMargin := *p.cfg.Templates.MinMarginM

	// Predicates over every pair of usable objects: whenever the estimate
	// answers and the true margin exceeds 10 cm, they agree.
	var usable []*objectState
	for _, o := range an.objects {
		if o.skip == "" {
			usable = append(usable, o)
		}
	}
	for x := range usable {
		for y := range usable {
			if x == y {
				continue
			}
			a, b := usable[x], usable[y]
			for _, r := range geometry.Relations {
				tm := geometry.Margin(r, truth[a.id], truth[b.id])
				if math.Abs(tm) <= 0.10 {
					continue
				}
				res.predTrueClear++
				holds, ok := geometry.Decide(r, a.cube, b.cube, minMargin)
				if !ok || !geometry.Answerable(r, a.vis, b.vis) {
					continue
				}
				res.predAnswered++
				if holds != (tm > 0) {
					fail("%s(%s, %s): estimated %v (margin %.3f), true margin %.3f", r, a.label, b.label, holds, geometry.Margin(r, a.cube, b.cube), tm)
				}
			}
			res.predPairs++
		}
	}

	// Distances between objects a distance turn may name (usable ones),
	// at least half visible and 1 m apart: within 10 %.
	vis := rendered[an.anchor]
	for x := range usable {
		for y := x + 1; y < len(usable); y++ {
			a, b := usable[x], usable[y]
			if vis.VisibleFraction(a.id) < 0.5 || vis.VisibleFraction(b.id) < 0.5 {
				continue
			}
			td := geometry.CenterDistance(truth[a.id], truth[b.id])
			if td < 1 {
				continue
			}
			res.distPairs++
			rel := math.Abs(geometry.CenterDistance(a.cube, b.cube)-td) / td
			res.maxDistRel = math.Max(res.maxDistRel, rel)
			if rel > 0.10 {
				fail("distance %s–%s: estimated %.3f, true %.3f (%.1f%%)", a.label, b.label, geometry.CenterDistance(a.cube, b.cube), td, 100*rel)
			}
		}
	}

	// The record itself: depth answers equal the depth map at the stated
	// pixel, comparisons follow the depth map, predicates and distances
	// agree with the truth.
	rec, err := p.record(context.Background(), it)
	if err != nil {
		res.rejected = err.Error()
		return res
	}
	depth := it.Views[an.anchor].Depth
	pts := map[string]templates.PointRef{}
	for _, pt := range rec.Meta.Points {
		pts[pt.Name] = pt
		i, j := geometry.NormalizedPoint{X: pt.XY[0], Y: pt.XY[1]}.Pixel(depth.W, depth.H)
		z, _ := depth.At(i, j)
		if geometry.Round3(z) != pt.DepthM {
			fail("point %s %v: stated depth %.3f, depth map %.3f at pixel (%d, %d)", pt.Name, pt.XY, pt.DepthM, z, i, j)
		}
	}
	objByRef := map[string]int{}
	for _, o := range rec.Meta.Objects {
		objByRef[o.Ref] = o.ID
	}
	conv := map[int]string{}
	for k := 0; k+1 < len(rec.Conversations); k += 2 {
		conv[k/2+1] = rec.Conversations[k].Value + " || " + rec.Conversations[k+1].Value
	}
	for _, t := range rec.Meta.Turns {
		switch {
		case t.Kind == "depth":
			res.depthTurns++
			pt := pts[t.Args["point"]]
			if t.Value.(float64) != pt.DepthM {
				fail("turn %d: depth %v, point %s has %.3f", t.Index, t.Value, pt.Name, pt.DepthM)
			}
			if !strings.Contains(conv[t.Index], templates.Point(geometry.NormalizedPoint{X: pt.XY[0], Y: pt.XY[1]})) ||
				!strings.Contains(conv[t.Index], templates.Length(pt.DepthM)) {
				fail("turn %d: text %q does not state %s and %s", t.Index, conv[t.Index], templates.Point(geometry.NormalizedPoint{X: pt.XY[0], Y: pt.XY[1]}), templates.Length(pt.DepthM))
			}
		case t.Kind == "closer":
			a, b := pts[t.Args["a"]], pts[t.Args["b"]]
			if t.Value.(bool) != (a.DepthM < b.DepthM) {
				fail("turn %d: closer(%s, %s) = %v with depths %.3f, %.3f", t.Index, a.Name, b.Name, t.Value, a.DepthM, b.DepthM)
			}
		case t.Kind == "distance":
			res.distTurns++
			a, b := objByRef["A"], objByRef["B"]
			td := geometry.CenterDistance(truth[a], truth[b])
			if td >= 1 && vis.VisibleFraction(a) >= 0.5 && vis.VisibleFraction(b) >= 0.5 {
				if rel := math.Abs(t.Value.(float64)-td) / td; rel > 0.10 {
					fail("turn %d: distance %.3f, true %.3f", t.Index, t.Value, td)
				}
			}
		case t.Level == templates.LevelObject && t.Kind != "cube":
			res.relTurns++
			r := geometry.Relation(t.Kind)
			tm := geometry.Margin(r, truth[objByRef[t.Args["a"]]], truth[objByRef[t.Args["b"]]])
			if math.Abs(tm) > 0.10 && t.Value.(bool) != (tm > 0) {
				fail("turn %d: %s(%s, %s) answered %v, true margin %.3f", t.Index, r, t.Args["a"], t.Args["b"], t.Value, tm)
			}
		}
	}
	return res
}

func TestGroundTruth(t *testing.T) {
	_, p := defaultSyntheticProcessor(t)
	type job struct{ index, views int }
	var jobs []job
	for n := 0; n < 500; n++ {
		jobs = append(jobs, job{n, 1})
	}
	for n := 0; n < 60; n++ {
		jobs = append(jobs, job{500 + n, []int{2, 4, 8}[n%3]})
	}
	if testing.Short() {
		jobs = jobs[:60]
	}
	results := make([]sceneResult, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.NumCPU(); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				results[k] = checkScene(p, 42, jobs[k].index, jobs[k].views)
			}
		}()
	}
	for k := range jobs {
		next <- k
	}
	close(next)
	wg.Wait()

	var sum sceneResult
	rejects := map[string]int{}
	var failures []string
	for _, r := range results {
		failures = append(failures, r.failures...)
		if r.rejected != "" {
			rejects[strings.SplitN(r.rejected, ":", 2)[0]]++
			continue
		}
		sum.predPairs += r.predPairs
		sum.predAnswered += r.predAnswered
		sum.predTrueClear += r.predTrueClear
		sum.distPairs += r.distPairs
		sum.depthTurns += r.depthTurns
		sum.distTurns += r.distTurns
		sum.relTurns += r.relTurns
		sum.maxUpDeg = math.Max(sum.maxUpDeg, r.maxUpDeg)
		sum.maxHeightErr = math.Max(sum.maxHeightErr, r.maxHeightErr)
		sum.maxDistRel = math.Max(sum.maxDistRel, r.maxDistRel)
	}
	sort.Strings(failures)
	for k, f := range failures {
		if k == 40 {
			t.Errorf("... and %d more", len(failures)-40)
			break
		}
		t.Error(f)
	}
	nrej := 0
	for _, n := range rejects {
		nrej += n
	}
	t.Logf("%d scenes, %d rejected %v", len(jobs), nrej, rejects)
	t.Logf("floor: max normal error %.3f°, max height error %.2f mm", sum.maxUpDeg, 1000*sum.maxHeightErr)
	t.Logf("predicates: %d (pair, relation) with true margin > 10 cm, %d answered (%.1f%%), 0 wrong allowed",
		sum.predTrueClear, sum.predAnswered, 100*float64(sum.predAnswered)/float64(max(sum.predTrueClear, 1)))
	t.Logf("distances: %d pairs ≥ 1 m apart and half visible, max error %.1f%%", sum.distPairs, 100*sum.maxDistRel)
	t.Logf("records: %d depth turns, %d relation turns, %d distance turns checked", sum.depthTurns, sum.relTurns, sum.distTurns)

	// The checks must have had something to check.
	if float64(nrej) > 0.15*float64(len(jobs)) {
		t.Errorf("%d of %d scenes rejected: %v", nrej, len(jobs), rejects)
	}
	if sum.predAnswered < sum.predTrueClear*8/10 {
		t.Errorf("only %d of %d clear predicates answered: the abstention margin is too cautious", sum.predAnswered, sum.predTrueClear)
	}
	if sum.distPairs < len(jobs) {
		t.Errorf("only %d distance pairs checked", sum.distPairs)
	}
}
