package gen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/internal/models/depthpro"
	"github.com/boostgen/boostgen/internal/models/imgprep"
	"github.com/boostgen/boostgen/internal/models/vggt"
	"github.com/boostgen/boostgen/internal/ort"
)

// Geometry modes (geometry.depth and geometry.multiview).
const (
	DepthSource     = "source"   // the dataset's own depth
	DepthDepthPro   = "depthpro" // Depth-Pro, per view
	MultiviewPoses  = "poses"    // the dataset's own camera poses
	MultiviewVGGT   = "vggt"     // VGGT: cameras and depth of all views at once
	ScaleAuto       = "auto"
	ScaleSource     = "source_depth"
	ScaleDepthPro   = "depthpro"
	RejectModel     = "model" // a model failed on the item
	defaultVGGTConf = 5.0     // VGGT's demo_colmap.py conf_thres_value
)

// ModelsConfig is the models section: how ONNX Runtime runs and where each
// export is. Only the models a geometry mode selects are loaded.
type ModelsConfig struct {
	ORTLibrary     string          `json:"ort_library,omitempty"`
	Provider       string          `json:"provider,omitempty"`
	IntraOpThreads int             `json:"intra_op_threads,omitempty"`
	InterOpThreads int             `json:"inter_op_threads,omitempty"`
	Batch          BatchConfig     `json:"batch"`
	DepthPro       *DepthProConfig `json:"depthpro,omitempty"`
	VGGT           *VGGTConfig     `json:"vggt,omitempty"`
	SAM2           *SAM2Config     `json:"sam2,omitempty"`
}

// BatchConfig sizes the dynamic batching of single-image models.
type BatchConfig struct {
	MaxBatch  int      `json:"max_batch,omitempty"`
	MaxWaitMS *float64 `json:"max_wait_ms,omitempty"`
}

// DepthProConfig locates a Depth-Pro export and states its contract; empty
// fields take the public export's values (onnx-community/DepthPro-ONNX).
type DepthProConfig struct {
	Path          string    `json:"path"`
	Input         string    `json:"input,omitempty"`
	DepthOutput   string    `json:"depth_output,omitempty"`
	FocalOutput   string    `json:"focal_output,omitempty"`
	ConfOutput    string    `json:"conf_output,omitempty"`
	Size          int       `json:"size,omitempty"`
	Mean          []float64 `json:"mean,omitempty"`
	Std           []float64 `json:"std,omitempty"`
	Output        string    `json:"output,omitempty"`
	MinConfidence *float64  `json:"min_confidence,omitempty"`
}

// VGGTConfig locates a VGGT export, states its contract, and says how
// VGGT's scene units are turned into meters.
type VGGTConfig struct {
	Path             string   `json:"path"`
	Input            string   `json:"input,omitempty"`
	PoseOutput       string   `json:"pose_output,omitempty"`
	DepthOutput      string   `json:"depth_output,omitempty"`
	DepthConfOutput  string   `json:"depth_conf_output,omitempty"`
	PointsOutput     string   `json:"points_output,omitempty"`
	PointsConfOutput string   `json:"points_conf_output,omitempty"`
	Size             int      `json:"size,omitempty"`
	Fit              string   `json:"fit,omitempty"`
	MinConfidence    *float64 `json:"min_confidence,omitempty"`
	// Points is which head gives each pixel's depth: "depth" (the depth
	// head with depth_conf) or "world_points" (the point head with
	// world_points_conf, as depth along each camera's axis).
	Points         string `json:"points,omitempty"`
	Scale          string `json:"scale,omitempty"`
	MinScalePixels int    `json:"min_scale_pixels,omitempty"`
}

func (m *ModelsConfig) applyDefaults() {
	if m.Provider == "" {
		m.Provider = "cpu"
	}
	if m.Batch.MaxBatch == 0 {
		m.Batch.MaxBatch = 4
	}
	if m.Batch.MaxWaitMS == nil {
		m.Batch.MaxWaitMS = ptr(5.0)
	}
	if d := m.DepthPro; d != nil {
		def := depthpro.Defaults()
		fill(&d.Input, def.Input)
		fill(&d.DepthOutput, def.DepthOutput)
		fill(&d.FocalOutput, def.FocalOutput)
		fill(&d.Output, def.Output)
		if d.Size == 0 {
			d.Size = def.Size
		}
		if d.Mean == nil {
			d.Mean = f64s(def.Norm.Mean)
		}
		if d.Std == nil {
			d.Std = f64s(def.Norm.Std)
		}
		if d.MinConfidence == nil && d.ConfOutput != "" {
			d.MinConfidence = ptr(0.0)
		}
	}
	if m.SAM2 != nil {
		m.SAM2.applyDefaults()
	}
	if v := m.VGGT; v != nil {
		def := vggt.Defaults()
		fill(&v.Input, def.Input)
		fill(&v.PoseOutput, def.PoseOutput)
		fill(&v.DepthOutput, def.DepthOutput)
		fill(&v.DepthConfOutput, def.DepthConfOutput)
		fill(&v.PointsOutput, def.PointsOutput)
		fill(&v.PointsConfOutput, def.PointsConfOutput)
		fill(&v.Fit, def.Fit)
		fill(&v.Scale, ScaleAuto)
		fill(&v.Points, "depth")
		if v.Size == 0 {
			v.Size = def.Size
		}
		if v.MinConfidence == nil {
			v.MinConfidence = ptr(defaultVGGTConf)
		}
		if v.MinScalePixels == 0 {
			v.MinScalePixels = 100
		}
	}
}

func fill(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func f64s(a [3]float32) []float64 { return []float64{float64(a[0]), float64(a[1]), float64(a[2])} }

// checkModels covers the combinations the schema cannot express.
func (c *Config) checkModels() error {
	g := c.Geometry
	var m ModelsConfig
	if c.Models != nil {
		m = *c.Models
	}
	if g.Depth == DepthDepthPro && m.DepthPro == nil {
		return fmt.Errorf("models.depthpro.path: required when geometry.depth is depthpro")
	}
	if g.Multiview == MultiviewVGGT {
		if m.VGGT == nil {
			return fmt.Errorf("models.vggt.path: required when geometry.multiview is vggt")
		}
		if m.VGGT.Scale == ScaleDepthPro && m.DepthPro == nil {
			return fmt.Errorf("models.vggt.scale: depthpro needs models.depthpro.path")
		}
	}
	if g.Masks == MasksSAM2 && m.SAM2 == nil {
		return fmt.Errorf("models.sam2: required (encoder and decoder) when geometry.masks is sam2")
	}
	if t := c.Source.Type; g.Masks == MasksSAM2 && t != "folder" && t != "video" {
		return fmt.Errorf("geometry.masks: sam2 gives masks to folder and video sources; source %s has its own", t)
	}
	if d := m.DepthPro; d != nil && d.ConfOutput == "" && d.MinConfidence != nil {
		return fmt.Errorf("models.depthpro.min_confidence: set conf_output too (the public export has no confidence output)")
	}
	return nil
}

// modelSet holds the models a run uses, loaded once and shared by every
// worker. A nil *modelSet means the run uses none.
type modelSet struct {
	cfg   ModelsConfig
	geo   GeometryConfig
	depth *depthpro.Model // nil unless some mode needs it
	vggt  *vggt.Model
}

// loadModels loads what cfg's geometry modes select, or returns nil.
func loadModels(cfg *Config) (*modelSet, error) {
	g := cfg.Geometry
	needDepth := g.Depth == DepthDepthPro
	needVGGT := g.Multiview == MultiviewVGGT
	if needVGGT && cfg.Models.VGGT.Scale != ScaleSource && cfg.Models.DepthPro != nil {
		needDepth = true // to fix VGGT's scale where the source has no depth
	}
	if !needDepth && !needVGGT {
		return nil, nil
	}
	m := *cfg.Models
	o := filterORT(cfg, "")
	ms := &modelSet{cfg: m, geo: g}
	if needDepth {
		d := m.DepthPro
		dc := depthpro.Config{
			Path: cfg.Resolve(d.Path), Input: d.Input, DepthOutput: d.DepthOutput, FocalOutput: d.FocalOutput,
			ConfOutput: d.ConfOutput, Size: d.Size, Output: d.Output, ORT: o,
			Norm: imgprep.Norm{Mean: f32s(d.Mean), Std: f32s(d.Std)},
			Batch: ort.BatchOptions{
				MaxBatch: m.Batch.MaxBatch,
				MaxWait:  time.Duration(*m.Batch.MaxWaitMS * float64(time.Millisecond)),
			},
		}
		model, err := depthpro.New(dc)
		if err != nil {
			return nil, fmt.Errorf("models.depthpro: %w", err)
		}
		ms.depth = model
	}
	if needVGGT {
		v := m.VGGT
		model, err := vggt.New(vggt.Config{
			Path: cfg.Resolve(v.Path), Input: v.Input, PoseOutput: v.PoseOutput, DepthOutput: v.DepthOutput,
			DepthConfOutput: v.DepthConfOutput, PointsOutput: v.PointsOutput, PointsConfOutput: v.PointsConfOutput,
			Size: v.Size, Fit: v.Fit, ORT: o,
		})
		if err != nil {
			ms.close()
			return nil, fmt.Errorf("models.vggt: %w", err)
		}
		ms.vggt = model
	}
	return ms, nil
}

func f32s(a []float64) [3]float32 { return [3]float32{float32(a[0]), float32(a[1]), float32(a[2])} }

// close releases the models; safe on nil.
func (ms *modelSet) close() error {
	if ms == nil {
		return nil
	}
	var errs []error
	if ms.depth != nil {
		errs = append(errs, ms.depth.Close())
	}
	if ms.vggt != nil {
		errs = append(errs, ms.vggt.Close())
	}
	return errors.Join(errs...)
}

// Close releases the models the processor loaded; Run should call it once
// every worker is done (until it does, a process that runs many pipelines
// keeps their sessions until exit).
func (p *processor) Close() error { return p.models.close() }

// withModels is the hook between loading an item and measuring it: the
// configured models replace the source's depth, intrinsics and poses, so
// that everything downstream is the same as for a source with exact
// geometry. It returns what was estimated and how, for the record's meta.
func (p *processor) withModels(ctx context.Context, it *scene.Item) (*GeometryMeta, error) {
	ms := p.models
	if ms == nil || it.Err != nil || len(it.Views) == 0 {
		return nil, nil
	}
	if len(it.Views) > 1 && ms.vggt != nil {
		return ms.reconstruct(ctx, it)
	}
	if ms.geo.Depth == DepthDepthPro {
		return ms.estimateDepth(ctx, it)
	}
	return nil, nil
}
