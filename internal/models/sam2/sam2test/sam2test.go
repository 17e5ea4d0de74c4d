// Package sam2test writes tiny SAM 2 stand-ins with samexporter's contract
// (names, ranks and sizes, dynamic batch and point count) whose masks mean
// something, so that tests through the real ONNX Runtime can check masks
// against ground truth.
//
// The encoder puts the image's chromaticity r/(r+g+b+ε), g/…, b/… and its
// brightness in the first four channels of every feature map (average
// pooled to 256², 128² and 64²; the other channels are zero). The decoder
// reads the colour under the first point prompt from high_res_feats_0 and
// scores every cell of the 256² map by
//
//	s = |chroma − chroma(point)|² / σc² + |cell − point|² / σs²
//
// and returns, per point, three masks with logits α·(T_k − s) clamped to
// ±32, as the export clamps them: k = 0, 1, 2 with T = 2.25, 4, 9 and
// predicted IoU 0.86, 0.92, 0.5. Shading multiplies a colour by a factor,
// which chromaticity ignores, so a mask is the region of the point's
// colour within a disc around it (radius σs·√T); a region of the point's
// colour that the disc cuts (a floor) has a soft edge and a poor stability
// score. A prompt on a colour without chroma (white, grey, black, walls)
// gets no mask at all: the stand-in cannot tell those apart.
package sam2test

import (
	"path/filepath"
	"testing"

	"github.com/boostgen/boostgen/internal/onnxtest"
)

// Scoring constants of the stand-in's decoder.
const (
	SigmaChroma  = 0.04 // chromaticity units
	SigmaSpatial = 64   // cells of the 256² map
	Alpha        = 8
	// MinSaturation separates the palette's colours (pink, the least
	// saturated, 0.02) from grey, white, black, the walls and the beige
	// floor (below 0.005).
	MinSaturation = 0.01
	eps           = 0.05
)

// Thresholds and IoUs of the three masks per point.
var (
	thresholds = []float32{2.25, 4, 9}
	ious       = []float32{0.86, 0.92, 0.5}
)

// Variant changes the decoder for tests of bad models.
type Variant int

const (
	Good       Variant = iota
	NaNLogits          // masks are NaN wherever the point's own colour is
	WrongNames         // outputs named "low_res_masks" and "scores"
)

// Write writes the encoder and decoder into dir and returns their paths.
func Write(t testing.TB, dir string, v Variant) (encoder, decoder string) {
	t.Helper()
	encoder, decoder = filepath.Join(dir, "sam2.encoder.onnx"), filepath.Join(dir, "sam2.decoder.onnx")
	if err := encoderGraph().Write(encoder); err != nil {
		t.Fatal(err)
	}
	if err := decoderGraph(v).Write(decoder); err != nil {
		t.Fatal(err)
	}
	return encoder, decoder
}

const size = 1024

func encoderGraph() *onnxtest.Graph {
	g := onnxtest.New().
		Input("image", onnxtest.Float, 1, 3, size, size).
		Output("high_res_feats_0", onnxtest.Float, 1, 32, 256, 256).
		Output("high_res_feats_1", onnxtest.Float, 1, 64, 128, 128).
		Output("image_embed", onnxtest.Float, 1, 256, 64, 64)
	// Undo ImageNet's normalisation: rgb in [0,1].
	rgb := g.Op("Add", []string{
		g.Op("Mul", []string{"image", g.Const([]float32{0.229, 0.224, 0.225}, 1, 3, 1, 1)}),
		g.Const([]float32{0.485, 0.456, 0.406}, 1, 3, 1, 1),
	})
	pool := func(in string, k int64) string {
		return g.Op("AveragePool", []string{in}, onnxtest.Ints("kernel_shape", k, k), onnxtest.Ints("strides", k, k))
	}
	p := pool(rgb, 4) // [1,3,256,256]
	sum := g.Op("ReduceSum", []string{p, g.ConstI64([]int64{1}, 1)}, onnxtest.Int("keepdims", 1))
	chroma := g.Op("Div", []string{p, g.Op("Add", []string{sum, g.Scalar(eps)})})
	bright := g.Op("Div", []string{sum, g.Scalar(3)})
	f4 := g.Op("Concat", []string{chroma, bright}, onnxtest.Int("axis", 1)) // [1,4,256,256]
	pad := func(in, out string, to int64) {
		g.Node("Pad", []string{in, g.ConstI64([]int64{0, 0, 0, 0, 0, to - 4, 0, 0}, 8)}, []string{out})
	}
	pad(f4, "high_res_feats_0", 32)
	pad(pool(f4, 2), "high_res_feats_1", 64)
	pad(pool(f4, 4), "image_embed", 256)
	return g
}

func decoderGraph(v Variant) *onnxtest.Graph {
	masks, iou := "masks", "iou_predictions"
	if v == WrongNames {
		masks, iou = "low_res_masks", "scores"
	}
	g := onnxtest.New().
		Input("image_embed", onnxtest.Float, 1, 256, 64, 64).
		Input("high_res_feats_0", onnxtest.Float, 1, 32, 256, 256).
		Input("high_res_feats_1", onnxtest.Float, 1, 64, 128, 128).
		Input("point_coords", onnxtest.Float, "num_labels", "num_points", 2).
		Input("point_labels", onnxtest.Float, "num_labels", "num_points").
		Input("mask_input", onnxtest.Float, "num_labels", 1, 256, 256).
		Input("has_mask_input", onnxtest.Float, 1).
		Output(masks, onnxtest.Float, "num_labels", 3, 256, 256).
		Output(iou, onnxtest.Float, "num_labels", 3)
	i64 := func(v ...int64) string { return g.ConstI64(v, int64(len(v))) }
	scalar := func(v float32) string { return g.Const([]float32{v}) } // rank 0, as Clip wants
	slice := func(in string, start, end, axis int64) string {
		return g.Op("Slice", []string{in, i64(start), i64(end), i64(axis)})
	}
	// The first point of each prompt, in cells of the 256² map: [B,2].
	pt := g.Op("Reshape", []string{slice("point_coords", 0, 1, 1), i64(-1, 2)})
	cell := g.Op("Div", []string{pt, g.Scalar(size / 256)})
	ij := g.Op("Cast", []string{g.Op("Clip", []string{g.Op("Floor", []string{cell}), scalar(0), scalar(255)})}, onnxtest.Int("to", onnxtest.Int64))
	x := g.Op("Reshape", []string{slice(ij, 0, 1, 1), i64(-1)})
	y := g.Op("Reshape", []string{slice(ij, 1, 2, 1), i64(-1)})
	idx := g.Op("Add", []string{g.Op("Mul", []string{y, i64(256)}), x}) // [B]
	// The point's chromaticity: [B,3,1,1].
	chroma := slice("high_res_feats_0", 0, 3, 1) // [1,3,256,256]
	flat := g.Op("Reshape", []string{chroma, i64(3, 256*256)})
	at := g.Op("Gather", []string{flat, idx}, onnxtest.Int("axis", 1)) // [3,B]
	c := g.Op("Reshape", []string{g.Op("Transpose", []string{at}, onnxtest.Ints("perm", 1, 0)), i64(-1, 3, 1, 1)})
	d := g.Op("Sub", []string{chroma, c}) // [B,3,256,256]
	dc := g.Op("ReduceSum", []string{g.Op("Mul", []string{d, d}), i64(1)}, onnxtest.Int("keepdims", 1))
	// Distance from the point: [B,1,256,256].
	xs := make([]float32, 256*256)
	ys := make([]float32, 256*256)
	for j := range 256 {
		for i := range 256 {
			xs[j*256+i], ys[j*256+i] = float32(i)+0.5, float32(j)+0.5
		}
	}
	px := g.Op("Reshape", []string{slice(cell, 0, 1, 1), i64(-1, 1, 1, 1)})
	py := g.Op("Reshape", []string{slice(cell, 1, 2, 1), i64(-1, 1, 1, 1)})
	dx := g.Op("Sub", []string{g.Const(xs, 1, 1, 256, 256), px})
	dy := g.Op("Sub", []string{g.Const(ys, 1, 1, 256, 256), py})
	ds := g.Op("Add", []string{g.Op("Mul", []string{dx, dx}), g.Op("Mul", []string{dy, dy})})
	s := g.Op("Add", []string{
		g.Op("Div", []string{dc, g.Scalar(SigmaChroma * SigmaChroma)}),
		g.Op("Div", []string{ds, g.Scalar(SigmaSpatial * SigmaSpatial)}),
	})
	// Prompts on achromatic colours (white, grey, black: saturation, the
	// chroma's variance over the channels, below MinSaturation) get no
	// mask: the stand-in cannot tell them apart.
	mean := g.Op("ReduceMean", []string{c}, onnxtest.Ints("axes", 1), onnxtest.Int("keepdims", 1))
	dev := g.Op("Sub", []string{c, mean})
	sat := g.Op("ReduceSum", []string{g.Op("Mul", []string{dev, dev}), i64(1)}, onnxtest.Int("keepdims", 1))
	s = g.Op("Add", []string{s, g.Op("Mul", []string{g.Op("Relu", []string{g.Op("Sub", []string{g.Scalar(MinSaturation), sat})}), g.Scalar(1e5)})})
	// α(T_k − s) for the three thresholds: [B,3,256,256].
	logits := g.Op("Mul", []string{g.Op("Sub", []string{g.Const(thresholds, 1, 3, 1, 1), s}), g.Scalar(Alpha)})
	logits = g.Op("Clip", []string{logits, scalar(-32), scalar(32)})
	if v == NaNLogits {
		logits = g.Op("Add", []string{logits, g.Op("Sqrt", []string{g.Scalar(-1)})})
	}
	g.Identity(logits, masks)
	// IoU: the constants, one row per prompt.
	zero := g.Op("Mul", []string{g.Op("ReduceSum", []string{logits, i64(2, 3)}, onnxtest.Int("keepdims", 0)), g.Scalar(0)})
	g.Node("Add", []string{zero, g.Const(ious, 1, 3)}, []string{iou})
	return g
}
