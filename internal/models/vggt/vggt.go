// Package vggt runs VGGT-1B (multi-view reconstruction: cameras, depth and
// a point map for every view of a scene) through ONNX Runtime.
//
// VGGT is NOT metric: its cameras, depths and points share one arbitrary
// scale per scene (the first camera is the world frame, and the scene is
// normalised by the network). Whoever needs meters must fix the scale from
// another source (boostgen does so outside this package).
//
// The contract follows VGGT's forward pass on S views: input input_images
// [S,3,518,518] with values in [0,1]; outputs pose_enc [1,S,9], depth
// [1,S,518,518,1], depth_conf [1,S,518,518], world_points [1,S,518,518,3],
// world_points_conf [1,S,518,518]. Names and the input size are
// configurable; output shapes are checked by element count, so exports that
// drop the leading 1 work too.
//
// Images are put on the square input as VGGT's own "pad" preprocessing does
// by default (longest side to 518, centred on white), or stretched. Dense
// outputs are mapped back to each image's original size from the part of
// the input the image covered, and the intrinsics are rescaled to match.
package vggt

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
	Path string
	// Names of the export's input and outputs.
	Input, PoseOutput, DepthOutput, DepthConfOutput, PointsOutput, PointsConfOutput string
	// Size is the square input side in pixels.
	Size int
	// Fit is "pad" (VGGT's pad mode, white background) or "stretch".
	Fit string
	ORT ort.Options
}

// Defaults returns the VGGT-1B contract.
func Defaults() Config {
	return Config{
		Input:            "input_images",
		PoseOutput:       "pose_enc",
		DepthOutput:      "depth",
		DepthConfOutput:  "depth_conf",
		PointsOutput:     "world_points",
		PointsConfOutput: "world_points_conf",
		Size:             518,
		Fit:              "pad",
	}
}

// View is VGGT's estimate for one input image, at that image's own size.
type View struct {
	W, H int
	// CamFromWorld is the OpenCV-convention extrinsic [R|t] (x right, y
	// down, z forward) mapping world points into this camera.
	CamFromWorld [3][4]float64
	// K is the pinhole intrinsic matrix in original-image pixels.
	K [3][3]float64
	// Depth along the camera z axis, row-major W*H, in VGGT's scene scale.
	Depth     []float32
	DepthConf []float32
	// WorldPoints holds x, y, z per pixel (3*W*H), in the world frame.
	WorldPoints []float32
	PointConf   []float32
}

// Result is the reconstruction of one scene.
type Result struct{ Views []View }

// Model is a loaded VGGT, safe for concurrent use (one scene per run).
type Model struct {
	cfg Config
	fit imgprep.Fit
	s   *ort.Session
}

// New loads the model.
func New(c Config) (*Model, error) {
	fit, err := imgprep.ParseFit(c.Fit)
	if err != nil || fit == imgprep.CenterCrop {
		return nil, fmt.Errorf("vggt: resize mode %q: want pad or stretch", c.Fit)
	}
	if c.Size <= 0 {
		return nil, fmt.Errorf("vggt: input size %d: want a positive number of pixels", c.Size)
	}
	s, err := ort.Open(c.Path, ort.Contract{
		Inputs: []ort.Spec{{Name: c.Input, Ranks: []int{4, 5}}},
		Outputs: []ort.Spec{
			{Name: c.PoseOutput, Ranks: []int{2, 3}},
			{Name: c.DepthOutput, Ranks: []int{3, 4, 5}},
			{Name: c.DepthConfOutput, Ranks: []int{3, 4}},
			{Name: c.PointsOutput, Ranks: []int{4, 5}},
			{Name: c.PointsConfOutput, Ranks: []int{3, 4}},
		},
	}, c.ORT)
	if err != nil {
		return nil, fmt.Errorf("vggt: %w", err)
	}
	return &Model{cfg: c, fit: fit, s: s}, nil
}

// Close releases the model.
func (m *Model) Close() error { return m.s.Close() }

// Predict reconstructs the scene seen by imgs (all views in one run).
func (m *Model) Predict(ctx context.Context, imgs []image.Image) (Result, error) {
	if len(imgs) == 0 {
		return Result{}, fmt.Errorf("vggt: no images")
	}
	n := m.cfg.Size
	plane := 3 * n * n
	px := make([]float32, len(imgs)*plane)
	places := make([]imgprep.Placement, len(imgs))
	for i, img := range imgs {
		in, p := imgprep.Input(img, n, n, m.fit, imgprep.Unit, 1)
		if p.SrcW == 0 || p.SrcH == 0 {
			return Result{}, fmt.Errorf("vggt: image %d is empty", i)
		}
		copy(px[i*plane:], in)
		places[i] = p
	}
	s := len(imgs)
	outs, err := m.s.Run(ctx, ort.F32Tensor(px, int64(s), 3, int64(n), int64(n)))
	if err != nil {
		return Result{}, fmt.Errorf("vggt: %w", err)
	}
	names := []string{m.cfg.PoseOutput, m.cfg.DepthOutput, m.cfg.DepthConfOutput, m.cfg.PointsOutput, m.cfg.PointsConfOutput}
	per := []int{9, n * n, n * n, 3 * n * n, n * n}
	for i, o := range outs {
		if len(o.F32) != s*per[i] {
			return Result{}, fmt.Errorf("vggt: model %s: output %q has shape %v, want %d values for each of %d views", m.cfg.Path, names[i], o.Shape, per[i], s)
		}
	}
	res := Result{Views: make([]View, s)}
	for i, p := range places {
		var enc [9]float64
		for j := range enc {
			enc[j] = float64(outs[0].F32[i*9+j])
			if math.IsNaN(enc[j]) || math.IsInf(enc[j], 0) {
				return Result{}, fmt.Errorf("vggt: model %s: view %d: pose encoding %v is not finite", m.cfg.Path, i, outs[0].F32[i*9:i*9+9])
			}
		}
		ext, k := DecodePose(enc, n, n)
		v := View{
			W: p.SrcW, H: p.SrcH,
			CamFromWorld: ext,
			K:            toOriginal(k, p),
			Depth:        p.Back(outs[1].F32[i*per[1]:(i+1)*per[1]], 1),
			DepthConf:    p.Back(outs[2].F32[i*per[2]:(i+1)*per[2]], 1),
			WorldPoints:  p.Back(outs[3].F32[i*per[3]:(i+1)*per[3]], 3),
			PointConf:    p.Back(outs[4].F32[i*per[4]:(i+1)*per[4]], 1),
		}
		res.Views[i] = v
	}
	return res, nil
}

// DecodePose is VGGT's pose_encoding_to_extri_intri for one view of an
// image h x w: enc holds translation (3), a rotation quaternion (4, scalar
// LAST: x, y, z, w; not necessarily unit) and the vertical and horizontal
// fields of view in radians. The principal point is the image centre.
func DecodePose(enc [9]float64, h, w int) (camFromWorld [3][4]float64, k [3][3]float64) {
	i, j, kk, r := enc[3], enc[4], enc[5], enc[6]
	twoS := 2 / (i*i + j*j + kk*kk + r*r)
	rot := [3][3]float64{
		{1 - twoS*(j*j+kk*kk), twoS * (i*j - kk*r), twoS * (i*kk + j*r)},
		{twoS * (i*j + kk*r), 1 - twoS*(i*i+kk*kk), twoS * (j*kk - i*r)},
		{twoS * (i*kk - j*r), twoS * (j*kk + i*r), 1 - twoS*(i*i+j*j)},
	}
	for a := range 3 {
		copy(camFromWorld[a][:3], rot[a][:])
		camFromWorld[a][3] = enc[a]
	}
	fovH, fovW := enc[7], enc[8]
	k[0][0] = (float64(w) / 2) / math.Tan(fovW/2)
	k[1][1] = (float64(h) / 2) / math.Tan(fovH/2)
	k[0][2] = float64(w) / 2
	k[1][2] = float64(h) / 2
	k[2][2] = 1
	return camFromWorld, k
}

// toOriginal re-expresses intrinsics of the model input in the original
// image's pixels: the image occupies [X, X+W) x [Y, Y+H) of the input, so
// an original coordinate x maps to X + x*W/SrcW.
func toOriginal(k [3][3]float64, p imgprep.Placement) [3][3]float64 {
	sx := float64(p.W) / float64(p.SrcW)
	sy := float64(p.H) / float64(p.SrcH)
	k[0][0] /= sx
	k[0][2] = (k[0][2] - float64(p.X)) / sx
	k[1][1] /= sy
	k[1][2] = (k[1][2] - float64(p.Y)) / sy
	return k
}
