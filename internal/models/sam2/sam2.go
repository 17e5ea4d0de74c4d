// Package sam2 runs SAM 2 (Segment Anything 2, image mode) through ONNX
// Runtime and generates every object mask of an image from a grid of point
// prompts, as SAM 2's SAM2AutomaticMaskGenerator does.
//
// The contract is samexporter's SAM 2 export (vietanhdev/samexporter,
// export_sam2.py), the widely used pair of files:
//
//   - encoder: image float32 [1,3,1024,1024] → high_res_feats_0
//     [1,32,256,256], high_res_feats_1 [1,64,128,128], image_embed
//     [1,256,64,64]. The image is resized to the square input without
//     keeping its aspect (cv2.resize in samexporter's inference, bilinear)
//     and normalised with ImageNet's mean and std.
//   - decoder: image_embed, high_res_feats_0, high_res_feats_1,
//     point_coords [B,N,2] (x, y in the 1024 input frame), point_labels
//     [B,N] (float32; 1 foreground, 0 background, -1 padding), mask_input
//     [B,1,256,256], has_mask_input [1] → masks [B,3,256,256] (logits,
//     clamped to ±32), iou_predictions [B,3]. The export adds SAM's padding
//     point itself; with multimask output it returns the three masks of
//     SAM's multimask head.
//
// The decoder's feature inputs carry the encoder's output names. All names
// and the input size are configurable; the model files are checked against
// them (names, ranks, element types, fixed sizes) when they load.
package sam2

import (
	"context"
	"fmt"
	"image"
	"math"
	"sync"

	"github.com/boostgen/boostgen/internal/models/imgprep"
	"github.com/boostgen/boostgen/internal/ort"
)

// Config describes the two model files and their export's conventions.
type Config struct {
	EncoderPath, DecoderPath string
	// Image is the encoder's input.
	Image string
	// HighRes0, HighRes1 and Embed are the encoder's outputs and, under the
	// same names, the decoder's feature inputs.
	HighRes0, HighRes1, Embed string
	// The decoder's prompt inputs.
	PointCoords, PointLabels, MaskInput, HasMaskInput string
	// The decoder's outputs: mask logits [B,K,h,w] and predicted IoU [B,K].
	Masks, IoU string
	// Size is the square encoder input side in pixels (1024 for SAM 2).
	Size int
	// MaskInputSize is the side of mask_input (Size/4 in SAM 2).
	MaskInputSize int
	// Norm normalises pixels after scaling to [0,1].
	Norm imgprep.Norm
	ORT  ort.Options
}

// Defaults returns samexporter's SAM 2 contract.
func Defaults() Config {
	return Config{
		Image:         "image",
		HighRes0:      "high_res_feats_0",
		HighRes1:      "high_res_feats_1",
		Embed:         "image_embed",
		PointCoords:   "point_coords",
		PointLabels:   "point_labels",
		MaskInput:     "mask_input",
		HasMaskInput:  "has_mask_input",
		Masks:         "masks",
		IoU:           "iou_predictions",
		Size:          1024,
		MaskInputSize: 256,
		Norm:          imgprep.ImageNet,
	}
}

// Model is a loaded SAM 2 (encoder and decoder), safe for concurrent use.
type Model struct {
	cfg      Config
	enc, dec *ort.Session
	// zeros backs every call's mask_input (no mask prompt); ONNX Runtime
	// only reads inputs, so one buffer serves all goroutines.
	mu    sync.Mutex
	zeros []float32
}

// noMask returns n zeros for mask_input, from a buffer sized once for the
// largest batch seen (the generator's batches are all one size but the last).
func (m *Model) noMask(n int) []float32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.zeros) < n {
		m.zeros = make([]float32, n)
	}
	return m.zeros[:n]
}

// New loads both models after checking them against the contract.
func New(c Config) (*Model, error) {
	if c.Size <= 0 || c.Size%16 != 0 {
		return nil, fmt.Errorf("sam2: input size %d: want a positive multiple of 16", c.Size)
	}
	if c.MaskInputSize <= 0 {
		return nil, fmt.Errorf("sam2: mask input size %d: want a positive number of pixels", c.MaskInputSize)
	}
	for what, name := range map[string]string{
		"image input": c.Image, "high-res features 0": c.HighRes0, "high-res features 1": c.HighRes1,
		"image embedding": c.Embed, "point coords": c.PointCoords, "point labels": c.PointLabels,
		"mask input": c.MaskInput, "has-mask input": c.HasMaskInput, "masks output": c.Masks, "IoU output": c.IoU,
	} {
		if name == "" {
			return nil, fmt.Errorf("sam2: the %s name is empty", what)
		}
	}
	s := int64(c.Size)
	feats := []ort.Spec{
		{Name: c.HighRes0, Ranks: []int{4}, Dims: []int64{1, -1, s / 4, s / 4}},
		{Name: c.HighRes1, Ranks: []int{4}, Dims: []int64{1, -1, s / 8, s / 8}},
		{Name: c.Embed, Ranks: []int{4}, Dims: []int64{1, -1, s / 16, s / 16}},
	}
	enc, err := ort.Open(c.EncoderPath, ort.Contract{
		Inputs:  []ort.Spec{{Name: c.Image, Ranks: []int{4}, Dims: []int64{1, 3, s, s}}},
		Outputs: feats,
	}, c.ORT)
	if err != nil {
		return nil, fmt.Errorf("sam2 encoder: %w", err)
	}
	mi := int64(c.MaskInputSize)
	dec, err := ort.Open(c.DecoderPath, ort.Contract{
		Inputs: []ort.Spec{
			// The decoder takes the features in the export's order.
			feats[2], feats[0], feats[1],
			{Name: c.PointCoords, Ranks: []int{3}, Dims: []int64{-1, -1, 2}},
			{Name: c.PointLabels, Ranks: []int{2}},
			{Name: c.MaskInput, Ranks: []int{4}, Dims: []int64{-1, 1, mi, mi}},
			{Name: c.HasMaskInput, Ranks: []int{1}},
		},
		Outputs: []ort.Spec{
			{Name: c.Masks, Ranks: []int{4}},
			{Name: c.IoU, Ranks: []int{2}},
		},
	}, c.ORT)
	if err != nil {
		enc.Close()
		return nil, fmt.Errorf("sam2 decoder: %w", err)
	}
	return &Model{cfg: c, enc: enc, dec: dec}, nil
}

// Close releases both models.
func (m *Model) Close() error {
	err := m.enc.Close()
	if e := m.dec.Close(); err == nil {
		err = e
	}
	return err
}

// Embedding is the encoder's output for one image, the input of every
// decoder call on that image.
type Embedding struct {
	// W and H are the original image's size.
	W, H  int
	feats [3]ort.Tensor // image_embed, high_res_feats_0, high_res_feats_1
}

// Encode runs the image encoder on img.
func (m *Model) Encode(ctx context.Context, img image.Image) (*Embedding, error) {
	n := m.cfg.Size
	px, place := imgprep.Input(img, n, n, imgprep.Stretch, m.cfg.Norm, 0)
	if place.SrcW == 0 || place.SrcH == 0 {
		return nil, fmt.Errorf("sam2: empty image")
	}
	outs, err := m.enc.Run(ctx, ort.F32Tensor(px, 1, 3, int64(n), int64(n)))
	if err != nil {
		return nil, fmt.Errorf("sam2 encoder: %w", err)
	}
	names := []string{m.cfg.HighRes0, m.cfg.HighRes1, m.cfg.Embed}
	for n, t := range outs {
		if i := nonFinite(t.F32); i >= 0 {
			return nil, fmt.Errorf("sam2 encoder: model %s: output %q holds %v at element %d", m.enc.Path(), names[n], t.F32[i], i)
		}
	}
	return &Embedding{W: place.SrcW, H: place.SrcH, feats: [3]ort.Tensor{outs[2], outs[0], outs[1]}}, nil
}

// Prediction is the decoder's answer for B point prompts: K masks each.
type Prediction struct {
	B, K, H, W int
	// Logits holds B*K low-resolution mask logit maps of H*W, row-major.
	Logits []float32
	// IoU holds B*K predicted IoUs.
	IoU []float32
}

// Mask returns the logits of point b's k-th mask.
func (p *Prediction) Mask(b, k int) []float32 {
	n := p.H * p.W
	i := (b*p.K + k) * n
	return p.Logits[i : i+n]
}

// Decode prompts the decoder with one foreground point per prompt, given in
// the original image's pixels (x, y), all in one batch. A non-finite logit
// or IoU is an error: a model that gives NaN must not make masks.
func (m *Model) Decode(ctx context.Context, e *Embedding, points [][2]float64) (*Prediction, error) {
	b := len(points)
	if b == 0 {
		return nil, fmt.Errorf("sam2 decoder: no points")
	}
	coords := make([]float32, 2*b)
	labels := make([]float32, b)
	sx, sy := float64(m.cfg.Size)/float64(e.W), float64(m.cfg.Size)/float64(e.H)
	for i, p := range points {
		coords[2*i] = float32(p[0] * sx)
		coords[2*i+1] = float32(p[1] * sy)
		labels[i] = 1
	}
	mi := m.cfg.MaskInputSize
	plane := mi * mi
	outs, err := m.dec.Run(ctx, e.feats[0], e.feats[1], e.feats[2],
		ort.F32Tensor(coords, int64(b), 1, 2),
		ort.F32Tensor(labels, int64(b), 1),
		ort.F32Tensor(m.noMask(b*plane), int64(b), 1, int64(mi), int64(mi)),
		ort.F32Tensor([]float32{0}, 1),
	)
	if err != nil {
		return nil, fmt.Errorf("sam2 decoder: %w", err)
	}
	masks, iou := outs[0], outs[1]
	if len(masks.Shape) != 4 || masks.Shape[0] != int64(b) || masks.Shape[1] < 1 {
		return nil, fmt.Errorf("sam2 decoder: model %s: output %q has shape %v for %d points, want [%d,K,h,w]", m.dec.Path(), m.cfg.Masks, masks.Shape, b, b)
	}
	k := int(masks.Shape[1])
	if len(iou.Shape) != 2 || iou.Shape[0] != int64(b) || iou.Shape[1] != int64(k) {
		return nil, fmt.Errorf("sam2 decoder: model %s: output %q has shape %v, want [%d,%d] beside masks %v", m.dec.Path(), m.cfg.IoU, iou.Shape, b, k, masks.Shape)
	}
	if i := nonFinite(masks.F32); i >= 0 {
		return nil, fmt.Errorf("sam2 decoder: model %s: output %q holds %v (mask logits must be finite) at element %d", m.dec.Path(), m.cfg.Masks, masks.F32[i], i)
	}
	if i := nonFinite(iou.F32); i >= 0 {
		return nil, fmt.Errorf("sam2 decoder: model %s: output %q holds %v at element %d", m.dec.Path(), m.cfg.IoU, iou.F32[i], i)
	}
	return &Prediction{B: b, K: k, H: int(masks.Shape[2]), W: int(masks.Shape[3]), Logits: masks.F32, IoU: iou.F32}, nil
}

// nonFinite is the index of the first NaN or infinity in v, or -1.
func nonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}
