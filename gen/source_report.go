package gen

import (
	"sort"
	"sync"

	"github.com/boostgen/boostgen/filters"
)

// RejectFiltered is the reject code of an item a filter stage dropped.
const RejectFiltered = "filtered"

// FilterReport counts what the filter stages decided in a run: per best
// CLIP label how many images were kept and dropped, how many masks were
// named and how many were ambiguous, what pair mining cost. It is safe for
// concurrent use; the CLI prints it with the run summary.
type FilterReport struct {
	mu     sync.Mutex
	CLIP   []LabelCount       `json:"clip,omitempty"`
	Naming *NamingCount       `json:"naming,omitempty"`
	Pairs  *filters.MineStats `json:"lpips_pairs,omitempty"`
	// PairViews counts the mined pairs (video and scannet sources) by how
	// far their in-between frames let the LLM stage grow them.
	PairViews *PairViewsCount `json:"pair_views,omitempty"`
	clip      map[string]*LabelCount
}

// LabelCount is the filter's decisions for images whose best label is Label.
type LabelCount struct {
	Label    string `json:"label"`
	Positive bool   `json:"positive"`
	Kept     int    `json:"kept"`
	Dropped  int    `json:"dropped"`
}

// NamingCount counts zero-shot naming over all masks of a run.
type NamingCount struct {
	Named     int `json:"named"`
	Ambiguous int `json:"ambiguous"`
}

func (r *FilterReport) addCLIP(s filters.CLIPScore) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.clip == nil {
		r.clip = map[string]*LabelCount{}
	}
	c := r.clip[s.Best]
	if c == nil {
		c = &LabelCount{Label: s.Best, Positive: s.Positive}
		r.clip[s.Best] = c
	}
	if s.Keep {
		c.Kept++
	} else {
		c.Dropped++
	}
	r.CLIP = r.CLIP[:0]
	for _, c := range r.clip {
		r.CLIP = append(r.CLIP, *c)
	}
	sort.Slice(r.CLIP, func(i, j int) bool { return r.CLIP[i].Label < r.CLIP[j].Label })
}

func (r *FilterReport) addNaming(named, ambiguous int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Naming == nil {
		r.Naming = &NamingCount{}
	}
	r.Naming.Named += named
	r.Naming.Ambiguous += ambiguous
}

func (r *FilterReport) addPairs(st filters.MineStats) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Pairs == nil {
		r.Pairs = &filters.MineStats{}
	}
	r.Pairs.Frames += st.Frames
	r.Pairs.Evaluations += st.Evaluations
	r.Pairs.Pairs += st.Pairs
}

// Snapshot returns a copy safe to read while the run goes on.
func (r *FilterReport) Snapshot() *FilterReport {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := &FilterReport{CLIP: append([]LabelCount(nil), r.CLIP...)}
	if r.Naming != nil {
		n := *r.Naming
		out.Naming = &n
	}
	if r.Pairs != nil {
		p := *r.Pairs
		out.Pairs = &p
	}
	if r.PairViews != nil {
		v := *r.PairViews
		out.PairViews = &v
	}
	return out
}

// reports holds each config's report of its latest run. The hook is kept
// apart from the pipeline (Run builds the source from the config; the CLI
// asks the config for the report afterwards).
var reports sync.Map // *Config → *FilterReport

func (c *Config) newFilterReport() *FilterReport {
	r := &FilterReport{}
	reports.Store(c, r)
	return r
}

// FilterReport is what the filter stages decided in the latest run of this
// config, or nil when its source runs none.
func (c *Config) FilterReport() *FilterReport {
	r, ok := reports.Load(c)
	if !ok {
		return nil
	}
	return r.(*FilterReport).Snapshot()
}
