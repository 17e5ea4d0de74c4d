package sa1b

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// File is an SA-1B annotation file (sa_N.json).
type File struct {
	Image       ImageInfo    `json:"image"`
	Annotations []Annotation `json:"annotations"`
}

// ImageInfo describes the image the masks belong to.
type ImageInfo struct {
	ID       int64  `json:"image_id"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	FileName string `json:"file_name"`
}

// Annotation is one automatically generated mask.
type Annotation struct {
	ID             int64        `json:"id"`
	Segmentation   Segmentation `json:"segmentation"`
	Area           float64      `json:"area"`
	PredictedIoU   float64      `json:"predicted_iou"`
	StabilityScore float64      `json:"stability_score"`
	// Label is not in SA-1B; an annotation file a user writes for their own
	// folder may name its masks, and then no zero-shot naming is needed.
	Label string `json:"label,omitempty"`
}

// Segmentation is a COCO compressed RLE.
type Segmentation struct {
	Size   []int  `json:"size"` // [height, width]
	Counts string `json:"counts"`
}

// ParseFile decodes an annotation file; name is used in errors.
func ParseFile(data []byte, name string) (*File, error) {
	var f File
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: not an SA-1B annotation file: %w", name, err)
	}
	return &f, nil
}

// Filter says which masks are kept (paper, Section 4.1: SAM's own quality
// scores) and how overlapping masks are resolved.
type Filter struct {
	MinPredictedIoU float64
	MinStability    float64
	MinArea         float64 // share of the image
	MaxArea         float64 // share of the image; 0 = no limit
	// MaxOverlap is the largest share of a mask that may lie under masks
	// already chosen; SA-1B nests parts inside wholes, and the questions
	// need separate objects.
	MaxOverlap float64
	MaxObjects int // 0 = no limit
}

// Selected is one chosen mask and its instance id in the map.
type Selected struct {
	ID         uint16
	Annotation *Annotation
	Mask       *RLE
	Pixels     int // pixels it owns in the instance map
}

// SelectStats counts why masks were dropped.
type SelectStats struct {
	Masks, LowScore, Area, Overlap, Cap int
}

// Select decodes the masks of f for a w×h image, drops those below the
// filter's scores or outside its area range, and chooses a set of
// non-overlapping objects, largest first. It returns the row-major
// instance map (0 = no object, Selected.ID otherwise). A mask whose RLE is
// malformed or whose size differs from the image is an error naming it.
func Select(f *File, w, h int, flt Filter) ([]uint16, []Selected, SelectStats, error) {
	var ms []Decoded
	low := 0 // dropped by score here, so that their masks are never decoded
	for i := range f.Annotations {
		a := &f.Annotations[i]
		sz := a.Segmentation.Size
		if len(sz) != 2 || sz[0] != h || sz[1] != w {
			return nil, nil, SelectStats{}, fmt.Errorf("annotation %d: segmentation size %v, but the image is %d×%d (want [%d, %d])", a.ID, sz, w, h, h, w)
		}
		if a.PredictedIoU < flt.MinPredictedIoU || a.StabilityScore < flt.MinStability {
			low++
			continue
		}
		rle, err := DecodeCounts(a.Segmentation.Counts, h, w)
		if err != nil {
			return nil, nil, SelectStats{}, fmt.Errorf("annotation %d: %w", a.ID, err)
		}
		ms = append(ms, Decoded{Annotation: a, Mask: rle})
	}
	inst, out, st := SelectDecoded(ms, w, h, flt)
	st.Masks += low
	st.LowScore += low
	return inst, out, st, nil
}

// Decoded is an annotation with its mask already decoded (or made by a
// segmentation model); the mask must be the image's size.
type Decoded struct {
	Annotation *Annotation
	Mask       *RLE
}

// SelectDecoded is Select's choice over masks already decoded: the same
// score and area filters, and the same resolution of overlaps, largest
// first, so that masks from a model become objects exactly as SA-1B's do.
func SelectDecoded(ms []Decoded, w, h int, flt Filter) ([]uint16, []Selected, SelectStats) {
	var st SelectStats
	st.Masks = len(ms)
	total := float64(w * h)
	type cand struct {
		a    *Annotation
		rle  *RLE
		area int
	}
	var cands []cand
	for _, m := range ms {
		a := m.Annotation
		if a.PredictedIoU < flt.MinPredictedIoU || a.StabilityScore < flt.MinStability {
			st.LowScore++
			continue
		}
		area := m.Mask.Area()
		frac := float64(area) / total
		if area == 0 || frac < flt.MinArea || (flt.MaxArea > 0 && frac > flt.MaxArea) {
			st.Area++
			continue
		}
		cands = append(cands, cand{a, m.Mask, area})
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].area != cands[j].area {
			return cands[i].area > cands[j].area
		}
		return cands[i].a.ID < cands[j].a.ID
	})
	inst := make([]uint16, w*h)
	var out []Selected
	for _, c := range cands {
		if flt.MaxObjects > 0 && len(out) >= flt.MaxObjects || len(out) >= 65535 {
			st.Cap++
			continue
		}
		taken := 0
		c.rle.Foreground(func(start, n int) {
			for p := start; p < start+n; p++ {
				if inst[(p%h)*w+p/h] != 0 {
					taken++
				}
			}
		})
		if float64(taken) > flt.MaxOverlap*float64(c.area) {
			st.Overlap++
			continue
		}
		id := uint16(len(out) + 1)
		c.rle.Foreground(func(start, n int) {
			for p := start; p < start+n; p++ {
				if q := (p%h)*w + p/h; inst[q] == 0 {
					inst[q] = id
				}
			}
		})
		out = append(out, Selected{ID: id, Annotation: c.a, Mask: c.rle, Pixels: c.area - taken})
	}
	return inst, out, st
}

// Sample is one image and its annotation file as read from a shard or a
// folder. Err is set when the pair is incomplete or could not be read; the
// sample still has a Name so that the run can report it.
type Sample struct {
	Name      string // "sa_1"
	Image     []byte
	ImageName string // "sa_1.jpg"
	JSON      []byte
	Err       error
}

// maxMember bounds one tar member read into memory; SA-1B images are a few
// MB and their JSON files about as much.
const maxMember = 256 << 20

var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".webp": true}

// ReadTar streams the samples of a tar shard in the order their files
// appear, pairing sa_N.<image> with sa_N.json whichever comes first. Only
// the pairs not yet complete are held in memory (in the published shards
// the two files are adjacent). yield returning false stops the reading.
func ReadTar(r io.Reader, shard string, yield func(Sample) bool) error {
	tr := tar.NewReader(r)
	pending := map[string]*Sample{}
	done := map[string]bool{} // stems already yielded: one sample per stem
	var order []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", shard, err)
		}
		stem, ok := sampleStem(hdr)
		if !ok || done[stem] {
			continue
		}
		s := pending[stem]
		if s == nil {
			s = &Sample{Name: stem}
			pending[stem] = s
			order = append(order, stem)
		}
		var data []byte
		if hdr.Size > maxMember {
			s.Err = fmt.Errorf("%s: %s is %d bytes, over the %d-byte limit", shard, hdr.Name, hdr.Size, maxMember)
		} else if data, err = io.ReadAll(tr); err != nil {
			return fmt.Errorf("%s: %s: %w", shard, hdr.Name, err)
		}
		base := path.Base(hdr.Name)
		if strings.EqualFold(path.Ext(base), ".json") {
			s.JSON = data
		} else {
			s.Image, s.ImageName = data, base
		}
		if s.Err != nil || (s.JSON != nil && s.Image != nil) {
			delete(pending, stem)
			done[stem] = true
			if !yield(*s) {
				return nil
			}
		}
	}
	// Files without their partner, in the order they were met.
	for _, stem := range order {
		s, ok := pending[stem]
		if !ok {
			continue
		}
		if s.Image == nil {
			s.Err = fmt.Errorf("%s: %s.json has no image beside it", shard, stem)
		} else {
			s.Err = fmt.Errorf("%s: %s has no %s.json beside it", shard, s.ImageName, stem)
		}
		if !yield(*s) {
			return nil
		}
	}
	return nil
}

// CountTar is the number of samples ReadTar yields for a shard, counted
// from the member headers alone (archive/tar seeks over the contents of a
// file).
func CountTar(r io.Reader) (int, error) {
	tr := tar.NewReader(r)
	stems := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return len(stems), nil
		}
		if err != nil {
			return 0, err
		}
		if s, ok := sampleStem(hdr); ok {
			stems[s] = true
		}
	}
}

// sampleStem is the stem of a member ReadTar reads ("sa_1" for
// "sa_1.jpg"), or false for members it skips.
func sampleStem(hdr *tar.Header) (string, bool) {
	if hdr.Typeflag != tar.TypeReg {
		return "", false
	}
	base := path.Base(hdr.Name)
	ext := strings.ToLower(path.Ext(base))
	if strings.HasPrefix(base, ".") || (ext != ".json" && !imageExts[ext]) {
		return "", false
	}
	return strings.TrimSuffix(base, path.Ext(base)), true
}

// FolderSample reads the pair for the image at path: the image and the
// annotation file with the same stem beside it.
func FolderSample(imagePath string) Sample {
	base := filepath.Base(imagePath)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	s := Sample{Name: stem, ImageName: base}
	var err error
	if s.Image, err = os.ReadFile(imagePath); err != nil {
		s.Err = err
		return s
	}
	jpath := strings.TrimSuffix(imagePath, filepath.Ext(imagePath)) + ".json"
	if s.JSON, err = os.ReadFile(jpath); err != nil {
		s.Err = fmt.Errorf("%s has no annotation file: %w", imagePath, err)
	}
	return s
}
