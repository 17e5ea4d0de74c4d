package gen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/boostgen/boostgen/gen/scannet"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/gen/synthetic"
)

// Task is one item to be loaded. Sources list tasks cheaply and in a
// deterministic order; the expensive part (rendering, decoding) is Load,
// which workers call in parallel.
type Task struct {
	Index int    // position in the source's order
	ID    string // the item's id, known before loading
	Load  func(ctx context.Context) *scene.Item
}

// Source lists the items of a run.
type Source interface {
	// Tasks calls yield for each task in order until it returns false.
	Tasks(ctx context.Context, yield func(Task) bool) error
	// Count is the number of tasks, or -1 when unknown in advance.
	Count() int
}

// NewSource builds the configured source.
func NewSource(cfg *Config) (Source, error) {
	switch cfg.Source.Type {
	case "synthetic":
		return &syntheticSource{cfg: cfg.Source.Synthetic, seed: cfg.Seed, export: cfg.Resolve(cfg.Source.Synthetic.ExportDir)}, nil
	case "scannet":
		root := cfg.Resolve(cfg.Source.ScanNet.Root)
		st, err := os.Stat(root)
		if err != nil {
			return nil, fmt.Errorf("source.scannet.root: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("source.scannet.root: %s is not a folder", root)
		}
		scenes := &scannetSource{root: root, maxViews: cfg.Source.ScanNet.MaxViews}
		if cfg.Filters != nil && cfg.Filters.LPIPS != nil {
			return newScanNetPairSource(cfg, scenes) // source_scannet_pairs.go
		}
		return scenes, nil
	case "folder":
		return newFolderSource(cfg)
	case "sa1b":
		return newSA1BSource(cfg)
	case "video":
		return newVideoSource(cfg)
	}
	return nil, fmt.Errorf("source.type: unknown %q", cfg.Source.Type)
}

type syntheticSource struct {
	cfg    *SyntheticConfig
	seed   uint64
	export string
}

func (s *syntheticSource) Count() int {
	n := 0
	for _, set := range s.cfg.Sets {
		n += set.Scenes
	}
	return n
}

func (s *syntheticSource) Tasks(ctx context.Context, yield func(Task) bool) error {
	opts := synthetic.Options{
		Width: s.cfg.Width, Height: s.cfg.Height, WallChance: *s.cfg.WallChance,
		MinObjects: s.cfg.MinObjects, MaxObjects: s.cfg.MaxObjects,
	}
	index := 0
	for _, set := range s.cfg.Sets {
		for n := 0; n < set.Scenes; n++ {
			idx, views := index, set.Views
			id := fmt.Sprintf("synthetic-%06d-%dv", idx, views)
			t := Task{Index: idx, ID: id, Load: func(ctx context.Context) *scene.Item {
				return s.load(idx, views, id, opts)
			}}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !yield(t) {
				return nil
			}
			index++
		}
	}
	return nil
}

func (s *syntheticSource) load(index, views int, id string, opts synthetic.Options) *scene.Item {
	sc, err := synthetic.Generate(s.seed, index, views, opts)
	if err != nil {
		return &scene.Item{ID: id, Index: index, Source: "synthetic", Err: err}
	}
	it, _, err := sc.Item(id)
	if err != nil {
		return &scene.Item{ID: id, Index: index, Source: "synthetic", Err: err}
	}
	if s.export != "" {
		if err := scannet.Write(filepath.Join(s.export, id), it, sc.Truth()); err != nil {
			it.Err = fmt.Errorf("export: %w", err)
		}
	}
	return it
}

type scannetSource struct {
	root     string
	maxViews int
	scenes   []string
}

func (s *scannetSource) list() error {
	if s.scenes != nil {
		return nil
	}
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return fmt.Errorf("source.scannet.root: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(s.root, e.Name(), "color")); err == nil {
				s.scenes = append(s.scenes, e.Name())
			}
		}
	}
	sort.Strings(s.scenes)
	return nil
}

func (s *scannetSource) Count() int {
	if s.list() != nil {
		return -1
	}
	return len(s.scenes)
}

func (s *scannetSource) Tasks(ctx context.Context, yield func(Task) bool) error {
	if err := s.list(); err != nil {
		return err
	}
	for n, name := range s.scenes {
		idx, dir, id := n, filepath.Join(s.root, name), name
		t := Task{Index: idx, ID: id, Load: func(ctx context.Context) *scene.Item {
			it, err := s.load(dir)
			if err != nil {
				return &scene.Item{ID: id, Index: idx, Source: "scannet", Err: err}
			}
			it.ID, it.Index = id, idx
			return it
		}}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !yield(t) {
			return nil
		}
	}
	return nil
}

// load reads up to maxViews frames of a scene, evenly spaced.
func (s *scannetSource) load(dir string) (*scene.Item, error) {
	frames, err := scannet.Frames(dir)
	if err != nil {
		return nil, err
	}
	if len(frames) > s.maxViews {
		picked := make([]string, s.maxViews)
		for k := range picked {
			picked[k] = frames[k*(len(frames)-1)/max(s.maxViews-1, 1)]
		}
		frames = picked
	}
	return scannet.Read(dir, frames)
}
