package gen

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/disintegration/imaging"

	"github.com/boostgen/boostgen/filters"
	"github.com/boostgen/boostgen/gen/scannet"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/geometry"
	"github.com/boostgen/boostgen/internal/models/lpips"
)

// scannetPairSource is the scannet source with filters.lpips: instead of
// one item of evenly spaced frames per scene, frame pairs with LPIPS in the
// band become two-view items (the paper's multi-view pairs from ScanNet),
// each with the color of up to 6 frames recorded between the two
// (Item.Between) for the LLM view interpolation. Partners are searched by pose distance when every frame has a pose, by
// frame gap otherwise.
type scannetPairSource struct {
	scenes *scannetSource // lists the scene folders
	lpips  *lpips.Model
	mine   filters.MineOptions
	report *FilterReport
	mined  minedOnce[minedScene] // scene folder → its pairs
}

type minedScene struct {
	frames []string
	pairs  []filters.Pair
	method string
	err    error
}

func newScanNetPairSource(cfg *Config, scenes *scannetSource) (*scannetPairSource, error) {
	m, err := loadLPIPS(cfg)
	if err != nil {
		return nil, err
	}
	return &scannetPairSource{scenes: scenes, lpips: m, mine: mineOptions(cfg.Filters.LPIPS), report: cfg.newFilterReport()}, nil
}

// Count is unknown until the scenes are mined.
func (s *scannetPairSource) Count() int { return -1 }

func (s *scannetPairSource) Tasks(ctx context.Context, yield func(Task) bool) error {
	if err := s.scenes.list(); err != nil {
		return err
	}
	index := 0
	emit := func(id string, load func() *scene.Item) bool {
		if ctx.Err() != nil {
			return false
		}
		idx := index
		index++
		return yield(Task{Index: idx, ID: id, Load: func(context.Context) *scene.Item {
			it := load()
			it.ID, it.Index, it.Source = id, idx, "scannet"
			return it
		}})
	}
	for _, name := range s.scenes.scenes {
		dir := filepath.Join(s.scenes.root, name)
		ms := s.mined.get(ctx, dir, func() minedScene { return s.mineScene(ctx, dir) })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if ms.err != nil || len(ms.pairs) == 0 {
			err := ms.err
			if err == nil {
				err = reject(RejectNoPair, "scene %s: no frame pair among %d frames (%s)", name, len(ms.frames), ms.method)
			}
			if !emit(name, func() *scene.Item { return &scene.Item{Err: err} }) {
				return ctx.Err()
			}
			continue
		}
		for _, p := range ms.pairs {
			a, b := ms.frames[p.A], ms.frames[p.B]
			meta := &scene.PairMeta{Frames: [2]int{p.A, p.B}, Method: "lpips-" + ms.method, Between: betweenFrames(p.A, p.B)}
			d := p.LPIPS
			meta.LPIPS = &d
			between := make([]string, len(meta.Between))
			for k, f := range meta.Between {
				between[k] = ms.frames[f]
			}
			ok := emit(fmt.Sprintf("%s#%s-%s", name, a, b), func() *scene.Item {
				it, err := scannet.Read(dir, []string{a, b})
				if err != nil {
					return &scene.Item{Err: err}
				}
				// In-between frames in recording order (the camera path),
				// color only: they only go to the LLM view check.
				for _, f := range between {
					v, err := scannet.ReadColor(dir, f)
					if err != nil {
						return &scene.Item{Err: fmt.Errorf("in-between frame: %w", err)}
					}
					it.Between = append(it.Between, v)
				}
				it.Filters = &scene.FilterMeta{Pair: meta}
				return it
			})
			if !ok {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (s *scannetPairSource) mineScene(ctx context.Context, dir string) minedScene {
	frames, err := scannet.Frames(dir)
	if err != nil {
		return minedScene{err: err}
	}
	ms := minedScene{frames: frames, method: "pose"}
	if len(frames) < 2 {
		return ms
	}
	poses := make([]geometry.Pose, len(frames))
	for n, f := range frames {
		p, ok := readPose(filepath.Join(dir, "pose", f+".txt"))
		if !ok {
			poses, ms.method = nil, "gap"
			break
		}
		poses[n] = p
	}
	cands := filters.Temporal(len(frames))
	if poses != nil {
		cands = filters.ByPose(poses)
	}
	thumbs := newThumbCache(dir, frames, 512)
	dist := func(i, j int) (float64, error) {
		a, err := thumbs.get(i)
		if err != nil {
			return 0, err
		}
		b, err := thumbs.get(j)
		if err != nil {
			return 0, err
		}
		return s.lpips.Distance(ctx, a, b)
	}
	pairs, st, err := filters.Mine(len(frames), cands, dist, s.mine)
	if err != nil {
		ms.err = reject(RejectModel, "scene %s: lpips pair mining: %v", filepath.Base(dir), err)
		return ms
	}
	s.report.addPairs(st)
	s.report.addPairViews(pairs)
	ms.pairs = pairs
	return ms
}

// readPose reads a 4×4 camera-to-world matrix; false when it is missing,
// malformed or not finite (such frames make the scene fall back to gaps).
func readPose(path string) (geometry.Pose, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return geometry.Pose{}, false
	}
	f := strings.Fields(string(b))
	if len(f) != 16 {
		return geometry.Pose{}, false
	}
	var m [4][4]float64
	for n, tok := range f {
		if m[n/4][n%4], err = strconv.ParseFloat(tok, 64); err != nil {
			return geometry.Pose{}, false
		}
	}
	p := geometry.PoseFromMatrix4(m)
	return p, p.IsFinite()
}

// thumbCache holds LPIPS-sized copies of a scene's color frames, decoded on
// demand; a search touches frames near each other, so a bounded cache
// serves long scans without holding them all.
type thumbCache struct {
	dir    string
	frames []string
	max    int
	m      map[int]image.Image
	order  []int
}

func newThumbCache(dir string, frames []string, max int) *thumbCache {
	return &thumbCache{dir: dir, frames: frames, max: max, m: map[int]image.Image{}}
}

func (c *thumbCache) get(i int) (image.Image, error) {
	if img, ok := c.m[i]; ok {
		return img, nil
	}
	v, err := scannet.ReadColor(c.dir, c.frames[i])
	if err != nil {
		return nil, err
	}
	img, err := imaging.Decode(bytes.NewReader(v.Image.Bytes))
	if err != nil {
		return nil, fmt.Errorf("scannet: %s: %w", filepath.Join(c.dir, "color", v.Name+v.Image.Ext), err)
	}
	thumb := imaging.Resize(img, 224, 224, imaging.Box)
	if len(c.order) >= c.max {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
	c.m[i] = thumb
	c.order = append(c.order, i)
	return thumb, nil
}
