package gen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/boostgen/boostgen/gen/sa1b"
	"github.com/boostgen/boostgen/gen/scene"
)

// sa1bSource reads SA-1B: tar shards streamed member by member (an image
// and its annotation file are held only until their task is loaded), or an
// extracted folder.
type sa1bSource struct {
	shards []string // tar files, in name order
	images []string // or: images of an extracted folder, in numeric order
	stage  *imageStage
}

func newSA1BSource(cfg *Config) (*sa1bSource, error) {
	sc := cfg.Source.SA1B
	p := cfg.Resolve(sc.Path)
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("source.sa1b.path: %w", err)
	}
	s := &sa1bSource{}
	switch {
	case !st.IsDir():
		s.shards = []string{p}
	default:
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("source.sa1b.path: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			ext := strings.ToLower(filepath.Ext(name))
			switch {
			case e.IsDir() || strings.HasPrefix(name, "."):
			case ext == ".tar":
				s.shards = append(s.shards, filepath.Join(p, name))
			case folderImageExts[ext]:
				s.images = append(s.images, filepath.Join(p, name))
			}
		}
		if len(s.shards) > 0 && len(s.images) > 0 {
			return nil, fmt.Errorf("source.sa1b.path: %s holds both tar shards and images; point at one or the other", p)
		}
		if len(s.shards) == 0 && len(s.images) == 0 {
			return nil, fmt.Errorf("source.sa1b.path: %s holds no .tar shards and no sa_N.jpg images", p)
		}
		sort.Slice(s.images, func(i, j int) bool { return saLess(s.images[i], s.images[j]) })
	}
	if s.stage, err = newImageStage(cfg, "sa1b", sc.MaxPixels, sc.Masks); err != nil {
		return nil, err
	}
	return s, nil
}

// saLess orders sa_2.jpg before sa_10.jpg.
func saLess(a, b string) bool {
	na, ea := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(filepath.Base(a), filepath.Ext(a)), "sa_"))
	nb, eb := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(filepath.Base(b), filepath.Ext(b)), "sa_"))
	if ea == nil && eb == nil && na != nb {
		return na < nb
	}
	return a < b
}

// Count reads the shards' member headers only (the contents are skipped
// by seeking); -1 if a shard cannot be read, and the run counts by listing.
func (s *sa1bSource) Count() int {
	n := len(s.images)
	for _, shard := range s.shards {
		f, err := os.Open(shard)
		if err != nil {
			return -1
		}
		c, err := sa1b.CountTar(f)
		f.Close()
		if err != nil {
			return -1
		}
		n += c
	}
	return n
}

func (s *sa1bSource) Tasks(ctx context.Context, yield func(Task) bool) error {
	index := 0
	emit := func(sample sa1b.Sample) bool {
		if ctx.Err() != nil {
			return false
		}
		idx, id := index, sample.Name
		index++
		return yield(Task{Index: idx, ID: id, Load: func(ctx context.Context) *scene.Item {
			return s.stage.item(ctx, id, idx, sample)
		}})
	}
	for _, path := range s.images {
		if !emit(sa1b.FolderSample(path)) {
			return ctx.Err()
		}
	}
	for _, shard := range s.shards {
		f, err := os.Open(shard)
		if err != nil {
			return err
		}
		stopped := false
		err = sa1b.ReadTar(f, filepath.Base(shard), func(sample sa1b.Sample) bool {
			stopped = !emit(sample)
			return !stopped
		})
		f.Close()
		if err != nil {
			return err
		}
		if stopped {
			return ctx.Err()
		}
	}
	return nil
}
