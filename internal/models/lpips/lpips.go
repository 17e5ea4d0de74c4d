// Package lpips measures the perceptual distance between two images with an
// LPIPS network through ONNX Runtime; boostgen keeps multi-view pairs whose
// distance lies in a band (paper: 0.35..0.65).
//
// There is no single canonical ONNX export of LPIPS; the defaults match
// exporting the reference `lpips` package's LPIPS(net="alex") with
// torch.onnx.export(model, (in0, in1), input_names=["in0", "in1"],
// output_names=["distance"]) and a dynamic batch axis (docs/models.md). Both
// images are resized to Size x Size (whole image, ignoring aspect) and
// scaled to [-1,1], as LPIPS expects.
package lpips

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
	Path           string
	InputA, InputB string
	Output         string
	// Size is the square side both images are resized to.
	Size  int
	Norm  imgprep.Norm
	ORT   ort.Options
	Batch ort.BatchOptions
}

// Defaults returns the conventions described in the package comment.
func Defaults() Config {
	return Config{
		InputA: "in0",
		InputB: "in1",
		Output: "distance",
		Size:   224,
		Norm:   imgprep.Symmetric,
		Batch:  ort.BatchOptions{MaxBatch: 16},
	}
}

// Model is a loaded LPIPS network, safe for concurrent use; concurrent
// calls share batches.
type Model struct {
	cfg Config
	s   *ort.Session
	b   *ort.Batcher
}

// New loads the model.
func New(c Config) (*Model, error) {
	if c.Size <= 0 {
		return nil, fmt.Errorf("lpips: image size %d: want a positive number of pixels", c.Size)
	}
	s, err := ort.Open(c.Path, ort.Contract{
		Inputs: []ort.Spec{
			{Name: c.InputA, Ranks: []int{4}},
			{Name: c.InputB, Ranks: []int{4}},
		},
		// [B,1,1,1] from the reference model, [B] or [B,1] from others.
		Outputs: []ort.Spec{{Name: c.Output, Ranks: []int{1, 2, 4}}},
	}, c.ORT)
	if err != nil {
		return nil, fmt.Errorf("lpips: %w", err)
	}
	return &Model{cfg: c, s: s, b: ort.NewBatcher(s, c.Batch)}, nil
}

// Close releases the model.
func (m *Model) Close() error {
	m.b.Close()
	return m.s.Close()
}

// Distance is the LPIPS distance between a and b.
func (m *Model) Distance(ctx context.Context, a, b image.Image) (float64, error) {
	n := m.cfg.Size
	pa, _ := imgprep.Input(a, n, n, imgprep.Stretch, m.cfg.Norm, 0)
	pb, _ := imgprep.Input(b, n, n, imgprep.Stretch, m.cfg.Norm, 0)
	outs, err := m.b.Run(ctx,
		ort.F32Tensor(pa, 1, 3, int64(n), int64(n)),
		ort.F32Tensor(pb, 1, 3, int64(n), int64(n)))
	if err != nil {
		return 0, fmt.Errorf("lpips: %w", err)
	}
	if len(outs[0].F32) != 1 {
		return 0, fmt.Errorf("lpips: model %s: output %q has shape %v, want one distance per pair", m.cfg.Path, m.cfg.Output, outs[0].Shape)
	}
	d := float64(outs[0].F32[0])
	if math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
		return 0, fmt.Errorf("lpips: model %s: invalid distance %v", m.cfg.Path, d)
	}
	return d, nil
}

// Distances measures many pairs at once (batched); out[i] is the distance
// between pairs[i][0] and pairs[i][1].
func (m *Model) Distances(ctx context.Context, pairs [][2]image.Image) ([]float64, error) {
	out := make([]float64, len(pairs))
	err := ort.Each(ctx, len(pairs), 2*max(1, m.cfg.Batch.MaxBatch), func(ctx context.Context, i int) error {
		d, err := m.Distance(ctx, pairs[i][0], pairs[i][1])
		if err != nil {
			return fmt.Errorf("pair %d: %w", i, err)
		}
		out[i] = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
