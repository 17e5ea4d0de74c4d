package synthetic

import "testing"

// BenchmarkRender times one 640×480 view of a typical scene: the cost that
// dominates `boostgen run` on the synthetic source.
//
//	go test ./gen/synthetic -run '^$' -bench Render
func BenchmarkRender(b *testing.B) {
	s, err := Generate(1, 3, 1, DefaultOptions)
	if err != nil {
		b.Fatal(err)
	}
	for n := 0; n < b.N; n++ {
		s.Render(0)
	}
}
