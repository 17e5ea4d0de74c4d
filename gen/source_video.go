package gen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/disintegration/imaging"

	"github.com/boostgen/boostgen/filters"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/models/lpips"
)

var videoExts = map[string]bool{".mp4": true, ".mov": true, ".webm": true, ".mkv": true, ".avi": true, ".m4v": true}

// videoSource turns videos into two-view items: ffmpeg decodes frames at
// the configured rate into a pipe (no frame files on disk), pairs are mined
// with LPIPS (or taken at a fixed gap), and each pair is one item, with up
// to 6 frames between the two for the LLM view interpolation
// (Item.Between). One video's frames are held in memory (as JPEG q95, plus
// a small copy for LPIPS) while its pairs are listed; a listed pair keeps
// only its own frames.
type videoSource struct {
	cfg    *VideoConfig
	ffmpeg string
	root   string
	videos []string
	lpips  *lpips.Model
	mine   filters.MineOptions
	report *FilterReport
	// seg and namer give each pair's first frame SAM 2's masks, named
	// zero-shot (nil unless geometry.masks is sam2).
	seg   *segmenter
	namer *filters.Namer

	mined minedOnce[minedPairs] // video path → its pairs
}

type minedPairs struct {
	pairs  []filters.Pair
	method string
	err    error
}

// ffmpegPath finds ffmpeg: the config, then $BOOSTGEN_FFMPEG, then PATH.
func ffmpegPath(vc *VideoConfig) (string, error) {
	p := vc.FFmpeg
	if p == "" {
		p = os.Getenv("BOOSTGEN_FFMPEG")
	}
	if p == "" {
		p = "ffmpeg"
	}
	found, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("source.video: ffmpeg is needed to read videos and %q was not found: install it (apt-get install ffmpeg, or scripts/setup/ffmpeg.sh) or set source.video.ffmpeg / BOOSTGEN_FFMPEG", p)
	}
	return found, nil
}

func newVideoSource(cfg *Config) (*videoSource, error) {
	vc := cfg.Source.Video
	ff, err := ffmpegPath(vc)
	if err != nil {
		return nil, err
	}
	p := cfg.Resolve(vc.Path)
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("source.video.path: %w", err)
	}
	s := &videoSource{cfg: vc, ffmpeg: ff, root: p, report: cfg.newFilterReport()}
	if st.IsDir() {
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && videoExts[strings.ToLower(filepath.Ext(path))] {
				s.videos = append(s.videos, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("source.video.path: %w", err)
		}
	} else {
		s.root = filepath.Dir(p)
		s.videos = []string{p}
	}
	if f := cfg.Filters; f != nil && f.LPIPS != nil {
		if s.lpips, err = loadLPIPS(cfg); err != nil {
			return nil, err
		}
		s.mine = mineOptions(f.LPIPS)
	}
	if s.seg, err = loadSegmenter(cfg); err != nil {
		return nil, err
	}
	if f := cfg.Filters; s.seg != nil && f != nil && f.Naming != nil {
		m, err := loadCLIP(cfg)
		if err != nil {
			return nil, err
		}
		if s.namer, err = newNamer(f.Naming, m); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Count is unknown: the number of pairs depends on the frames.
func (s *videoSource) Count() int { return -1 }

func (s *videoSource) Tasks(ctx context.Context, yield func(Task) bool) error {
	index := 0
	emit := func(id string, load func(ctx context.Context) *scene.Item) bool {
		if ctx.Err() != nil {
			return false
		}
		idx := index
		index++
		return yield(Task{Index: idx, ID: id, Load: func(ctx context.Context) *scene.Item {
			it := load(ctx)
			it.ID, it.Index, it.Source = id, idx, "video"
			return it
		}})
	}
	failed := func(id string, err error) bool {
		return emit(id, func(context.Context) *scene.Item { return &scene.Item{Err: err} })
	}
	for _, path := range s.videos {
		rel, err := filepath.Rel(s.root, path)
		if err != nil {
			rel = filepath.Base(path)
		}
		rel = filepath.ToSlash(rel)
		frames, err := s.decode(ctx, path)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if !failed(rel, reject(RejectSource, "video %s: %v", rel, err)) {
				return ctx.Err()
			}
			continue
		}
		mp := s.mined.get(ctx, path, func() minedPairs { return s.pairs(ctx, frames) })
		pairs, method, err := mp.pairs, mp.method, mp.err
		if err != nil {
			if !failed(rel, reject(RejectModel, "video %s: %v", rel, err)) {
				return ctx.Err()
			}
			continue
		}
		if len(pairs) == 0 {
			if !failed(rel, reject(RejectNoPair, "video %s: no frame pair among %d frames (%s)", rel, len(frames), method)) {
				return ctx.Err()
			}
			continue
		}
		for _, p := range pairs {
			// The task holds its own frames' JPEGs (shared with frames,
			// not copied), never the whole video: once listing moves on,
			// only the frames of pairs still in flight stay in memory.
			views := []scene.View{frames[p.A].view(p.A), frames[p.B].view(p.B)}
			meta := &scene.PairMeta{Frames: [2]int{p.A, p.B}, Method: method, Between: betweenFrames(p.A, p.B)}
			between := make([]scene.View, len(meta.Between))
			for k, f := range meta.Between {
				between[k] = frames[f].view(f)
			}
			if method == "lpips" {
				d := p.LPIPS
				meta.LPIPS = &d
			}
			id := fmt.Sprintf("%s#%06d-%06d", rel, p.A, p.B)
			ok := emit(id, func(ctx context.Context) *scene.Item {
				it := &scene.Item{Views: views, Between: between, Filters: &scene.FilterMeta{Pair: meta}}
				if s.seg != nil {
					s.segment(ctx, it)
				}
				return it
			})
			if !ok {
				return ctx.Err()
			}
		}
	}
	return nil
}

// segment gives a pair's first frame SAM 2's masks and names; the second
// frame gets an empty instance map. SAM 2 runs per image here (its video
// tracking is not used), so the same object is not matched across the
// frames, and objects are measured in the first frame only.
func (s *videoSource) segment(ctx context.Context, it *scene.Item) {
	v := &it.Views[0]
	img, err := jpeg.Decode(bytes.NewReader(v.Image.Bytes))
	if err != nil {
		it.Err = reject(RejectSource, "view %s: %v", v.Name, err)
		return
	}
	px := imaging.Clone(img)
	inst, sel, err := s.seg.segment(ctx, px)
	if err != nil {
		it.Err = fmt.Errorf("view %s: %w", v.Name, err)
		return
	}
	objs, nm, err := labelObjects(ctx, s.namer, s.report, px, inst, sel)
	if err != nil {
		it.Err = reject(RejectModel, "view %s: naming masks: %v", v.Name, err)
		return
	}
	v.Instances = inst
	for n := 1; n < len(it.Views); n++ {
		it.Views[n].Instances = make([]uint16, it.Views[n].W*it.Views[n].H)
	}
	it.Objects, it.Filters.Naming, it.Masks = objs, nm, MasksSAM2
	it.MasksMayCoverFloor = true
}

// frame is one decoded video frame.
type frame struct {
	jpg   []byte // as stored in the dataset (video frames are lossy already)
	w, h  int
	thumb image.Image // small copy for LPIPS
}

func (f frame) view(n int) scene.View {
	return scene.View{Name: fmt.Sprintf("frame %06d", n), Image: scene.Image{Bytes: f.jpg, Ext: ".jpg"}, W: f.w, H: f.h}
}

// pairs lists a video's frame pairs: mined with LPIPS, or at a fixed gap
// without an LPIPS model.
func (s *videoSource) pairs(ctx context.Context, frames []frame) minedPairs {
	n := len(frames)
	if s.lpips == nil {
		var out []filters.Pair
		for i := 0; i+s.cfg.GapFrames < n; i += s.cfg.GapFrames {
			out = append(out, filters.Pair{A: i, B: i + s.cfg.GapFrames})
		}
		s.report.addPairViews(out)
		return minedPairs{pairs: out, method: "gap"}
	}
	dist := func(i, j int) (float64, error) { return s.lpips.Distance(ctx, frames[i].thumb, frames[j].thumb) }
	pairs, st, err := filters.Mine(n, filters.Temporal(n), dist, s.mine)
	if err != nil {
		return minedPairs{method: "lpips", err: fmt.Errorf("lpips pair mining: %w", err)}
	}
	s.report.addPairs(st)
	s.report.addPairViews(pairs)
	return minedPairs{pairs: pairs, method: "lpips"}
}

// decode runs ffmpeg and reads its PNG frames from the pipe. A video
// ffmpeg cannot read is an error carrying ffmpeg's own message.
func (s *videoSource) decode(ctx context.Context, path string) ([]frame, error) {
	side := s.cfg.MaxSide
	vf := fmt.Sprintf("fps=%g,scale='if(gte(iw,ih),min(iw,%d),-2)':'if(gte(iw,ih),-2,min(ih,%d))'", s.cfg.FPS, side, side)
	cmd := exec.CommandContext(ctx, s.ffmpeg, "-nostdin", "-v", "error", "-i", path,
		"-an", "-sn", "-dn", "-vf", vf, "-frames:v", fmt.Sprint(s.cfg.MaxFrames),
		"-f", "image2pipe", "-vcodec", "png", "-compression_level", "1", "-")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting ffmpeg: %w", err)
	}
	var frames []frame
	r := bufio.NewReaderSize(out, 1<<20)
	var readErr error
	for {
		data, err := nextPNG(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			readErr = fmt.Errorf("frame %d: %w", len(frames), err)
			break
		}
		var jb bytes.Buffer
		if err := jpeg.Encode(&jb, img, &jpeg.Options{Quality: 95}); err != nil {
			readErr = fmt.Errorf("frame %d: %w", len(frames), err)
			break
		}
		b := img.Bounds()
		frames = append(frames, frame{jpg: jb.Bytes(), w: b.Dx(), h: b.Dy(), thumb: imaging.Resize(img, 224, 224, imaging.Box)})
	}
	io.Copy(io.Discard, r)
	waitErr := cmd.Wait()
	if waitErr != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = waitErr.Error()
		}
		return nil, fmt.Errorf("ffmpeg cannot read it: %s", msg)
	}
	if readErr != nil {
		return nil, readErr
	}
	if len(frames) < 2 {
		return nil, fmt.Errorf("ffmpeg gave %d frames at %g fps; need at least 2", len(frames), s.cfg.FPS)
	}
	return frames, nil
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// nextPNG reads one PNG file from a stream of concatenated PNGs by walking
// its chunks to IEND; io.EOF means the stream ended between files.
func nextPNG(r *bufio.Reader) ([]byte, error) {
	head := make([]byte, 8)
	if _, err := io.ReadFull(r, head); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("ffmpeg output ends inside a frame: %w", err)
	}
	if !bytes.Equal(head, pngMagic) {
		return nil, fmt.Errorf("ffmpeg output is not a PNG stream")
	}
	buf := bytes.NewBuffer(head)
	for {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return nil, fmt.Errorf("ffmpeg output ends inside a frame: %w", err)
		}
		n := binary.BigEndian.Uint32(h[:4])
		if n > 1<<28 {
			return nil, fmt.Errorf("ffmpeg output has a %d-byte PNG chunk", n)
		}
		buf.Write(h[:])
		if _, err := io.CopyN(buf, r, int64(n)+4); err != nil { // data + CRC
			return nil, fmt.Errorf("ffmpeg output ends inside a frame: %w", err)
		}
		if string(h[4:8]) == "IEND" {
			return buf.Bytes(), nil
		}
	}
}
