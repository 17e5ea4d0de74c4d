// Package depthpro runs Apple's Depth-Pro (single-view metric depth and
// focal length) through ONNX Runtime.
//
// Defaults match the public export onnx-community/DepthPro-ONNX: input
// pixel_values [B,3,1536,1536] with pixels (x/255-0.5)/0.5, outputs
// predicted_depth [B,1536,1536] and focallength_px [B]. That export bakes
// Depth-Pro's own post-processing into the graph, so predicted_depth is
// metric depth in meters (Output "depth"); an export that stops at the
// network's inverse-depth head gives 1/meters instead (Output "inverse").
//
// Aspect handling follows Depth-Pro's own inference: the whole image is
// resized to the square input (no crop, no padding), and the depth map is
// resized back to the original size with the inverse of that map. The depth
// values need no rescaling (Depth-Pro normalises inverse depth by the field
// of view, which the squeeze keeps); the focal length, estimated in input
// pixels across the full width, is rescaled by original width / input width,
// exactly as Depth-Pro computes it from the original width.
package depthpro

import (
	"context"
	"fmt"
	"image"
	"math"

	"github.com/boostgen/boostgen/internal/models/imgprep"
	"github.com/boostgen/boostgen/internal/ort"
)

// Config describes the model file and its export's conventions.
type Config struct {
	Path string // the .onnx file
	// Names of the export's input and outputs. ConfOutput is optional.
	Input, DepthOutput, FocalOutput, ConfOutput string
	// Size is the square input side in pixels.
	Size int
	// Norm normalises pixels after scaling to [0,1].
	Norm imgprep.Norm
	// Output says what DepthOutput holds: "depth" (meters) or "inverse"
	// (1/meters).
	Output string
	ORT    ort.Options
	Batch  ort.BatchOptions
}

// Defaults returns the configuration of onnx-community/DepthPro-ONNX.
func Defaults() Config {
	return Config{
		Input:       "pixel_values",
		DepthOutput: "predicted_depth",
		FocalOutput: "focallength_px",
		Size:        1536,
		Norm:        imgprep.Symmetric,
		Output:      "depth",
		Batch:       ort.BatchOptions{MaxBatch: 2},
	}
}

// Result is the prediction for one image, at the image's own size.
type Result struct {
	W, H int
	// Depth is metric depth in meters, row-major W*H. Pixels where the
	// model gave no usable value (NaN, Inf, not positive) are 0.
	Depth []float32
	// FocalPx is the estimated horizontal focal length in original pixels.
	FocalPx float64
	// Conf is the model's confidence per pixel, nil if the export has none.
	Conf []float32
}

// Model is a loaded Depth-Pro, safe for concurrent use; concurrent Predict
// calls are batched together.
type Model struct {
	cfg Config
	s   *ort.Session
	b   *ort.Batcher
}

// New loads the model.
func New(c Config) (*Model, error) {
	switch c.Output {
	case "depth", "inverse":
	default:
		return nil, fmt.Errorf("depthpro: output %q: want depth or inverse", c.Output)
	}
	if c.Size <= 0 {
		return nil, fmt.Errorf("depthpro: input size %d: want a positive number of pixels", c.Size)
	}
	if c.Input == "" || c.DepthOutput == "" || c.FocalOutput == "" {
		return nil, fmt.Errorf("depthpro: input, depth output and focal output names are required")
	}
	contract := ort.Contract{
		Inputs: []ort.Spec{{Name: c.Input, Ranks: []int{4}}},
		Outputs: []ort.Spec{
			{Name: c.DepthOutput, Ranks: []int{3, 4}},
			{Name: c.FocalOutput, Ranks: []int{1, 2}},
		},
	}
	if c.ConfOutput != "" {
		contract.Outputs = append(contract.Outputs, ort.Spec{Name: c.ConfOutput, Ranks: []int{3, 4}})
	}
	s, err := ort.Open(c.Path, contract, c.ORT)
	if err != nil {
		return nil, fmt.Errorf("depthpro: %w", err)
	}
	return &Model{cfg: c, s: s, b: ort.NewBatcher(s, c.Batch)}, nil
}

// Close releases the model.
func (m *Model) Close() error {
	m.b.Close()
	return m.s.Close()
}

// Predict estimates metric depth and focal length for img.
func (m *Model) Predict(ctx context.Context, img image.Image) (Result, error) {
	n := m.cfg.Size
	px, place := imgprep.Input(img, n, n, imgprep.Stretch, m.cfg.Norm, 0)
	if place.SrcW == 0 || place.SrcH == 0 {
		return Result{}, fmt.Errorf("depthpro: empty image")
	}
	outs, err := m.b.Run(ctx, ort.F32Tensor(px, 1, 3, int64(n), int64(n)))
	if err != nil {
		return Result{}, fmt.Errorf("depthpro: %w", err)
	}
	raw, err := m.plane(outs[0], m.cfg.DepthOutput)
	if err != nil {
		return Result{}, err
	}
	if len(outs[1].F32) != 1 {
		return Result{}, fmt.Errorf("depthpro: model %s: output %q has shape %v, want one focal length per image", m.cfg.Path, m.cfg.FocalOutput, outs[1].Shape)
	}
	f := float64(outs[1].F32[0])
	if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
		return Result{}, fmt.Errorf("depthpro: model %s: invalid focal length %v", m.cfg.Path, f)
	}
	valid := 0
	for i, v := range raw {
		if m.cfg.Output == "inverse" {
			v = 1 / v
		}
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || v <= 0 {
			v = 0
		} else {
			valid++
		}
		raw[i] = v
	}
	if valid == 0 {
		return Result{}, fmt.Errorf("depthpro: model %s: output %q has no finite positive depth (is Output %q right for this export?)", m.cfg.Path, m.cfg.DepthOutput, m.cfg.Output)
	}
	res := Result{
		W:       place.SrcW,
		H:       place.SrcH,
		Depth:   place.Back(raw, 1),
		FocalPx: f * float64(place.SrcW) / float64(place.W),
	}
	if m.cfg.ConfOutput != "" {
		conf, err := m.plane(outs[2], m.cfg.ConfOutput)
		if err != nil {
			return Result{}, err
		}
		res.Conf = place.Back(conf, 1)
	}
	return res, nil
}

// plane checks that a dense output is one Size x Size map for one image and
// returns a copy (the batcher's rows share memory with other callers').
func (m *Model) plane(t ort.Tensor, name string) ([]float32, error) {
	n := m.cfg.Size
	if len(t.F32) != n*n {
		return nil, fmt.Errorf("depthpro: model %s: output %q has shape %v, want one %dx%d map per image", m.cfg.Path, name, t.Shape, n, n)
	}
	return append([]float32(nil), t.F32...), nil
}
