package gen

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/gen/synthetic"
	"github.com/boostgen/boostgen/geometry"
)

// goodItem renders synthetic scenes until one becomes a record.
func goodItem(t *testing.T, p *processor) *scene.Item {
	t.Helper()
	for idx := 0; idx < 50; idx++ {
		sc, err := synthetic.Generate(3, idx, 1, synthetic.Options{Width: 320, Height: 240, MinObjects: 3, MaxObjects: 3})
		if err != nil {
			continue
		}
		it, _, _ := sc.Item(fmt.Sprintf("item-%d", idx))
		if o := p.process(context.Background(), it); o.record != nil {
			return it
		}
	}
	t.Fatal("no synthetic scene made a record")
	return nil
}

func cloneItem(it *scene.Item) *scene.Item {
	c := *it
	c.Views = nil
	for _, v := range it.Views {
		v.Depth.Z = append([]float32(nil), v.Depth.Z...)
		v.Instances = append([]uint16(nil), v.Instances...)
		c.Views = append(c.Views, v)
	}
	return &c
}

func TestBadItemsBecomeRejects(t *testing.T) {
	cfg, _ := ParseConfig([]byte("source: {type: synthetic}"))
	p, err := newProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	good := goodItem(t, p)
	keepOnly := func(it *scene.Item, id uint16) {
		for n, v := range it.Views[0].Instances {
			if v != id {
				it.Views[0].Instances[n] = 0
			}
		}
	}
	for _, c := range []struct {
		name, code, want string
		damage           func(it *scene.Item)
	}{
		{"NaN-filled depth", RejectDepth, "NaN", func(it *scene.Item) {
			for n := range it.Views[0].Depth.Z {
				it.Views[0].Depth.Z[n] = float32(math.NaN())
			}
		}},
		{"infinite and negative depth", RejectDepth, "0% of depth pixels are valid", func(it *scene.Item) {
			for n := range it.Views[0].Depth.Z {
				it.Views[0].Depth.Z[n] = float32([]float64{math.Inf(1), -1}[n%2])
			}
		}},
		{"empty masks", RejectFewObjects, "empty mask in every view", func(it *scene.Item) { keepOnly(it, 1) }},
		{"objects without valid depth", RejectFewObjects, "0 points with valid depth, need at least 50", func(it *scene.Item) {
			for n, id := range it.Views[0].Instances {
				if id > 1 {
					it.Views[0].Depth.Z[n] = 0
				}
			}
		}},
		{"no masks at all", RejectMasks, "no object masks", func(it *scene.Item) { it.Views[0].Instances = nil }},
		{"depth of another size", RejectView, "depth is 10×10", func(it *scene.Item) { it.Views[0].Depth = geometry.DepthMap{W: 10, H: 10, Z: make([]float32, 100)} }},
		{"absurd intrinsics", RejectView, "intrinsics", func(it *scene.Item) { it.Views[0].K.Fx = math.NaN() }},
		{"source error", RejectSource, "truncated PNG", func(it *scene.Item) { it.Err = fmt.Errorf("color/0.png: truncated PNG") }},
		{"multi-view without poses", RejectView, "camera pose", func(it *scene.Item) {
			v := it.Views[0]
			v.CamToWorld = nil
			it.Views = append(it.Views, v)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			it := cloneItem(good)
			c.damage(it)
			o := p.process(context.Background(), it)
			if o.record != nil || o.reject == nil {
				t.Fatal("no reject")
			}
			if o.reject.Code != c.code || !strings.Contains(o.reject.Reason, c.want) || o.reject.Item != it.ID {
				t.Errorf("reject %+v, want code %s mentioning %q", o.reject, c.code, c.want)
			}
		})
	}
	// The processor holds no state: the good item still makes its record.
	if o := p.process(context.Background(), good); o.record == nil {
		t.Fatalf("good item rejected after bad ones: %+v", o.reject)
	}
}
