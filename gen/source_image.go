package gen

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/boostgen/boostgen/filters"
	"github.com/boostgen/boostgen/gen/imgload"
	"github.com/boostgen/boostgen/gen/sa1b"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/models/clip"
	"github.com/boostgen/boostgen/internal/models/lpips"
	"github.com/boostgen/boostgen/internal/ort"
)

// imageStage turns one image (and its optional SA-1B-style annotation file)
// into a single-view item: decode safely, CLIP-filter, resolve masks into
// objects, name unlabeled ones. The folder and sa1b sources share it.
type imageStage struct {
	kind      string
	maxPixels int
	masks     sa1b.Filter
	clip      *filters.CLIPFilter
	namer     *filters.Namer
	report    *FilterReport
	// seg makes masks for images without an annotation file (nil unless
	// geometry.masks is sam2).
	seg *segmenter
}

func maskFilter(m *MaskConfig) sa1b.Filter {
	return sa1b.Filter{
		MinPredictedIoU: *m.MinPredictedIoU, MinStability: *m.MinStability,
		MinArea: *m.MinArea, MaxArea: *m.MaxArea, MaxOverlap: *m.MaxOverlap, MaxObjects: m.MaxObjects,
	}
}

// newImageStage loads the CLIP model when a CLIP stage is configured and
// embeds its labels and vocabulary once for the run.
func newImageStage(cfg *Config, kind string, maxPixels int, masks *MaskConfig) (*imageStage, error) {
	st := &imageStage{kind: kind, maxPixels: maxPixels, masks: maskFilter(masks), report: cfg.newFilterReport()}
	var err error
	if kind == "folder" { // SA-1B's images all come with masks
		if st.seg, err = loadSegmenter(cfg); err != nil {
			return nil, err
		}
	}
	f := cfg.Filters
	if f == nil || (f.CLIP == nil && f.Naming == nil) {
		return st, nil
	}
	m, err := loadCLIP(cfg)
	if err != nil {
		st.seg.close()
		return nil, err
	}
	ctx := context.Background()
	if f.CLIP != nil {
		if st.clip, err = filters.NewCLIPFilter(ctx, m, f.CLIP.Labels, f.CLIP.Margin); err != nil {
			return nil, err
		}
	}
	if f.Naming != nil {
		if st.namer, err = newNamer(f.Naming, m); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func loadCLIP(cfg *Config) (*clip.Model, error) {
	mc := cfg.Filters.CLIPModel
	c := clip.Defaults()
	c.VisionPath = cfg.Resolve(mc.Vision)
	c.TextPath = cfg.Resolve(mc.Text)
	c.VocabPath = cfg.Resolve(mc.Vocab)
	c.TextEmbeddings = cfg.Resolve(mc.TextEmbeddings)
	c.Size = mc.Size
	c.ORT = filterORT(cfg, mc.ORTLibrary)
	m, err := clip.New(c)
	if err != nil {
		return nil, fmt.Errorf("filters.clip_model: %w", err)
	}
	return m, nil
}

// newNamer embeds filters.naming's vocabulary once for the run.
func newNamer(n *NamingConfig, m *clip.Model) (*filters.Namer, error) {
	return filters.NewNamer(context.Background(), m, n.Vocabulary, n.Prompt, *n.Margin)
}

// filterORT runs the filter models like the geometry models (the models
// section's library, provider and threads) when there is a models
// section; lib, when set, names the library.
func filterORT(cfg *Config, lib string) ort.Options {
	var o ort.Options
	if m := cfg.Models; m != nil {
		o = ort.Options{Library: cfg.Resolve(m.ORTLibrary), Provider: m.Provider, IntraOpThreads: m.IntraOpThreads, InterOpThreads: m.InterOpThreads}
	}
	if lib != "" {
		o.Library = cfg.Resolve(lib)
	}
	return o
}

func loadLPIPS(cfg *Config) (*lpips.Model, error) {
	mc := cfg.Filters.LPIPSModel
	c := lpips.Defaults()
	c.Path = cfg.Resolve(mc.Path)
	c.Size = mc.Size
	c.ORT = filterORT(cfg, mc.ORTLibrary)
	m, err := lpips.New(c)
	if err != nil {
		return nil, fmt.Errorf("filters.lpips_model: %w", err)
	}
	return m, nil
}

// mineOptions are filters.lpips as pair-mining options (the video and
// scannet sources).
func mineOptions(l *LPIPSConfig) filters.MineOptions {
	return filters.MineOptions{Lo: *l.Min, Hi: *l.Max, PerFrame: l.PerFrame, PerClip: l.PerClip, Probes: l.Probes}
}

// item builds the item for one sample; every failure is the item's Err
// (a reject naming the file), never a failed run.
func (st *imageStage) item(ctx context.Context, id string, index int, s sa1b.Sample) *scene.Item {
	it := &scene.Item{ID: id, Index: index, Source: st.kind}
	fail := func(code, format string, args ...any) *scene.Item {
		it.Err = reject(code, format, args...)
		return it
	}
	if s.Err != nil {
		return fail(RejectSource, "%v", s.Err)
	}
	img, err := imgload.Decode(s.Image, st.maxPixels)
	if err != nil {
		return fail(RejectSource, "%s: %v", s.ImageName, err)
	}
	meta := &scene.FilterMeta{}
	if st.clip != nil {
		sc, err := st.clip.Score(ctx, img.Pixels)
		if err != nil {
			return fail(RejectModel, "%s: clip filter: %v", s.ImageName, err)
		}
		st.report.addCLIP(sc)
		meta.CLIP = &scene.CLIPMeta{BestLabel: sc.Best, Positive: sc.Positive, Prob: sc.Prob, Margin: sc.Margin}
		if !sc.Keep {
			why := "a negative label"
			if sc.Positive {
				why = "a positive label, but by less than the margin"
			}
			return fail(RejectFiltered, "%s: clip: best label %q (p=%.2f) is %s", s.ImageName, sc.Best, sc.Prob, why)
		}
	}
	v := scene.View{Name: s.ImageName, Image: scene.Image{Bytes: img.Bytes, Ext: img.Ext}, W: img.W, H: img.H}
	var sel []sa1b.Selected
	switch {
	case s.JSON != nil:
		af, err := sa1b.ParseFile(s.JSON, s.Name+".json")
		if err != nil {
			return fail(RejectSource, "%v", err)
		}
		v.Instances, sel, _, err = sa1b.Select(af, img.W, img.H, st.masks)
		if err != nil {
			return fail(RejectMasks, "%s.json: %v", s.Name, err)
		}
	case st.seg != nil:
		var err error
		if v.Instances, sel, err = st.seg.segment(ctx, img.Pixels); err != nil {
			it.Err = fmt.Errorf("%s: %w", s.ImageName, err)
			return it
		}
		it.Masks = MasksSAM2
	}
	if v.Instances != nil {
		it.MasksMayCoverFloor = true
		objs, nm, err := labelObjects(ctx, st.namer, st.report, img.Pixels, v.Instances, sel)
		if err != nil {
			return fail(RejectModel, "%s: naming masks: %v", s.ImageName, err)
		}
		it.Objects, meta.Naming = objs, nm
	}
	it.Views = []scene.View{v}
	if meta.CLIP != nil || meta.Naming != nil {
		it.Filters = meta
	}
	return it
}

var folderImageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".webp": true}

// folderSource reads the user's images: a folder (recursively, in name
// order) or a list file. Only the paths are listed up front.
type folderSource struct {
	root  string // for ids: paths relative to it
	paths []string
	stage *imageStage
}

func newFolderSource(cfg *Config) (*folderSource, error) {
	fc := cfg.Source.Folder
	p := cfg.Resolve(fc.Path)
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("source.folder.path: %w", err)
	}
	s := &folderSource{root: p}
	if st.IsDir() {
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && folderImageExts[strings.ToLower(filepath.Ext(path))] {
				s.paths = append(s.paths, path)
			}
			return nil
		})
	} else {
		s.root = filepath.Dir(p)
		s.paths, err = readList(p)
	}
	if err != nil {
		return nil, fmt.Errorf("source.folder.path: %w", err)
	}
	if s.stage, err = newImageStage(cfg, "folder", fc.MaxPixels, fc.Masks); err != nil {
		return nil, err
	}
	return s, nil
}

// readList reads a list file: one image path per line, relative to the
// file's folder; blank lines and lines starting with # are skipped.
func readList(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !filepath.IsAbs(line) {
			line = filepath.Join(filepath.Dir(path), line)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: lists no images", path)
	}
	return out, nil
}

func (s *folderSource) Count() int { return len(s.paths) }

func (s *folderSource) Tasks(ctx context.Context, yield func(Task) bool) error {
	for n, p := range s.paths {
		id, err := filepath.Rel(s.root, p)
		if err != nil || strings.HasPrefix(id, "..") {
			id = p
		}
		id = filepath.ToSlash(id)
		idx, path := n, p
		t := Task{Index: idx, ID: id, Load: func(ctx context.Context) *scene.Item {
			sample := folderSample(path)
			return s.stage.item(ctx, id, idx, sample)
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

// folderSample reads an image and, when there is one, the annotation file
// with the same stem beside it.
func folderSample(path string) sa1b.Sample {
	base := filepath.Base(path)
	s := sa1b.Sample{Name: strings.TrimSuffix(base, filepath.Ext(base)), ImageName: base}
	var err error
	if s.Image, err = os.ReadFile(path); err != nil {
		s.Err = err
		return s
	}
	if b, err := os.ReadFile(strings.TrimSuffix(path, filepath.Ext(path)) + ".json"); err == nil {
		s.JSON = b
	}
	return s
}
