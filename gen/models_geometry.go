package gen

import (
	"bytes"
	"context"
	"image"
	_ "image/jpeg" // sources hold JPEG and PNG images
	_ "image/png"
	"math"
	"slices"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/geometry"
	"github.com/boostgen/boostgen/internal/models/vggt"
	"github.com/boostgen/boostgen/internal/ort"
)

// decodeView decodes a view's image and checks it has the view's size.
func decodeView(v *scene.View) (image.Image, error) {
	img, _, err := image.Decode(bytes.NewReader(v.Image.Bytes))
	if err != nil {
		return nil, reject(RejectSource, "view %s: decode image: %v", v.Name, err)
	}
	if b := img.Bounds(); b.Dx() != v.W || b.Dy() != v.H {
		return nil, reject(RejectView, "view %s: image is %d×%d but the view says %d×%d", v.Name, b.Dx(), b.Dy(), v.W, v.H)
	}
	return img, nil
}

// centred are pinhole intrinsics with the principal point at the image
// centre (pixel centres at integer coordinates): what a model that only
// predicts focal lengths assumes.
func centred(fx, fy float64, w, h int) geometry.Intrinsics {
	return geometry.Intrinsics{Fx: fx, Fy: fy, Cx: float64(w-1) / 2, Cy: float64(h-1) / 2, W: w, H: h}
}

// depthResult is Depth-Pro's estimate for one view, in meters.
type depthResult struct {
	depth geometry.DepthMap
	k     geometry.Intrinsics
	// fromSource: the intrinsics are the source's and the depth was
	// rescaled by ratio = source focal / estimated focal.
	fromSource bool
	ratio      float64
}

// depthPro runs Depth-Pro on one view, whose image the caller has decoded
// (decodeView). Where the source knows the camera its intrinsics are kept
// and the depth is rescaled by the ratio of its focal length to the
// estimated one: Depth-Pro's metric depth is proportional to the focal
// length it assumes, and this is what its own inference does when it is
// given a known focal length. Otherwise the intrinsics are the estimated
// focal length with a centred principal point.
func (ms *modelSet) depthPro(ctx context.Context, v *scene.View, img image.Image) (depthResult, error) {
	res, err := ms.depth.Predict(ctx, img)
	if err != nil {
		return depthResult{}, reject(RejectModel, "view %s: %v", v.Name, err)
	}
	z := res.Depth
	if res.Conf != nil {
		thr := float32(*ms.cfg.DepthPro.MinConfidence)
		for i, c := range res.Conf {
			if !(c >= thr) {
				z[i] = 0
			}
		}
	}
	out := depthResult{k: centred(res.FocalPx, res.FocalPx, v.W, v.H), ratio: 1}
	if v.K.Validate() == nil && v.K.W == v.W && v.K.H == v.H {
		out.k, out.fromSource = v.K, true
		// Within float32 precision of the model's output the focal
		// lengths agree and the depth stays as it is.
		if r := v.K.Fx / res.FocalPx; math.Abs(r-1) > 1e-6 {
			out.ratio = r
			r := float32(out.ratio)
			for i := range z {
				z[i] *= r
			}
		}
	}
	out.depth = geometry.DepthMap{W: v.W, H: v.H, Z: z}
	return out, nil
}

// estimateDepth replaces every view's depth (and unknown intrinsics) with
// Depth-Pro's. The views of one item go to the batcher together.
func (ms *modelSet) estimateDepth(ctx context.Context, it *scene.Item) (*GeometryMeta, error) {
	res := make([]depthResult, len(it.Views))
	err := ort.Each(ctx, len(it.Views), len(it.Views), func(ctx context.Context, i int) error {
		v := &it.Views[i]
		img, err := decodeView(v)
		if err != nil {
			return err
		}
		res[i], err = ms.depthPro(ctx, v, img)
		return err
	})
	if err != nil {
		return nil, err
	}
	meta := &GeometryMeta{Depth: DepthDepthPro}
	if len(it.Views) > 1 {
		meta.Multiview = MultiviewPoses
	}
	fromSource := 0
	for i, r := range res {
		it.Views[i].Depth, it.Views[i].K = r.depth, r.k
		if r.fromSource {
			fromSource++
		}
	}
	switch fromSource {
	case 0:
		meta.Intrinsics = DepthDepthPro
	case len(res):
		meta.Intrinsics = DepthSource
		// The anchor is not known yet; the first view's ratio stands for
		// the item (one camera per item is the usual case).
		if r := res[0].ratio; r != 1 {
			meta.Scale = &ScaleMeta{Method: "source_focal", Factor: round6(r)}
		}
	default:
		meta.Intrinsics = "mixed"
	}
	return meta, nil
}

// reconstruct runs VGGT on all views of an item and replaces their depth,
// intrinsics and poses with its estimate, brought to meters.
//
// By default VGGT's depth head is used with its decoded cameras (its
// authors report depth + camera more accurate than the point-map head);
// with models.vggt.points: world_points each pixel's depth is its world
// point seen from the decoded camera instead. Pixels whose confidence is
// below models.vggt.min_confidence become invalid. Every view
// is expressed in VGGT's world frame (its first camera), which merges them
// into one frame; analyze then moves that frame onto the floor as for any
// multi-view source. The scale factor is the median, over confident pixels,
// of metric depth divided by VGGT depth, where metric depth is the source's
// own (source_depth) or Depth-Pro's on the first view (depthpro); with
// neither available the item is rejected rather than given in VGGT units.
func (ms *modelSet) reconstruct(ctx context.Context, it *scene.Item) (*GeometryMeta, error) {
	c := ms.cfg.VGGT
	imgs := make([]image.Image, len(it.Views))
	for i := range it.Views {
		img, err := decodeView(&it.Views[i])
		if err != nil {
			return nil, err
		}
		imgs[i] = img
	}
	res, err := ms.vggt.Predict(ctx, imgs)
	if err != nil {
		return nil, reject(RejectModel, "%v", err)
	}
	thr := float32(*c.MinConfidence)
	depths := make([][]float32, len(it.Views))
	for i, rv := range res.Views {
		v := &it.Views[i]
		if rv.W != v.W || rv.H != v.H {
			return nil, reject(RejectModel, "view %s: vggt returned %d×%d for a %d×%d image", v.Name, rv.W, rv.H, v.W, v.H)
		}
		d, conf := rv.Depth, rv.DepthConf
		if c.Points == "world_points" {
			d, conf = pointDepth(rv), rv.PointConf
		}
		z := make([]float32, len(d))
		for p, dp := range d {
			if conf[p] >= thr && dp > 0 && !math.IsInf(float64(dp), 0) {
				z[p] = dp
			} else {
				z[p] = float32(math.NaN())
			}
		}
		depths[i] = z
	}

	scale, err := ms.vggtScale(ctx, it, imgs[0], depths)
	if err != nil {
		return nil, err
	}
	f := float32(scale.Factor)
	for i, rv := range res.Views {
		v := &it.Views[i]
		z := depths[i]
		for p := range z {
			z[p] *= f
		}
		var camFromWorld geometry.Pose
		for a := range 3 {
			for b := range 3 {
				camFromWorld.R[a][b] = rv.CamFromWorld[a][b]
			}
			camFromWorld.T[a] = rv.CamFromWorld[a][3] * scale.Factor
		}
		pose := camFromWorld.Inverse()
		if !pose.IsFinite() {
			return nil, reject(RejectModel, "view %s: vggt camera is not finite", v.Name)
		}
		v.Depth = geometry.DepthMap{W: v.W, H: v.H, Z: z}
		// VGGT predicts fields of view and assumes a centred principal point.
		v.K = centred(rv.K[0][0], rv.K[1][1], v.W, v.H)
		v.CamToWorld = &pose
	}
	scale.Factor = round6(scale.Factor)
	return &GeometryMeta{Depth: MultiviewVGGT, Intrinsics: MultiviewVGGT, Multiview: MultiviewVGGT, Scale: scale}, nil
}

// pointDepth is the depth along the view's camera axis of its world
// points: the third row of camera-from-world applied to each point.
func pointDepth(v vggt.View) []float32 {
	r := v.CamFromWorld[2]
	out := make([]float32, v.W*v.H)
	for p := range out {
		x, y, z := float64(v.WorldPoints[3*p]), float64(v.WorldPoints[3*p+1]), float64(v.WorldPoints[3*p+2])
		out[p] = float32(r[0]*x + r[1]*y + r[2]*z + r[3])
	}
	return out
}

// vggtScale finds the factor that turns VGGT's units into meters; first is
// the first view's decoded image, for Depth-Pro.
func (ms *modelSet) vggtScale(ctx context.Context, it *scene.Item, first image.Image, vg [][]float32) (*ScaleMeta, error) {
	c := ms.cfg.VGGT
	method := c.Scale
	if method == ScaleAuto {
		method = ScaleDepthPro
		if hasDepth(it) {
			method = ScaleSource
		} else if ms.depth == nil {
			return nil, reject(RejectDepth, "vggt is not metric and this item has no depth to fix its scale; configure models.depthpro or use a source with depth")
		}
	}
	var ratios []float64
	add := func(metric, model []float32) {
		for p, m := range metric {
			if m > 0 && !math.IsInf(float64(m), 0) && model[p] > 0 { // NaN fails both
				ratios = append(ratios, float64(m)/float64(model[p]))
			}
		}
	}
	switch method {
	case ScaleSource:
		if !hasDepth(it) {
			return nil, reject(RejectDepth, "models.vggt.scale is source_depth but the source gives no depth for every view")
		}
		for i, v := range it.Views {
			add(v.Depth.Z, vg[i])
		}
	case ScaleDepthPro:
		r, err := ms.depthPro(ctx, &it.Views[0], first)
		if err != nil {
			return nil, err
		}
		add(r.depth.Z, vg[0])
	}
	if len(ratios) < c.MinScalePixels {
		return nil, reject(RejectDepth, "%d pixels with both confident vggt depth and %s depth, need %d to fix the scale", len(ratios), method, c.MinScalePixels)
	}
	return &ScaleMeta{Method: method, Factor: median(ratios), Pixels: len(ratios)}, nil
}

// hasDepth reports whether every view carries depth at its own size.
func hasDepth(it *scene.Item) bool {
	for _, v := range it.Views {
		if len(v.Depth.Z) == 0 || len(v.Depth.Z) != v.W*v.H {
			return false
		}
	}
	return true
}

func median(x []float64) float64 {
	slices.Sort(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}
