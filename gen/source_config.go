package gen

import (
	"fmt"

	"github.com/boostgen/boostgen/filters"
	"github.com/boostgen/boostgen/gen/imgload"
)

// Config sections of the real-input sources (folder, sa1b, video) and of
// the filter stages. They live here, apart from config.go, so that the
// sources can change without touching the core configuration.

// FolderConfig is source.folder: the user's own images.
type FolderConfig struct {
	// Path is a folder (searched recursively, in name order) or a text
	// file listing one image path per line (relative to the list file).
	Path      string `json:"path"`
	MaxPixels int    `json:"max_pixels,omitempty"`
	// Masks filter the optional SA-1B-style annotation file beside each
	// image (photo.jpg + photo.json).
	Masks *MaskConfig `json:"masks,omitempty"`
}

// SA1BConfig is source.sa1b.
type SA1BConfig struct {
	// Path is a tar shard, a folder of tar shards, or an extracted folder
	// of sa_N.jpg + sa_N.json.
	Path      string      `json:"path"`
	MaxPixels int         `json:"max_pixels,omitempty"`
	Masks     *MaskConfig `json:"masks,omitempty"`
}

// MaskConfig filters SA-1B masks (gen/sa1b.Filter).
type MaskConfig struct {
	MinPredictedIoU *float64 `json:"min_predicted_iou,omitempty"`
	MinStability    *float64 `json:"min_stability_score,omitempty"`
	MinArea         *float64 `json:"min_area,omitempty"`
	MaxArea         *float64 `json:"max_area,omitempty"`
	MaxOverlap      *float64 `json:"max_overlap,omitempty"`
	MaxObjects      int      `json:"max_objects,omitempty"`
}

// VideoConfig is source.video.
type VideoConfig struct {
	Path      string  `json:"path"` // a video file or a folder of them
	FPS       float64 `json:"fps,omitempty"`
	MaxFrames int     `json:"max_frames,omitempty"`
	MaxSide   int     `json:"max_side,omitempty"`
	// GapFrames pairs frame i with frame i+GapFrames when no LPIPS model
	// is configured.
	GapFrames int    `json:"gap_frames,omitempty"`
	FFmpeg    string `json:"ffmpeg,omitempty"` // default $BOOSTGEN_FFMPEG, then ffmpeg on PATH
}

// FiltersConfig is the filters section.
type FiltersConfig struct {
	CLIP   *CLIPFilterConfig `json:"clip,omitempty"`
	Naming *NamingConfig     `json:"naming,omitempty"`
	LPIPS  *LPIPSConfig      `json:"lpips,omitempty"`
	// CLIPModel and LPIPSModel locate the models the stages use.
	CLIPModel  *CLIPModelConfig  `json:"clip_model,omitempty"`
	LPIPSModel *LPIPSModelConfig `json:"lpips_model,omitempty"`
}

// CLIPFilterConfig is filters.clip: keep single images whose best label is
// positive.
type CLIPFilterConfig struct {
	Labels []filters.Label `json:"labels,omitempty"` // default: Table 11
	Margin float64         `json:"margin,omitempty"`
}

// NamingConfig is filters.naming: CLIP zero-shot names for unlabeled masks.
type NamingConfig struct {
	Vocabulary []string `json:"vocabulary,omitempty"`
	Prompt     string   `json:"prompt,omitempty"`
	Margin     *float64 `json:"margin,omitempty"`
}

// LPIPSConfig is filters.lpips: pair mining for videos.
type LPIPSConfig struct {
	Min      *float64 `json:"min,omitempty"`
	Max      *float64 `json:"max,omitempty"`
	PerFrame int      `json:"per_frame,omitempty"`
	PerClip  int      `json:"per_clip,omitempty"`
	Probes   int      `json:"probes,omitempty"`
}

// CLIPModelConfig locates a CLIP export (internal/models/clip).
type CLIPModelConfig struct {
	Vision         string `json:"vision"`
	Text           string `json:"text,omitempty"`
	Vocab          string `json:"vocab,omitempty"`
	TextEmbeddings string `json:"text_embeddings,omitempty"`
	Size           int    `json:"size,omitempty"`
	ORTLibrary     string `json:"ort_library,omitempty"`
}

// LPIPSModelConfig locates an LPIPS export (internal/models/lpips).
type LPIPSModelConfig struct {
	Path       string `json:"path"`
	Size       int    `json:"size,omitempty"`
	ORTLibrary string `json:"ort_library,omitempty"`
}

// DefaultVocabulary names common objects of indoor and street scenes; a
// run on other data should set its own.
var DefaultVocabulary = []string{
	"person", "chair", "table", "sofa", "bed", "lamp", "television", "laptop", "book", "bottle",
	"cup", "bowl", "plant", "vase", "clock", "picture frame", "door", "window", "cabinet", "shelf",
	"box", "bag", "backpack", "pillow", "car", "bicycle", "motorcycle", "bus", "truck", "tree",
	"building", "traffic light", "street sign", "bench", "dog", "cat", "bird", "umbrella", "ball", "shoe",
}

func (c *Config) applySourceDefaults() {
	mask := func(m **MaskConfig) {
		if *m == nil {
			*m = &MaskConfig{}
		}
		x := *m
		def := func(p **float64, v float64) {
			if *p == nil {
				*p = ptr(v)
			}
		}
		// SAM's automatic mask generator defaults (pred_iou_thresh 0.88,
		// stability_score_thresh 0.95); the area range drops specks and
		// the sky.
		def(&x.MinPredictedIoU, 0.88)
		def(&x.MinStability, 0.95)
		def(&x.MinArea, 0.002)
		def(&x.MaxArea, 0.6)
		def(&x.MaxOverlap, 0.2)
		if x.MaxObjects == 0 {
			x.MaxObjects = 24
		}
	}
	if f := c.Source.Folder; f != nil {
		if f.MaxPixels == 0 {
			f.MaxPixels = imgload.DefaultMaxPixels
		}
		mask(&f.Masks)
	}
	if s := c.Source.SA1B; s != nil {
		if s.MaxPixels == 0 {
			s.MaxPixels = imgload.DefaultMaxPixels
		}
		mask(&s.Masks)
	}
	if v := c.Source.Video; v != nil {
		if v.FPS == 0 {
			v.FPS = 2
		}
		if v.MaxFrames == 0 {
			v.MaxFrames = 300
		}
		if v.MaxSide == 0 {
			v.MaxSide = 640
		}
		if v.GapFrames == 0 {
			v.GapFrames = 4
		}
	}
	f := c.Filters
	if f == nil {
		return
	}
	if f.CLIP != nil && len(f.CLIP.Labels) == 0 {
		f.CLIP.Labels = append([]filters.Label(nil), filters.Table11...)
	}
	if n := f.Naming; n != nil {
		if len(n.Vocabulary) == 0 {
			n.Vocabulary = append([]string(nil), DefaultVocabulary...)
		}
		if n.Prompt == "" {
			n.Prompt = "a photo of a {label}"
		}
		if n.Margin == nil {
			n.Margin = ptr(0.1)
		}
	}
	if l := f.LPIPS; l != nil {
		d := filters.DefaultMineOptions
		if l.Min == nil {
			l.Min = ptr(d.Lo)
		}
		if l.Max == nil {
			l.Max = ptr(d.Hi)
		}
		if l.PerFrame == 0 {
			l.PerFrame = d.PerFrame
		}
		if l.Probes == 0 {
			l.Probes = d.Probes
		}
	}
	if m := f.CLIPModel; m != nil && m.Size == 0 {
		m.Size = 224
	}
	if m := f.LPIPSModel; m != nil && m.Size == 0 {
		m.Size = 224
	}
}

func (c *Config) checkSources() error {
	need := map[string]bool{"folder": c.Source.Folder == nil, "sa1b": c.Source.SA1B == nil, "video": c.Source.Video == nil}
	if missing, ok := need[c.Source.Type]; ok && missing {
		return fmt.Errorf("source.%s: required when source.type is %s", c.Source.Type, c.Source.Type)
	}
	f := c.Filters
	if f == nil {
		return nil
	}
	if (f.CLIP != nil || f.Naming != nil) && f.CLIPModel == nil {
		return fmt.Errorf("filters.clip_model: required by filters.clip and filters.naming")
	}
	if f.LPIPS != nil && f.LPIPSModel == nil {
		return fmt.Errorf("filters.lpips_model: required by filters.lpips")
	}
	if l := f.LPIPS; l != nil && *l.Min > *l.Max {
		return fmt.Errorf("filters.lpips: min (%v) is above max (%v)", *l.Min, *l.Max)
	}
	if m := f.CLIPModel; m != nil && m.Text != "" && m.TextEmbeddings != "" {
		return fmt.Errorf("filters.clip_model: set text (with vocab) or text_embeddings, not both")
	}
	if m := f.CLIPModel; m != nil && m.Text == "" && m.TextEmbeddings == "" {
		return fmt.Errorf("filters.clip_model: set text (with vocab) or text_embeddings")
	}
	if m := f.CLIPModel; m != nil && m.Text != "" && m.Vocab == "" {
		return fmt.Errorf("filters.clip_model.vocab: required with text (CLIP's bpe_simple_vocab_16e6.txt.gz)")
	}
	return nil
}
