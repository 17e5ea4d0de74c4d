package vggt_test

import (
	"context"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/internal/models/vggt"
	"github.com/boostgen/boostgen/internal/onnxtest"
)

// pose is a camera given the way a test can state it: rotation by angle
// about axis, translation t, and focal lengths at the 518 input.
type pose struct {
	axis   [3]float64
	angle  float64
	t      [3]float64
	fx, fy float64
	qscale float64 // VGGT's quaternions need not be unit
}

// encode writes VGGT's pose encoding: t, quaternion (x,y,z,w), fov_h, fov_w.
func (p pose) encode() []float32 {
	n := math.Sqrt(p.axis[0]*p.axis[0] + p.axis[1]*p.axis[1] + p.axis[2]*p.axis[2])
	s := math.Sin(p.angle/2) / n * p.qscale
	return []float32{
		float32(p.t[0]), float32(p.t[1]), float32(p.t[2]),
		float32(p.axis[0] * s), float32(p.axis[1] * s), float32(p.axis[2] * s), float32(math.Cos(p.angle/2) * p.qscale),
		float32(2 * math.Atan(259/p.fy)), float32(2 * math.Atan(259/p.fx)),
	}
}

// rotation is Rodrigues' formula, independent of the quaternion decoding.
func (p pose) rotation() [3][3]float64 {
	n := math.Sqrt(p.axis[0]*p.axis[0] + p.axis[1]*p.axis[1] + p.axis[2]*p.axis[2])
	x, y, z := p.axis[0]/n, p.axis[1]/n, p.axis[2]/n
	c, s := math.Cos(p.angle), math.Sin(p.angle)
	C := 1 - c
	return [3][3]float64{
		{c + x*x*C, x*y*C - z*s, x*z*C + y*s},
		{y*x*C + z*s, c + y*y*C, y*z*C - x*s},
		{z*x*C - y*s, z*y*C + x*s, c + z*z*C},
	}
}

var poses = []pose{
	{axis: [3]float64{0, 0, 1}, angle: math.Pi / 2, t: [3]float64{1, 2, 3}, fx: 400, fy: 400, qscale: 1},
	{axis: [3]float64{1, -2, 0.5}, angle: 1.1, t: [3]float64{-0.5, 0, 4}, fx: 300, fy: 350, qscale: 2.5},
}

// model writes a VGGT stand-in for two views with the VGGT-1B contract:
// pose_enc is the constant encoding of poses, depth = 4*mean_c(x)+1,
// depth_conf = mean_c(x)+2, world_points = the pixel's RGB, and
// world_points_conf = 2*depth_conf.
func model(t *testing.T) string {
	const n = 518
	g := onnxtest.New().
		Input("input_images", onnxtest.Float, "S", 3, n, n).
		Output("pose_enc", onnxtest.Float, 1, "S", 9).
		Output("depth", onnxtest.Float, 1, "S", n, n, 1).
		Output("depth_conf", onnxtest.Float, 1, "S", n, n).
		Output("world_points", onnxtest.Float, 1, "S", n, n, 3).
		Output("world_points_conf", onnxtest.Float, 1, "S", n, n)
	enc := append(poses[0].encode(), poses[1].encode()...)
	all := g.Op("ReduceMean", []string{"input_images"}, onnxtest.Ints("axes", 1, 2, 3), onnxtest.Int("keepdims", 1))
	zero := g.Op("Mul", []string{g.Op("Reshape", []string{all, g.ConstI64([]int64{1, -1, 1}, 3)}), g.Scalar(0)})
	g.Node("Add", []string{zero, g.Const(enc, 1, 2, 9)}, []string{"pose_enc"})
	mean := g.Op("ReduceMean", []string{"input_images"}, onnxtest.Ints("axes", 1), onnxtest.Int("keepdims", 1))
	depth := g.Op("Add", []string{g.Op("Mul", []string{mean, g.Scalar(4)}), g.Scalar(1)})
	g.Node("Reshape", []string{depth, g.ConstI64([]int64{1, -1, n, n, 1}, 5)}, []string{"depth"})
	conf := g.Op("Reshape", []string{g.Op("Add", []string{mean, g.Scalar(2)}), g.ConstI64([]int64{1, -1, n, n}, 4)})
	g.Identity(conf, "depth_conf")
	g.Node("Mul", []string{conf, g.Scalar(2)}, []string{"world_points_conf"})
	hwc := g.Op("Transpose", []string{"input_images"}, onnxtest.Ints("perm", 0, 2, 3, 1))
	g.Node("Reshape", []string{hwc, g.ConstI64([]int64{1, -1, n, n, 3}, 5)}, []string{"world_points"})
	return g.WriteTemp(t, "vggt.onnx")
}

func solid(w, h int, c color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestPredict(t *testing.T) {
	lib := onnxtest.Library(t)
	path := model(t)
	// View 0 is 1036x518 (2:1), view 1 is 300x400 (3:4).
	imgs := []image.Image{
		solid(1036, 518, color.RGBA{255, 0, 51, 255}),
		solid(300, 400, color.RGBA{0, 102, 255, 255}),
	}
	rgb := [][3]float64{{1, 0, 0.2}, {0, 0.4, 1}}
	tests := []struct {
		fit string
		// wantK[i] is fx, fy, cx, cy of view i in original pixels.
		wantK [2][4]float64
	}{
		// Stretch: fx scales by W/518, fy by H/518, centre at W/2, H/2.
		{"stretch", [2][4]float64{
			{400 * 1036 / 518.0, 400 * 518 / 518.0, 518, 259},
			{300 * 300 / 518.0, 350 * 400 / 518.0, 150, 200},
		}},
		// Pad: view 0 lands as 518x259 at y=129, scale 1/2; view 1 lands
		// as 389x518 at x=64, scale 389/300 and 518/400.
		{"pad", [2][4]float64{
			{400 * 2, 400 * 2, 259 * 2, (259 - 129) * 2},
			{300 * 300 / 389.0, 350 * 400 / 518.0, (259 - 64) * 300 / 389.0, 259 * 400 / 518.0},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fit, func(t *testing.T) {
			c := vggt.Defaults()
			c.Path, c.Fit, c.ORT.Library = path, tc.fit, lib
			m, err := vggt.New(c)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			res, err := m.Predict(context.Background(), imgs)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Views) != 2 {
				t.Fatalf("%d views, want 2", len(res.Views))
			}
			for i, v := range res.Views {
				w, h := imgs[i].Bounds().Dx(), imgs[i].Bounds().Dy()
				if v.W != w || v.H != h || len(v.Depth) != w*h || len(v.DepthConf) != w*h || len(v.WorldPoints) != 3*w*h || len(v.PointConf) != w*h {
					t.Fatalf("view %d: %dx%d with %d/%d/%d/%d values, want %dx%d", i, v.W, v.H, len(v.Depth), len(v.DepthConf), len(v.WorldPoints), len(v.PointConf), w, h)
				}
				rot := poses[i].rotation()
				for a := range 3 {
					for b := range 3 {
						if !near(v.CamFromWorld[a][b], rot[a][b], 1e-5) {
							t.Errorf("view %d: R[%d][%d] = %v, want %v", i, a, b, v.CamFromWorld[a][b], rot[a][b])
						}
					}
					if !near(v.CamFromWorld[a][3], poses[i].t[a], 1e-6) {
						t.Errorf("view %d: t[%d] = %v, want %v", i, a, v.CamFromWorld[a][3], poses[i].t[a])
					}
				}
				k := tc.wantK[i]
				got := [4]float64{v.K[0][0], v.K[1][1], v.K[0][2], v.K[1][2]}
				for j := range k {
					if !near(got[j], k[j], 1e-3*k[j]) {
						t.Errorf("view %d: fx fy cx cy = %v, want %v", i, got, k)
						break
					}
				}
				if v.K[2][2] != 1 || v.K[0][1] != 0 || v.K[1][0] != 0 {
					t.Errorf("view %d: K = %v is not a pinhole matrix", i, v.K)
				}
				mean := (rgb[i][0] + rgb[i][1] + rgb[i][2]) / 3
				for _, p := range [][2]int{{0, 0}, {w - 1, h - 1}, {w / 2, h / 3}} {
					j := p[1]*w + p[0]
					if !near(float64(v.Depth[j]), 4*mean+1, 1e-3) || !near(float64(v.DepthConf[j]), mean+2, 1e-3) || !near(float64(v.PointConf[j]), 2*(mean+2), 1e-3) {
						t.Errorf("view %d at %v: depth %v conf %v point conf %v, want %v %v %v (padding leaking in?)", i, p, v.Depth[j], v.DepthConf[j], v.PointConf[j], 4*mean+1, mean+2, 2*(mean+2))
					}
					for ch := range 3 {
						if !near(float64(v.WorldPoints[3*j+ch]), rgb[i][ch], 1e-3) {
							t.Errorf("view %d at %v: point %v, want %v", i, p, v.WorldPoints[3*j:3*j+3], rgb[i])
							break
						}
					}
				}
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	lib := onnxtest.Library(t)
	path := model(t)
	tests := []struct {
		name   string
		change func(*vggt.Config)
		want   string
	}{
		{"crop is not offered", func(c *vggt.Config) { c.Fit = "crop" }, "want pad or stretch"},
		{"wrong output name", func(c *vggt.Config) { c.PoseOutput = "camera" }, `no output "camera"`},
		{"wrong size", func(c *vggt.Config) { c.Size = 224 }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := vggt.Defaults()
			c.Path, c.ORT.Library = path, lib
			tc.change(&c)
			m, err := vggt.New(c)
			if err == nil {
				// A wrong input size passes the rank check and must fail on
				// the first run, naming the model.
				defer m.Close()
				_, err = m.Predict(context.Background(), []image.Image{solid(10, 10, color.RGBA{A: 255})})
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Fatalf("Predict error %v, want one naming %s", err, path)
				}
				return
			}
			if tc.want == "" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestDecodePoseIdentity(t *testing.T) {
	// The identity rotation and 90 degree fields of view: f = half the side.
	ext, k := vggt.DecodePose([9]float64{0, 0, 0, 0, 0, 0, 1, math.Pi / 2, math.Pi / 2}, 200, 400)
	want := [3][4]float64{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}}
	if ext != want {
		t.Errorf("extrinsics %v, want %v", ext, want)
	}
	if !near(k[0][0], 200, 1e-9) || !near(k[1][1], 100, 1e-9) || k[0][2] != 200 || k[1][2] != 100 {
		t.Errorf("K %v, want fx 200 fy 100 cx 200 cy 100", k)
	}
}
