package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/gen/synthetic"
	"github.com/boostgen/boostgen/geometry"
)

// SA-1B's annotations and SAM 2 segment everything, so a patch of floor is
// often one of the masks. Synthetic scenes whose floor pixels are turned
// into a labelled mask ("rug") stand in for that: when the item says its
// masks may cover the floor, the floor is found as precisely as
// TestGroundTruth demands (normal within 1°, camera height within 1 cm), and
// the rug is skipped as floor, never asked about. Fitted on unmasked pixels
// only (the flag unset), the same scenes have almost no floor left to fit.
func TestFloorUnderMasks(t *testing.T) {
	cfg, p := defaultSyntheticProcessor(t)
	const scenes = 40
	found := map[bool]int{}
	checked := 0
	for index := range scenes {
		id := fmt.Sprintf("rug-%03d", index)
		sc, err := synthetic.Generate(42, index, 1, synthetic.DefaultOptions)
		if err != nil {
			t.Fatal(err)
		}
		it, _, err := sc.Item(id)
		if err != nil {
			t.Fatal(err)
		}
		cam := sc.Cameras[0]
		rug := coverFloor(it, cam)
		if rug == 0 {
			continue // the camera sees no floor
		}
		for _, cover := range []bool{false, true} {
			it.MasksMayCoverFloor = cover
			an, err := p.analyze(it, itemRand(cfg.Seed, id))
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			if an.frame.Kind != geometry.FrameFloor {
				continue
			}
			found[cover]++
			if !cover {
				continue
			}
			trueUp := cam.CamToWorld.R.T().MulVec(geometry.Vec3{0, 0, 1})
			if d := geometry.UpAngleDeg(an.frame.Floor.N, trueUp); d > 1 {
				t.Errorf("%s: floor normal %.3f° off", id, d)
			}
			if d := math.Abs(an.frame.CameraHeight - cam.Position()[2]); d > 0.01 {
				t.Errorf("%s: camera height %.4f m, true %.4f m", id, an.frame.CameraHeight, cam.Position()[2])
			}
			for _, o := range an.objects {
				isRug := o.id == rug
				onFloor := strings.HasPrefix(o.skip, "lies flat on the floor")
				if isRug != onFloor {
					t.Errorf("%s: object %d (%s) skipped as %q", id, o.id, o.label, o.skip)
				}
			}
			checked++
			rec, err := p.record(context.Background(), it)
			if err != nil {
				continue // too few objects: a reject, nothing to look at
			}
			b, _ := json.Marshal(rec.Conversations)
			if strings.Contains(string(b), "rug") {
				t.Errorf("%s: the record asks about the floor patch: %s", id, b)
			}
		}
	}
	t.Logf("%d scenes with a floor mask: floor found in %d fitting on unmasked pixels, %d fitting on all", checked, found[false], found[true])
	if checked < scenes*8/10 {
		t.Errorf("only %d of %d scenes checked", checked, scenes)
	}
	if found[false] > checked/4 {
		t.Errorf("the floor was found in %d of %d scenes without its pixels: the test does not hide it", found[false], checked)
	}
}

// coverFloor turns the view's floor pixels (unmasked ones whose point lies
// within 2 cm of the true floor) into a new mask labelled "rug" and returns
// its id, or 0 when there are none.
func coverFloor(it *scene.Item, cam synthetic.Camera) int {
	v := &it.Views[0]
	rug := 0
	for _, id := range v.Instances {
		rug = max(rug, int(id))
	}
	rug++
	n := 0
	for j := 0; j < v.H; j++ {
		for i := 0; i < v.W; i++ {
			k := j*v.W + i
			z, ok := v.Depth.At(i, j)
			if v.Instances[k] != 0 || !ok {
				continue
			}
			if w := cam.CamToWorld.Apply(v.K.Unproject(float64(i), float64(j), z)); math.Abs(w[2]) < 0.02 {
				v.Instances[k] = uint16(rug)
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	it.Objects = append(it.Objects, scene.Object{ID: rug, Label: "rug"})
	return rug
}
