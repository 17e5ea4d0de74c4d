package gen

import (
	"context"
	"fmt"
	"image"
	"math"

	"github.com/boostgen/boostgen/filters"
	"github.com/boostgen/boostgen/gen/sa1b"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/models/imgprep"
	"github.com/boostgen/boostgen/internal/models/sam2"
)

// Mask modes (geometry.masks).
const (
	MasksSource = "source" // the source's own masks only
	MasksSAM2   = "sam2"   // SAM 2 for items whose source has none
)

// SAM2Config locates a SAM 2 export (encoder and decoder), states its
// contract, and sets the automatic mask generator; empty fields take
// samexporter's names and SAM2AutomaticMaskGenerator's defaults. The area,
// overlap and count limits then choose objects among the masks as
// source.sa1b.masks does for SA-1B's.
type SAM2Config struct {
	Encoder       string    `json:"encoder"`
	Decoder       string    `json:"decoder"`
	ImageInput    string    `json:"image_input,omitempty"`
	HighResFeats0 string    `json:"high_res_feats_0,omitempty"`
	HighResFeats1 string    `json:"high_res_feats_1,omitempty"`
	ImageEmbed    string    `json:"image_embed,omitempty"`
	PointCoords   string    `json:"point_coords,omitempty"`
	PointLabels   string    `json:"point_labels,omitempty"`
	MaskInput     string    `json:"mask_input,omitempty"`
	HasMaskInput  string    `json:"has_mask_input,omitempty"`
	MasksOutput   string    `json:"masks_output,omitempty"`
	IoUOutput     string    `json:"iou_output,omitempty"`
	Size          int       `json:"size,omitempty"`
	MaskInputSize int       `json:"mask_input_size,omitempty"`
	Mean          []float64 `json:"mean,omitempty"`
	Std           []float64 `json:"std,omitempty"`

	PointsPerSide   int      `json:"points_per_side,omitempty"`
	PointsPerBatch  int      `json:"points_per_batch,omitempty"`
	PredIoUThresh   *float64 `json:"pred_iou_thresh,omitempty"`
	StabilityThresh *float64 `json:"stability_score_thresh,omitempty"`
	StabilityOffset *float64 `json:"stability_score_offset,omitempty"`
	MaskThreshold   *float64 `json:"mask_threshold,omitempty"`
	BoxNMSThresh    *float64 `json:"box_nms_thresh,omitempty"`

	MinArea    *float64 `json:"min_area,omitempty"`
	MaxArea    *float64 `json:"max_area,omitempty"`
	MaxOverlap *float64 `json:"max_overlap,omitempty"`
	MaxObjects int      `json:"max_objects,omitempty"`
}

func (s *SAM2Config) applyDefaults() {
	def := sam2.Defaults()
	fill(&s.ImageInput, def.Image)
	fill(&s.HighResFeats0, def.HighRes0)
	fill(&s.HighResFeats1, def.HighRes1)
	fill(&s.ImageEmbed, def.Embed)
	fill(&s.PointCoords, def.PointCoords)
	fill(&s.PointLabels, def.PointLabels)
	fill(&s.MaskInput, def.MaskInput)
	fill(&s.HasMaskInput, def.HasMaskInput)
	fill(&s.MasksOutput, def.Masks)
	fill(&s.IoUOutput, def.IoU)
	if s.Size == 0 {
		s.Size = def.Size
	}
	if s.MaskInputSize == 0 {
		s.MaskInputSize = def.MaskInputSize
	}
	if s.Mean == nil {
		s.Mean = f64s(def.Norm.Mean)
	}
	if s.Std == nil {
		s.Std = f64s(def.Norm.Std)
	}
	o := sam2.DefaultOptions()
	if s.PointsPerSide == 0 {
		s.PointsPerSide = o.PointsPerSide
	}
	if s.PointsPerBatch == 0 {
		s.PointsPerBatch = o.PointsPerBatch
	}
	set := func(p **float64, v float64) {
		if *p == nil {
			*p = ptr(v)
		}
	}
	set(&s.PredIoUThresh, o.PredIoUThresh)
	set(&s.StabilityThresh, o.StabilityThresh)
	set(&s.StabilityOffset, o.StabilityOffset)
	set(&s.MaskThreshold, o.MaskThreshold)
	set(&s.BoxNMSThresh, o.BoxNMSThresh)
	// As source.sa1b.masks: drop specks and the floor, walls and sky;
	// keep parts out of the wholes already taken.
	set(&s.MinArea, 0.002)
	set(&s.MaxArea, 0.6)
	set(&s.MaxOverlap, 0.2)
	if s.MaxObjects == 0 {
		s.MaxObjects = 24
	}
}

// segmenter gives the items of the folder and video sources whose source
// has no masks SAM 2's: the automatic mask generator, then the same choice
// of separate objects as SA-1B's masks get. One is shared by all workers.
type segmenter struct {
	model *sam2.Model
	opts  sam2.Options
	flt   sa1b.Filter
}

// loadSegmenter loads SAM 2 when geometry.masks is sam2, or returns nil.
func loadSegmenter(cfg *Config) (*segmenter, error) {
	if cfg.Geometry.Masks != MasksSAM2 {
		return nil, nil
	}
	s := cfg.Models.SAM2
	m, err := sam2.New(sam2.Config{
		EncoderPath: cfg.Resolve(s.Encoder), DecoderPath: cfg.Resolve(s.Decoder),
		Image: s.ImageInput, HighRes0: s.HighResFeats0, HighRes1: s.HighResFeats1, Embed: s.ImageEmbed,
		PointCoords: s.PointCoords, PointLabels: s.PointLabels, MaskInput: s.MaskInput, HasMaskInput: s.HasMaskInput,
		Masks: s.MasksOutput, IoU: s.IoUOutput, Size: s.Size, MaskInputSize: s.MaskInputSize,
		Norm: imgprep.Norm{Mean: f32s(s.Mean), Std: f32s(s.Std)},
		ORT:  filterORT(cfg, ""),
	})
	if err != nil {
		return nil, fmt.Errorf("models.sam2: %w", err)
	}
	return &segmenter{
		model: m,
		opts: sam2.Options{
			PointsPerSide: s.PointsPerSide, PointsPerBatch: s.PointsPerBatch,
			PredIoUThresh: *s.PredIoUThresh, StabilityThresh: *s.StabilityThresh, StabilityOffset: *s.StabilityOffset,
			MaskThreshold: *s.MaskThreshold, BoxNMSThresh: *s.BoxNMSThresh,
		},
		// The generator has applied SAM's own score thresholds.
		flt: sa1b.Filter{MinArea: *s.MinArea, MaxArea: *s.MaxArea, MaxOverlap: *s.MaxOverlap, MaxObjects: s.MaxObjects},
	}, nil
}

// segment makes img's instance map and objects. A model failure (NaN
// included) is a model reject; no mask left is a masks reject saying where
// they went.
func (s *segmenter) segment(ctx context.Context, img image.Image) ([]uint16, []sa1b.Selected, error) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	o := s.opts
	// Specks are dropped before NMS, so that they cannot suppress anything.
	o.MinArea = int(math.Ceil(s.flt.MinArea * float64(w*h)))
	masks, st, err := s.model.Generate(ctx, img, o)
	if err != nil {
		return nil, nil, reject(RejectModel, "sam2: %v", err)
	}
	ds := make([]sa1b.Decoded, len(masks))
	for i := range masks {
		m := &masks[i]
		ds[i] = sa1b.Decoded{
			Annotation: &sa1b.Annotation{ID: int64(i + 1), Area: float64(m.Area), PredictedIoU: m.PredictedIoU, StabilityScore: m.Stability},
			Mask:       sa1b.FromBits(m.Bits(), w, h),
		}
	}
	inst, sel, sst := sa1b.SelectDecoded(ds, w, h, s.flt)
	if len(sel) == 0 {
		return nil, nil, reject(RejectMasks, "sam2: no object mask: %d prompts gave %d masks; %d with predicted IoU ≤ %g, %d with stability < %g, %d below min_area, %d duplicates, %d above max_area, %d overlapping larger ones",
			st.Points, st.Candidates, st.LowIoU, o.PredIoUThresh, st.Unstable, o.StabilityThresh, st.Small, st.Duplicate, sst.Area, sst.Overlap)
	}
	return inst, sel, nil
}

// close releases the model; safe on nil.
func (s *segmenter) close() error {
	if s == nil {
		return nil
	}
	return s.model.Close()
}

// labelObjects turns chosen masks into an item's objects: a mask's own
// label, else its zero-shot name when namer is set (an unnamed mask still
// occludes, but nothing asks about it).
func labelObjects(ctx context.Context, namer *filters.Namer, report *FilterReport, pixels *image.NRGBA, inst []uint16, sel []sa1b.Selected) ([]scene.Object, *scene.NamingMeta, error) {
	var objs []scene.Object
	var unnamed []sa1b.Selected
	for _, o := range sel {
		if o.Annotation.Label != "" {
			objs = append(objs, scene.Object{ID: int(o.ID), Label: o.Annotation.Label})
		} else {
			unnamed = append(unnamed, o)
		}
	}
	if namer == nil || len(unnamed) == 0 {
		return objs, nil, nil
	}
	crops := make([]image.Image, len(unnamed))
	for i, o := range unnamed {
		crops[i] = filters.MaskCrop(pixels, inst, o.ID, o.Mask.Bounds(), 0.1)
	}
	names, err := namer.Name(ctx, crops)
	if err != nil {
		return nil, nil, err
	}
	nm := &scene.NamingMeta{}
	for i, n := range names {
		id := int(unnamed[i].ID)
		nm.Objects = append(nm.Objects, scene.NamedMask{ID: id, Label: n.Label, Best: n.Best, Prob: n.Prob, Margin: n.Margin})
		if n.Label != "" {
			nm.Named++
			objs = append(objs, scene.Object{ID: id, Label: n.Label})
		} else {
			nm.Ambiguous++
		}
	}
	report.addNaming(nm.Named, nm.Ambiguous)
	return objs, nm, nil
}
