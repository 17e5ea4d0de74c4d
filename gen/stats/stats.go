// Package stats summarizes a finished dataset: what was asked (turns per
// level and kind), whether yes/no answers are balanced, how depths and
// distances are spread, why items were rejected and how many views records
// have. `boostgen stats` prints it; the preview page draws it.
package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/internal/blob"
	"github.com/boostgen/boostgen/templates"
)

// Predicates are the yes/no questions, in the order the chain asks them.
var Predicates = []string{"closer", "left", "above", "behind", "taller", "wider", "bigger"}

// Stats is what `boostgen stats --json` prints.
type Stats struct {
	Dataset string `json:"dataset"`
	Items   int    `json:"items"`
	Records int    `json:"records"`
	Rejects int    `json:"rejects"`
	// Kinds counts turns by level and kind, in chain order.
	Kinds []KindCount `json:"kinds"`
	// Levels counts asked turns per level.
	Levels map[string]int `json:"levels"`
	// Balance is the true/false split of every predicate, in Predicates order.
	Balance []Balance `json:"balance"`
	// Depths are the stated point depths, Distances the stated object
	// distances, both in meters.
	Depths    Histogram `json:"depths"`
	Distances Histogram `json:"distances"`
	// RejectsByReason counts rejects by code, most frequent first.
	RejectsByReason []Count `json:"rejects_by_reason"`
	// Views counts records by their number of views, ascending.
	Views []Count `json:"views_per_record"`
	// Frames counts records by canonical frame kind (floor, camera).
	Frames []Count `json:"frames"`
}

// KindCount is how often one kind of turn was asked, and how often it was
// left for a later stage (captions awaiting the LLM).
type KindCount struct {
	Level   string `json:"level"`
	Kind    string `json:"kind"`
	Asked   int    `json:"asked"`
	Missing int    `json:"missing,omitempty"`
}

// Balance is one predicate's answers.
type Balance struct {
	Predicate string  `json:"predicate"`
	True      int     `json:"true"`
	False     int     `json:"false"`
	TrueShare float64 `json:"true_share"` // NaN-free: 0 when never asked
}

// Count is a named count.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Histogram has equal-width bins: bin k is [Start+k·Width, Start+(k+1)·Width).
type Histogram struct {
	Unit   string  `json:"unit"`
	Start  float64 `json:"start"`
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	Width  float64 `json:"bin_width"`
	Counts []int   `json:"counts"`
}

var levelOrder = map[string]int{templates.LevelPixel: 0, templates.LevelObject: 1, templates.LevelScene: 2, templates.LevelCaption: 3}

// Accumulator gathers statistics record by record, so that callers who
// already read the records (the preview) need no second pass.
type Accumulator struct {
	kinds     map[[2]string]*KindCount
	levels    map[string]int
	balance   map[string]*Balance
	depths    []float64
	distances []float64
	views     map[int]int
	frames    map[string]int
	records   int
}

// NewAccumulator returns an empty accumulator.
func NewAccumulator() *Accumulator {
	a := &Accumulator{
		kinds: map[[2]string]*KindCount{}, levels: map[string]int{}, balance: map[string]*Balance{},
		views: map[int]int{}, frames: map[string]int{},
	}
	for _, p := range Predicates {
		a.balance[p] = &Balance{Predicate: p}
	}
	return a
}

// Add counts one record.
func (a *Accumulator) Add(e *dataset.Entry) {
	a.records++
	a.views[len(e.Images())]++
	if e.Record.Meta.Kind != gen.KindVQA { // VQA records have no canonical frame
		a.frames[e.Record.Meta.Frame.Kind]++
	}
	for _, t := range e.Record.Meta.Turns {
		key := [2]string{t.Level, t.Kind}
		kc := a.kinds[key]
		if kc == nil {
			kc = &KindCount{Level: t.Level, Kind: t.Kind}
			a.kinds[key] = kc
		}
		if t.Missing {
			kc.Missing++
			continue
		}
		kc.Asked++
		a.levels[t.Level]++
		switch v := t.Value.(type) {
		case bool:
			b := a.balance[t.Kind]
			if b == nil {
				b = &Balance{Predicate: t.Kind}
				a.balance[t.Kind] = b
			}
			if v {
				b.True++
			} else {
				b.False++
			}
		case float64:
			switch t.Kind {
			case "depth":
				a.depths = append(a.depths, v)
			case "distance":
				a.distances = append(a.distances, v)
			}
		}
	}
}

// Stats returns what was gathered; m and rejects fill in the dataset-level
// counts (either may be nil).
func (a *Accumulator) Stats(m *gen.Manifest, rejects []gen.Reject) *Stats {
	s := &Stats{Records: a.records, Levels: a.levels, Depths: histogram(a.depths), Distances: histogram(a.distances)}
	for _, kc := range a.kinds {
		s.Kinds = append(s.Kinds, *kc)
	}
	sort.Slice(s.Kinds, func(i, j int) bool {
		x, y := s.Kinds[i], s.Kinds[j]
		if levelOrder[x.Level] != levelOrder[y.Level] {
			return levelOrder[x.Level] < levelOrder[y.Level]
		}
		return kindRank(x.Kind) < kindRank(y.Kind) || kindRank(x.Kind) == kindRank(y.Kind) && x.Kind < y.Kind
	})
	known := map[string]bool{}
	for _, p := range Predicates {
		known[p] = true
		s.Balance = append(s.Balance, a.balance[p].withShare())
	}
	var extra []string
	for p := range a.balance {
		if !known[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	for _, p := range extra {
		s.Balance = append(s.Balance, a.balance[p].withShare())
	}
	for v, n := range a.views {
		s.Views = append(s.Views, Count{Name: strconv.Itoa(v), Count: n})
	}
	sort.Slice(s.Views, func(i, j int) bool { return atoi(s.Views[i].Name) < atoi(s.Views[j].Name) })
	s.Frames = sortedCounts(a.frames)
	byReason := map[string]int{}
	for _, r := range rejects {
		byReason[r.Code]++
	}
	if m != nil {
		s.Items = m.Totals.Items
		s.Rejects = m.Totals.Rejects
		if len(rejects) == 0 && m.Rejects != nil {
			byReason = m.Rejects.ByReason
		}
	}
	if len(rejects) > 0 {
		s.Rejects = len(rejects)
	}
	if s.Items == 0 {
		s.Items = s.Records + s.Rejects
	}
	s.RejectsByReason = sortedCounts(byReason)
	return s
}

// chainKinds are the turn kinds in the order the chain asks them.
var chainKinds = []string{"depth", "closer", "cube", "left", "above", "behind", "taller", "wider", "bigger", "distance", "caption_short", "caption_detailed"}

// kindRank orders kinds as the chain asks them.
func kindRank(k string) int {
	if n := slices.Index(chainKinds, k); n >= 0 {
		return n
	}
	return len(chainKinds)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func (b *Balance) withShare() Balance {
	out := *b
	if n := b.True + b.False; n > 0 {
		out.TrueShare = math.Round(float64(b.True)/float64(n)*1e4) / 1e4
	}
	return out
}

// sortedCounts lists a map's counts, most frequent first, then by name.
func sortedCounts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{Name: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// histogram bins values with a round bin width giving about 20 bins,
// starting at a multiple of the width.
func histogram(vals []float64) Histogram {
	h := Histogram{Unit: "m", N: len(vals), Counts: []int{}}
	if len(vals) == 0 {
		return h
	}
	sorted := append([]float64(nil), vals...)
	sort.Float64s(sorted)
	h.Min, h.Max = sorted[0], sorted[len(sorted)-1]
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	h.Mean = round3(sum / float64(len(sorted)))
	if n := len(sorted); n%2 == 1 {
		h.Median = sorted[n/2]
	} else {
		h.Median = round3((sorted[n/2-1] + sorted[n/2]) / 2)
	}
	h.Width = niceWidth((h.Max - h.Min) / 20)
	h.Start = round3(math.Floor(h.Min/h.Width) * h.Width)
	bins := int(math.Floor((h.Max-h.Start)/h.Width)) + 1
	h.Counts = make([]int, bins)
	for _, v := range sorted {
		// The epsilon keeps values on a bin edge (answers are rounded to mm)
		// out of the bin below, where float division can put them.
		k := int(math.Floor((v-h.Start)/h.Width + 1e-9))
		if k < 0 {
			k = 0
		}
		if k >= bins {
			k = bins - 1
		}
		h.Counts[k]++
	}
	return h
}

// niceWidth is the smallest of 1, 2, 2.5, 5 × 10^k that is at least w, and
// at least 1 mm, the precision of stated values: a finer width would round
// to 0.
func niceWidth(w float64) float64 {
	if !(w > 0) {
		return 0.1
	}
	w = max(w, 0.001)
	p := math.Pow(10, math.Floor(math.Log10(w)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= w*(1-1e-9) {
			return round3(m * p)
		}
	}
	return round3(10 * p)
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// Compute reads the whole dataset in store.
func Compute(ctx context.Context, store blob.Store) (*Stats, error) {
	_, s, err := Read(ctx, store, nil)
	return s, err
}

// Read reads the whole dataset in store once and returns its manifest and
// statistics; each, unless nil, is called with every record on the way, so
// that a caller who needs the records too (the preview) makes no second pass.
func Read(ctx context.Context, store blob.Store, each func(*dataset.Entry)) (*gen.Manifest, *Stats, error) {
	m, err := dataset.ReadManifest(ctx, store)
	if err != nil {
		return nil, nil, err
	}
	a := NewAccumulator()
	err = dataset.Records(ctx, store, m, func(e *dataset.Entry) error {
		a.Add(e)
		if each != nil {
			each(e)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	rejects, err := dataset.Rejects(ctx, store, m)
	if err != nil {
		return nil, nil, err
	}
	s := a.Stats(m, rejects)
	s.Dataset = store.String()
	return m, s, nil
}

// WriteJSON writes s as indented JSON.
func (s *Stats) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteText writes s as aligned plain-text tables with bar charts.
func (s *Stats) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset %s: %d records from %d items, %d rejected\n", s.Dataset, s.Records, s.Items, s.Rejects)

	b.WriteString("\nviews per record\n")
	for _, c := range s.Views {
		fmt.Fprintf(&b, "  %-4s %6d  %5.1f%%\n", c.Name, c.Count, pct(c.Count, s.Records))
	}
	b.WriteString("\nframes\n")
	for _, c := range s.Frames {
		fmt.Fprintf(&b, "  %-8s %6d  %5.1f%%\n", c.Name, c.Count, pct(c.Count, s.Records))
	}

	b.WriteString("\nturns                     asked  missing\n")
	for _, k := range s.Kinds {
		miss := ""
		if k.Missing > 0 {
			miss = strconv.Itoa(k.Missing)
		}
		fmt.Fprintf(&b, "  %-8s %-16s %6d  %7s\n", k.Level, k.Kind, k.Asked, miss)
	}
	for _, l := range []string{templates.LevelPixel, templates.LevelObject, templates.LevelScene, templates.LevelCaption} {
		fmt.Fprintf(&b, "  %-25s %6d\n", l+" total", s.Levels[l])
	}

	b.WriteString("\npredicates  true  false  true share\n")
	for _, p := range s.Balance {
		if p.True+p.False == 0 {
			fmt.Fprintf(&b, "  %-8s %6d %6d  not asked\n", p.Predicate, p.True, p.False)
			continue
		}
		fmt.Fprintf(&b, "  %-8s %6d %6d  %6.1f%%  %s\n", p.Predicate, p.True, p.False, 100*p.TrueShare, shareBar(p))
	}

	for _, h := range []struct {
		name string
		h    Histogram
	}{{"point depths", s.Depths}, {"object distances", s.Distances}} {
		fmt.Fprintf(&b, "\n%s (m): %d answers", h.name, h.h.N)
		if h.h.N > 0 {
			fmt.Fprintf(&b, ", min %.3f, median %.3f, mean %.3f, max %.3f", h.h.Min, h.h.Median, h.h.Mean, h.h.Max)
		}
		b.WriteString("\n")
		most := 0
		for _, c := range h.h.Counts {
			most = max(most, c)
		}
		for k, c := range h.h.Counts {
			lo, hi := h.h.Start+float64(k)*h.h.Width, h.h.Start+float64(k+1)*h.h.Width
			fmt.Fprintf(&b, "  %6.2f–%-6.2f %6d  %s\n", lo, hi, c, strings.Repeat("█", scaled(c, most, 40)))
		}
	}

	b.WriteString("\nrejects by reason\n")
	if len(s.RejectsByReason) == 0 {
		b.WriteString("  none\n")
	}
	for _, c := range s.RejectsByReason {
		fmt.Fprintf(&b, "  %-12s %6d  %5.1f%% of items\n", c.Name, c.Count, pct(c.Count, s.Items))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

func scaled(n, most, width int) int {
	if most == 0 {
		return 0
	}
	return int(math.Round(float64(n) / float64(most) * float64(width)))
}

// shareBar draws the true share on 20 cells with the 50 % mark in the middle.
func shareBar(p Balance) string {
	if p.True+p.False == 0 {
		return ""
	}
	k := int(math.Round(p.TrueShare * 20))
	return "[" + strings.Repeat("■", k) + strings.Repeat("·", 20-k) + "]"
}
