package scannet

import (
	"errors"
	"fmt"
	"image"
	"io/fs"
	"math"
	"path/filepath"

	"github.com/boostgen/boostgen/geometry"
)

// registerDepth resamples a depth image of another size onto the color
// image's pixels: each color pixel's ray (color intrinsics) is looked up in
// the depth image (depth intrinsics), nearest neighbour, as SensReader's
// users do. The depth and color cameras of an export share a pose, so no
// extrinsic is applied. Without intrinsic_depth.txt the two images cannot be
// related and the frame is an error.
func registerDepth(dir, dpath string, dimg image.Image, kc geometry.Intrinsics) (geometry.DepthMap, error) {
	b := dimg.Bounds()
	kpath := filepath.Join(dir, "intrinsic", "intrinsic_depth.txt")
	km, err := readMatrix(kpath)
	if errors.Is(err, fs.ErrNotExist) {
		return geometry.DepthMap{}, fmt.Errorf("scannet: %s: depth is %d×%d but color is %d×%d, and without %s the two cannot be registered", dpath, b.Dx(), b.Dy(), kc.W, kc.H, kpath)
	}
	if err != nil {
		return geometry.DepthMap{}, err
	}
	kd := intrinsicsOf(km, b.Dx(), b.Dy())
	if err := kd.Validate(); err != nil {
		return geometry.DepthMap{}, fmt.Errorf("scannet: %s: %w", kpath, err)
	}
	depth := DepthFromMillimeters(gray16Values(dimg))
	d := geometry.DepthMap{W: kc.W, H: kc.H, Z: make([]float32, kc.W*kc.H)}
	for j := 0; j < kc.H; j++ {
		y := (float64(j) - kc.Cy) / kc.Fy
		dj := int(math.Round(kd.Fy*y + kd.Cy))
		if dj < 0 || dj >= kd.H {
			continue
		}
		for i := 0; i < kc.W; i++ {
			x := (float64(i) - kc.Cx) / kc.Fx
			di := int(math.Round(kd.Fx*x + kd.Cx))
			if di < 0 || di >= kd.W {
				continue
			}
			d.Z[j*kc.W+i] = depth[dj*kd.W+di]
		}
	}
	return d, nil
}
