package gen

import (
	"context"
	"fmt"
	"testing"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/gen/synthetic"
)

// BenchmarkGeometryTemplates measures the per-item stages — point clouds,
// floor, canonical frame, cubes, naming, planning, record assembly — on
// 640×480 single-view synthetic scenes rendered beforehand. One goroutine,
// so records/s is per core.
//
//	go test ./gen -run '^$' -bench GeometryTemplates -benchtime 200x
func BenchmarkGeometryTemplates(b *testing.B) {
	cfg, err := ParseConfig([]byte("source: {type: synthetic}"))
	if err != nil {
		b.Fatal(err)
	}
	p, err := newProcessor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	var items []*scene.Item
	for idx := 0; len(items) < 16; idx++ {
		sc, err := synthetic.Generate(1, idx, 1, synthetic.DefaultOptions)
		if err != nil {
			continue
		}
		it, _, _ := sc.Item(fmt.Sprintf("bench-%d", idx))
		it.Index = idx
		items = append(items, it)
	}
	b.ReportAllocs()
	b.ResetTimer()
	records := 0
	for n := 0; n < b.N; n++ {
		if o := p.process(context.Background(), items[n%len(items)]); o.record != nil {
			records++
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s/core")
}
