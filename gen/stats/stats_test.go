package stats

import (
	"bytes"
	"context"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/templates"
)

// TestQuickstartBalance generates the quickstart dataset (the README's
// first command) and checks what `boostgen stats` reports on it: every
// predicate asked, each with a true share between 40 % and 60 %.
func TestQuickstartBalance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: generating the full quickstart takes about a minute")
	}
	cfg, err := gen.LoadConfig("../../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	out := t.TempDir()
	sum, err := gen.Run(ctx, cfg, gen.RunOptions{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	store, err := blob.Open(ctx, out)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compute(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != sum.Records || s.Rejects != sum.Rejects || s.Items != sum.Items {
		t.Errorf("stats count %d records, %d rejects, %d items; the run wrote %d, %d, %d", s.Records, s.Rejects, s.Items, sum.Records, sum.Rejects, sum.Items)
	}
	var text bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("boostgen stats on the quickstart:\n%s", text.String())
	if len(s.Balance) != len(Predicates) {
		t.Fatalf("balance lists %d predicates, want %d", len(s.Balance), len(Predicates))
	}
	for k, b := range s.Balance {
		if b.Predicate != Predicates[k] {
			t.Errorf("balance[%d] is %s, want %s", k, b.Predicate, Predicates[k])
		}
		if b.True+b.False == 0 {
			t.Errorf("%s: never asked", b.Predicate)
			continue
		}
		if b.TrueShare < 0.4 || b.TrueShare > 0.6 {
			t.Errorf("%s: true share %.1f%% (%d true, %d false), want 40–60%%", b.Predicate, 100*b.TrueShare, b.True, b.False)
		}
	}
	views := map[string]int{}
	for _, c := range s.Views {
		views[c.Name] = c.Count
	}
	for _, v := range []string{"1", "2", "4", "8"} {
		if views[v] == 0 {
			t.Errorf("no %s-view records counted: %v", v, s.Views)
		}
	}
	if s.Depths.N != 3*s.Records || s.Distances.N != s.Records {
		t.Errorf("%d depths and %d distances for %d records, want 3 and 1 per record", s.Depths.N, s.Distances.N, s.Records)
	}
}

func turn(level, kind string, v any) templates.Turn {
	return templates.Turn{Level: level, Kind: kind, Value: v}
}

func entry(images any, turns ...templates.Turn) *dataset.Entry {
	return &dataset.Entry{Record: gen.Record{ID: "r", Image: images, Meta: gen.Meta{Frame: gen.FrameMeta{Kind: "floor"}, Turns: turns}}}
}

func TestAccumulator(t *testing.T) {
	a := NewAccumulator()
	a.Add(entry("images/a.png",
		turn("pixel", "depth", 1.2), turn("pixel", "depth", 2.6), turn("pixel", "closer", true),
		turn("object", "left", false), turn("object", "bigger", true), turn("scene", "distance", 0.7),
		templates.Turn{Level: "caption", Kind: "caption_short", Missing: true}))
	a.Add(entry([]any{"images/b.png", "images/c.png"},
		turn("pixel", "closer", false), turn("pixel", "closer", true), turn("object", "left", false),
		turn("scene", "distance", 3.1)))
	s := a.Stats(&gen.Manifest{Totals: gen.Totals{Items: 5, Rejects: 3}}, []gen.Reject{{Code: "no_pair"}, {Code: "few_objects"}, {Code: "few_objects"}})

	balance := map[string][2]int{}
	for _, b := range s.Balance {
		balance[b.Predicate] = [2]int{b.True, b.False}
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"records", s.Records, 2},
		{"items", s.Items, 5},
		{"rejects", s.Rejects, 3},
		{"closer", balance["closer"], [2]int{2, 1}},
		{"left", balance["left"], [2]int{0, 2}},
		{"bigger", balance["bigger"], [2]int{1, 0}},
		{"above never asked", balance["above"], [2]int{0, 0}},
		{"levels", s.Levels, map[string]int{"pixel": 5, "object": 3, "scene": 2}},
		{"views", s.Views, []Count{{"1", 1}, {"2", 1}}},
		{"rejects by reason", s.RejectsByReason, []Count{{"few_objects", 2}, {"no_pair", 1}}},
		{"depths", s.Depths.N, 2},
		{"distances", [3]float64{float64(s.Distances.N), s.Distances.Min, s.Distances.Max}, [3]float64{2, 0.7, 3.1}},
		{"first kind", s.Kinds[0], KindCount{Level: "pixel", Kind: "depth", Asked: 2}},
		{"last kind", s.Kinds[len(s.Kinds)-1], KindCount{Level: "caption", Kind: "caption_short", Missing: 1}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if got := s.Balance[0].TrueShare; math.Abs(got-0.6667) > 1e-9 {
		t.Errorf("closer true share %v, want 0.6667", got)
	}
	var text bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	// Lines compared by their fields, so that column widths may change.
	lines := map[string]bool{}
	for _, l := range strings.Split(text.String(), "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, want := range []string{"closer 2 1 66.7% [■■■■■■■■■■■■■·······]", "above 0 0 not asked", "few_objects 2 40.0% of items", "1 1 50.0%", "2 1 50.0%"} {
		if !lines[want] {
			t.Errorf("text output lacks a line %q:\n%s", want, text.String())
		}
	}
}

func TestHistogram(t *testing.T) {
	tests := []struct {
		name   string
		vals   []float64
		start  float64
		width  float64
		counts []int
	}{
		{"empty", nil, 0, 0, []int{}},
		{"one value", []float64{2.5}, 2.5, 0.1, []int{1}},
		{"meters, values on edges", []float64{1.1, 1.4, 2.0, 2.05, 4.9}, 1, 0.2, []int{1, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"max lands in the last bin", []float64{0, 10}, 0, 0.5, append(append([]int{1}, make([]int, 19)...), 1)},
		{"values millimeters apart", []float64{1, 1.001, 1.004}, 1, 0.001, []int{1, 1, 0, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := histogram(tt.vals)
			if h.N != len(tt.vals) || h.Start != tt.start || h.Width != tt.width || !reflect.DeepEqual(h.Counts, tt.counts) {
				t.Errorf("got n=%d start=%v width=%v counts=%v; want start=%v width=%v counts=%v", h.N, h.Start, h.Width, h.Counts, tt.start, tt.width, tt.counts)
			}
			total := 0
			for _, c := range h.Counts {
				total += c
			}
			if total != len(tt.vals) {
				t.Errorf("bins hold %d values, want %d", total, len(tt.vals))
			}
		})
	}
}
