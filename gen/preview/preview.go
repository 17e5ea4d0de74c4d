// Package preview builds a static HTML page of sampled records from a
// dataset: each anchor view with its overlays (stated points, 2D boxes, the
// 3D cubes projected as wireframes, the canonical axes) drawn as SVG, the
// other views beside it, the full conversation with the truth behind every
// turn, badges from meta, and the dataset's statistics as charts. It also
// writes one PNG card per record for reports.
package preview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/gen/stats"
	"github.com/boostgen/boostgen/internal/blob"
)

// Options choose what the page shows and where it goes.
type Options struct {
	N    int    // records to sample (all when the dataset has fewer)
	Seed uint64 // sampling seed: the same seed picks the same records
	Out  string // local folder for index.html, images/ and cards/
	// NoCards skips the PNG cards.
	NoCards bool
}

// Result says what was written.
type Result struct {
	Page    string   `json:"page"`
	Records int      `json:"records"` // in the dataset
	Cards   int      `json:"cards"`   // on the page
	Images  int      `json:"images"`
	PNGs    []string `json:"pngs,omitempty"`
}

// Files under Options.Out.
const (
	PageFile = "index.html"
	CardsDir = "cards"
)

// Build reads the dataset in store once (sampling records and gathering
// statistics in the same pass) and writes the page.
func Build(ctx context.Context, store blob.Store, o Options) (*Result, error) {
	if o.N <= 0 {
		return nil, fmt.Errorf("--n %d: must be at least 1", o.N)
	}
	if o.Out == "" {
		return nil, fmt.Errorf("no output folder")
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x70726576696577)) // "preview"
	type sampled struct {
		e *dataset.Entry
		n int // position among the records sampled from
	}
	var sample []sampled
	seen := 0
	m, st, err := stats.Read(ctx, store, func(e *dataset.Entry) {
		if e.Record.Meta.Kind == gen.KindVQA {
			return // multi-view VQA records have no geometry to overlay
		}
		// Reservoir sampling: every record is kept with probability N/seen.
		if len(sample) < o.N {
			sample = append(sample, sampled{e, seen})
		} else if k := rng.IntN(seen + 1); k < o.N {
			sample[k] = sampled{e, seen}
		}
		seen++
	})
	if err != nil {
		return nil, err
	}
	// Show the sample in dataset order.
	slices.SortFunc(sample, func(a, b sampled) int { return a.n - b.n })

	// The page, images and cards are written through a local store, whose
	// writes are atomic: a reload never sees half a file.
	out, err := blob.NewLocal(o.Out)
	if err != nil {
		return nil, err
	}
	res := &Result{Page: filepath.Join(o.Out, PageFile), Records: seen}
	copied := map[string]bool{}
	var cards []cardView
	for _, picked := range sample {
		e := picked.e
		for _, key := range e.Images() {
			if copied[key] {
				continue
			}
			if err := copyImage(ctx, store, key, out); err != nil {
				return nil, fmt.Errorf("%s: %w", e.Where(), err)
			}
			copied[key] = true
		}
		cv, err := newCardView(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Where(), err)
		}
		if !o.NoCards {
			png, err := writeCard(ctx, out, e, cv.overlay)
			if err != nil {
				return nil, fmt.Errorf("%s: PNG card: %w", e.Where(), err)
			}
			cv.PNG = png
			res.PNGs = append(res.PNGs, filepath.Join(o.Out, filepath.FromSlash(png)))
		}
		cards = append(cards, cv)
	}
	res.Cards, res.Images = len(cards), len(copied)

	var page bytes.Buffer
	if err := pageTemplate.Execute(&page, pageView{
		Dataset: store.String(), Manifest: m, Stats: st, Cards: cards, Seed: o.Seed, N: o.N,
		Charts: charts(st),
	}); err != nil {
		return nil, err
	}
	if err := blob.Put(ctx, out, PageFile, page.Bytes()); err != nil {
		return nil, err
	}
	return res, nil
}

// safeKey accepts the image keys a dataset may hold: relative,
// slash-separated, without "..", so that copying cannot leave Out.
var safeKey = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

func checkKey(key string) error {
	if !safeKey.MatchString(key) {
		return fmt.Errorf("image key %q: want a relative path of letters, digits, '.', '_', '-'", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "." || part == ".." {
			return fmt.Errorf("image key %q: %q is not allowed", key, part)
		}
	}
	return nil
}

func copyImage(ctx context.Context, store blob.Store, key string, out *blob.Local) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if have, err := out.Stat(ctx, key); err == nil && have.Size > 0 {
		// Content-addressed: an existing file already has these bytes.
		if info, err := store.Stat(ctx, key); err == nil && info.Size == have.Size {
			return nil
		}
	}
	b, err := blob.ReadAll(ctx, store, key)
	if err != nil {
		return fmt.Errorf("image %s: %w", key, err)
	}
	return blob.Put(ctx, out, key, b)
}

// knownMeta are the meta keys the card shows in its own sections; any other
// key (added by later stages: filter scores, LPIPS, verdicts) becomes a badge.
var knownMeta = map[string]bool{
	"schema_version": true, "generator": true, "seed": true, "config_sha256": true, "source": true,
	"frame": true, "order": true, "objects": true, "points": true, "turns": true, "skipped_objects": true,
}

// Badge is a short fact from meta.
type Badge struct {
	Text  string
	Title string // tooltip
	Class string // "", "good", "bad", "info"
}

// extraBadges turns unknown meta keys into badges: scalars as they are,
// objects one level deep ("filter.clip 0.31"), anything else as compact JSON.
func extraBadges(meta map[string]json.RawMessage) []Badge {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if !knownMeta[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []Badge
	for _, k := range keys {
		var obj map[string]any
		if json.Unmarshal(meta[k], &obj) == nil && obj != nil {
			sub := make([]string, 0, len(obj))
			for s := range obj {
				sub = append(sub, s)
			}
			sort.Strings(sub)
			for _, s := range sub {
				out = append(out, scalarBadge(k+"."+s, obj[s]))
			}
			continue
		}
		var v any
		_ = json.Unmarshal(meta[k], &v)
		out = append(out, scalarBadge(k, v))
	}
	return out
}

func scalarBadge(name string, v any) Badge {
	b := Badge{Class: "info"}
	var text string
	switch x := v.(type) {
	case bool:
		text = fmt.Sprint(x)
		b.Class = map[bool]string{true: "good", false: "bad"}[x]
	case float64:
		text = fmt.Sprintf("%.4g", x)
	case string:
		text = x
		switch strings.ToLower(x) {
		case "pass", "passed", "accept", "accepted", "ok", "keep", "kept", "yes", "true", "correct":
			b.Class = "good"
		case "fail", "failed", "reject", "rejected", "drop", "dropped", "no", "false", "wrong", "incorrect":
			b.Class = "bad"
		}
	default:
		j, _ := json.Marshal(x)
		text = string(j)
	}
	full := name + ": " + text
	b.Title = full
	if len(text) > 60 {
		text = text[:57] + "…"
	}
	b.Text = name + " " + text
	return b
}
