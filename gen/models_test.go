package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/gen/synthetic"
	"github.com/boostgen/boostgen/geometry"
	"github.com/boostgen/boostgen/internal/models/imgprep"
	"github.com/boostgen/boostgen/internal/onnxtest"
)

// The tests below stand in for Depth-Pro and VGGT with lookup models: ONNX
// graphs with the real exports' contracts that hold a few synthetic views
// (as their model inputs) together with those views' true geometry, find
// each input's view by nearest match (ArgMin of the mean absolute
// difference) and return that view's geometry. They run through the real
// ONNX Runtime and the real batcher, so the pipeline sees exactly what it
// would from a perfect model.

// modelSide is the square image and model input size: rendering at the
// model's size makes the resizing on the way in and out the identity.
const modelSide = 160

// vggtUnit is VGGT's scene unit in meters for the stand-in: its depths and
// translations are true values times vggtUnit (a power of two, so the
// scaling itself is exact).
const vggtUnit = 0.25

// modelScenes are the synthetic scenes the model tests render: at the
// stand-ins' input size, with smaller objects than by default.
var modelScenes = synthetic.Options{Width: modelSide, Height: modelSide, WallChance: 0.5, MinObjects: 3, MaxObjects: 8}

// float32Focal rounds the cameras' focal lengths to float32, the precision
// a model's output has, so that a model can return them exactly.
func float32Focal(sc *synthetic.Scene) {
	for c := range sc.Cameras {
		f := float64(float32(sc.Cameras[c].K.Fx))
		sc.Cameras[c].K.Fx, sc.Cameras[c].K.Fy = f, f
	}
}

// renderSets renders synthetic items as the synthetic source numbers them,
// with exactFocal after float32Focal.
func renderSets(t *testing.T, seed uint64, sets []SyntheticSet, exactFocal bool) []*scene.Item {
	t.Helper()
	var items []*scene.Item
	index := 0
	for _, set := range sets {
		for range set.Scenes {
			sc, err := synthetic.Generate(seed, index, set.Views, modelScenes)
			if err != nil {
				t.Fatal(err)
			}
			if exactFocal {
				float32Focal(sc)
			}
			it, _, err := sc.Item(fmt.Sprintf("synthetic-%06d-%dv", index, set.Views))
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, it)
			index++
		}
	}
	return items
}

func decode(t *testing.T, v scene.View) image.Image {
	t.Helper()
	img, err := decodeView(&v)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// lookup adds the nearest-view search to g: the input [N,3,n,n] against
// refs (one 3*n*n input per known view) gives an int64 index [N].
func lookup(g *onnxtest.Graph, input string, refs [][]float32) string {
	n := int64(modelSide)
	var flat []float32
	for _, r := range refs {
		flat = append(flat, r...)
	}
	x := g.Op("Reshape", []string{input, g.ConstI64([]int64{-1, 1, 3, n, n}, 5)})
	diff := g.Op("Abs", []string{g.Op("Sub", []string{x, g.Const(flat, 1, int64(len(refs)), 3, n, n)})})
	score := g.Op("ReduceMean", []string{diff}, onnxtest.Ints("axes", 2, 3, 4), onnxtest.Int("keepdims", 0))
	return g.Op("ArgMin", []string{score}, onnxtest.Int("axis", 1), onnxtest.Int("keepdims", 0))
}

// depthProModel writes a Depth-Pro stand-in knowing every view of items:
// their true depth and focal length (the public export's contract, at
// modelSide instead of 1536).
func depthProModel(t *testing.T, items []*scene.Item, focalScale float32) string {
	t.Helper()
	return depthProModelConf(t, items, focalScale, false)
}

// depthProModelConf is depthProModel, with withConf also a confidence
// output "conf" that is lowConf on the top tenth of every view and 10
// elsewhere.
func depthProModelConf(t *testing.T, items []*scene.Item, focalScale float32, withConf bool) string {
	t.Helper()
	var refs [][]float32
	var depth, focal []float32
	for _, it := range items {
		for _, v := range it.Views {
			in, _ := imgprep.Input(decode(t, v), modelSide, modelSide, imgprep.Stretch, imgprep.Symmetric, 0)
			refs = append(refs, in)
			depth = append(depth, v.Depth.Z...)
			focal = append(focal, float32(v.K.Fx)*focalScale)
		}
	}
	k := int64(len(refs))
	g := onnxtest.New().
		Input("pixel_values", onnxtest.Float, "B", 3, modelSide, modelSide).
		Output("predicted_depth", onnxtest.Float, "B", modelSide, modelSide).
		Output("focallength_px", onnxtest.Float, "B")
	idx := lookup(g, "pixel_values", refs)
	g.Node("Gather", []string{g.Const(depth, k, modelSide, modelSide), idx}, []string{"predicted_depth"}, onnxtest.Int("axis", 0))
	if withConf {
		conf := make([]float32, len(depth))
		for p := range conf {
			conf[p] = 10
			if p%(modelSide*modelSide) < modelSide*modelSide/10 {
				conf[p] = lowConf
			}
		}
		g.Output("conf", onnxtest.Float, "B", modelSide, modelSide)
		g.Node("Gather", []string{g.Const(conf, k, modelSide, modelSide), idx}, []string{"conf"}, onnxtest.Int("axis", 0))
	}
	g.Node("Gather", []string{g.Const(focal, k), idx}, []string{"focallength_px"}, onnxtest.Int("axis", 0))
	return g.WriteTemp(t, "depthpro.onnx")
}

// quaternion turns a rotation matrix into VGGT's quaternion (x, y, z, w).
func quaternion(m geometry.Mat3) [4]float64 {
	tr := m[0][0] + m[1][1] + m[2][2]
	switch {
	case tr > 0:
		s := math.Sqrt(tr+1) * 2
		return [4]float64{(m[2][1] - m[1][2]) / s, (m[0][2] - m[2][0]) / s, (m[1][0] - m[0][1]) / s, s / 4}
	case m[0][0] > m[1][1] && m[0][0] > m[2][2]:
		s := math.Sqrt(1+m[0][0]-m[1][1]-m[2][2]) * 2
		return [4]float64{s / 4, (m[0][1] + m[1][0]) / s, (m[0][2] + m[2][0]) / s, (m[2][1] - m[1][2]) / s}
	case m[1][1] > m[2][2]:
		s := math.Sqrt(1+m[1][1]-m[0][0]-m[2][2]) * 2
		return [4]float64{(m[0][1] + m[1][0]) / s, s / 4, (m[1][2] + m[2][1]) / s, (m[0][2] - m[2][0]) / s}
	default:
		s := math.Sqrt(1+m[2][2]-m[0][0]-m[1][1]) * 2
		return [4]float64{(m[0][2] + m[2][0]) / s, (m[1][2] + m[2][1]) / s, s / 4, (m[1][0] - m[0][1]) / s}
	}
}

// lowConf is the depth confidence the VGGT stand-in gives the top rows of
// every view but the first (elsewhere it gives 10).
const lowConf = 3

// vggtModel writes a VGGT stand-in knowing every view of items: as VGGT
// does, it states cameras relative to the first input view, in units of
// vggtUnit meters: pose_enc (translation, quaternion scalar last, FoV h/w),
// depth, depth_conf, world_points (in the first camera's frame) and
// world_points_conf.
func vggtModel(t *testing.T, items []*scene.Item) string {
	t.Helper()
	const n = modelSide
	var refs [][]float32
	var pose, depth, conf, points []float32
	for _, it := range items {
		first := *it.Views[0].CamToWorld
		for i, v := range it.Views {
			in, _ := imgprep.Input(decode(t, v), n, n, imgprep.Pad, imgprep.Unit, 1)
			refs = append(refs, in)
			// camera i from camera 0: camera 0 → world → camera i.
			rel := first.Then(v.CamToWorld.Inverse())
			q := quaternion(rel.R)
			fovH := 2 * math.Atan(float64(n)/2/v.K.Fy)
			fovW := 2 * math.Atan(float64(n)/2/v.K.Fx)
			for _, x := range []float64{rel.T[0] * vggtUnit, rel.T[1] * vggtUnit, rel.T[2] * vggtUnit, q[0], q[1], q[2], q[3], fovH, fovW} {
				pose = append(pose, float32(x))
			}
			toFirst := rel.Inverse()
			for p, z := range v.Depth.Z {
				depth = append(depth, z*vggtUnit)
				c := float32(10)
				if i > 0 && p < n*n/10 {
					c = lowConf
				}
				conf = append(conf, c)
				w := toFirst.Apply(v.K.Unproject(float64(p%n), float64(p/n), float64(z))).Scale(vggtUnit)
				points = append(points, float32(w[0]), float32(w[1]), float32(w[2]))
			}
		}
	}
	k := int64(len(refs))
	g := onnxtest.New().
		Input("input_images", onnxtest.Float, "S", 3, n, n).
		Output("pose_enc", onnxtest.Float, 1, "S", 9).
		Output("depth", onnxtest.Float, 1, "S", n, n, 1).
		Output("depth_conf", onnxtest.Float, 1, "S", n, n).
		Output("world_points", onnxtest.Float, 1, "S", n, n, 3).
		Output("world_points_conf", onnxtest.Float, 1, "S", n, n)
	idx := lookup(g, "input_images", refs)
	gather := func(data []float32, dims ...int64) string {
		return g.Op("Gather", []string{g.Const(data, append([]int64{k}, dims...)...), idx}, onnxtest.Int("axis", 0))
	}
	g.Node("Reshape", []string{gather(pose, 9), g.ConstI64([]int64{1, -1, 9}, 3)}, []string{"pose_enc"})
	g.Node("Reshape", []string{gather(depth, n, n), g.ConstI64([]int64{1, -1, n, n, 1}, 5)}, []string{"depth"})
	c := g.Op("Reshape", []string{gather(conf, n, n), g.ConstI64([]int64{1, -1, n, n}, 4)})
	g.Identity(c, "depth_conf")
	g.Identity(c, "world_points_conf")
	g.Node("Reshape", []string{gather(points, n, n, 3), g.ConstI64([]int64{1, -1, n, n, 3}, 5)}, []string{"world_points"})
	return g.WriteTemp(t, "vggt.onnx")
}

// configProcessor is the processor made from config text; it is closed
// when t ends.
func configProcessor(t *testing.T, cfgText string) *processor {
	t.Helper()
	cfg, err := ParseConfig([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// processAll runs items through a processor made from config text.
func processAll(t *testing.T, cfgText string, items []*scene.Item) []outcome {
	t.Helper()
	p := configProcessor(t, cfgText)
	outs := make([]outcome, len(items))
	for i, it := range items {
		outs[i] = p.process(context.Background(), it)
	}
	return outs
}

// outcomeJSON is an outcome as text, without what legitimately differs
// between geometry sources (the config hash and meta.geometry).
func outcomeJSON(t *testing.T, o outcome) string {
	t.Helper()
	if o.reject != nil {
		return "reject " + o.reject.Code + ": " + o.reject.Reason
	}
	r := *o.record
	r.Meta.ConfigSHA256, r.Meta.Geometry = "", nil
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// baseConfig is a config for seed with geo added to the geometry section.
// Objects may be smaller than by default, for more records at modelSide.
func baseConfig(seed int, geo string) string {
	return fmt.Sprintf("seed: %d\nsource: {type: synthetic, synthetic: {width: %d, height: %d}}\ngeometry: {min_mask_pixels: 40, min_points: 20%s}\n", seed, modelSide, modelSide, geo)
}

func models(lib string, extra string) string {
	return fmt.Sprintf("models:\n  ort_library: %q\n  batch: {max_batch: 4, max_wait_ms: 2}\n%s", lib, extra)
}

// TestDepthProSameRecords checks the depthpro hook end to end: a Depth-Pro
// that reproduces the scenes' true depth and focal length gives exactly the
// records the ground-truth path gives, whether the source's intrinsics are
// kept or the model's focal length has to stand in for unknown ones.
func TestDepthProSameRecords(t *testing.T) {
	lib := onnxtest.Library(t)
	sets := []SyntheticSet{{Views: 1, Scenes: 10}, {Views: 2, Scenes: 2}}
	items := func() []*scene.Item { return renderSets(t, 3, sets, true) }
	want := processAll(t, baseConfig(3, ""), items())
	path := depthProModel(t, items(), 1)
	cfg := baseConfig(3, ", depth: depthpro") + models(lib, fmt.Sprintf("  depthpro: {path: %q, size: %d}\n", path, modelSide))

	tests := []struct {
		name           string
		dropK          bool
		wantIntrinsics string
	}{
		{"source intrinsics", false, DepthSource},
		{"model focal length", true, DepthDepthPro},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := items()
			for _, it := range in {
				for v := range it.Views {
					it.Views[v].Depth = geometry.DepthMap{} // the model must supply it
					if tc.dropK {
						it.Views[v].K = geometry.Intrinsics{}
					}
				}
			}
			got := processAll(t, cfg, in)
			records := 0
			for i := range want {
				w, g := outcomeJSON(t, want[i]), outcomeJSON(t, got[i])
				if w != g {
					t.Errorf("item %d differs:\nground truth: %s\ndepthpro:     %s", i, w, g)
					continue
				}
				if got[i].record == nil {
					continue
				}
				records++
				geo := got[i].record.Meta.Geometry
				if geo == nil || geo.Depth != DepthDepthPro || geo.Intrinsics != tc.wantIntrinsics || geo.Scale != nil {
					t.Errorf("item %d: meta.geometry = %+v, want depth depthpro, intrinsics %s, no scale", i, geo, tc.wantIntrinsics)
				}
			}
			if records < 4 {
				t.Errorf("only %d records of %d items: the comparison proves little", records, len(want))
			}
		})
	}
}

// TestDepthProSourceFocal: where the source knows the focal length and the
// model's estimate differs, the depth is rescaled by their ratio, as
// Depth-Pro's own inference does given a known focal length, and the record
// says so.
func TestDepthProSourceFocal(t *testing.T) {
	lib := onnxtest.Library(t)
	sets := []SyntheticSet{{Views: 1, Scenes: 3}}
	items := renderSets(t, 3, sets, true)
	truth := renderSets(t, 3, sets, true)
	// The model believes the focal length is half the true one, and its
	// depth is the true depth (as if computed for the true focal length).
	path := depthProModel(t, items, 0.5)
	p := configProcessor(t, baseConfig(3, ", depth: depthpro")+models(lib, fmt.Sprintf("  depthpro: {path: %q, size: %d}\n", path, modelSide)))
	for i, it := range items {
		geo, err := p.withModels(context.Background(), it)
		if err != nil {
			t.Fatal(err)
		}
		if geo.Scale == nil || geo.Scale.Method != "source_focal" || geo.Scale.Factor != 2 {
			t.Fatalf("item %d: scale %+v, want source_focal ×2", i, geo.Scale)
		}
		v, tv := it.Views[0], truth[i].Views[0]
		if v.K != tv.K {
			t.Errorf("item %d: intrinsics %+v, want the source's %+v", i, v.K, tv.K)
		}
		for px, z := range tv.Depth.Z {
			if v.Depth.Z[px] != 2*z {
				t.Fatalf("item %d pixel %d: depth %v, want 2 × %v", i, px, v.Depth.Z[px], z)
			}
		}
	}
}

// near compares two decoded JSON values: numbers within tol, the rest
// equal. It returns the path of the first difference.
func near(a, b any, tol float64, path string) string {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok || math.Abs(x-y) > tol {
			return fmt.Sprintf("%s: %v vs %v", path, a, b)
		}
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s: %v vs %v", path, a, b)
		}
		for k := range x {
			if d := near(x[k], y[k], tol, path+"."+k); d != "" {
				return d
			}
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return fmt.Sprintf("%s: %v vs %v", path, a, b)
		}
		for i := range x {
			if d := near(x[i], y[i], tol, fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	default:
		if !reflect.DeepEqual(a, b) {
			return fmt.Sprintf("%s: %v vs %v", path, a, b)
		}
	}
	return ""
}

// TestVGGTSameRecords checks the vggt hook end to end: a VGGT that states
// the scenes' true cameras and depth, relative to the first view and in
// units of a quarter meter, gives the records of the ground-truth path once
// its scale is fixed, both from the source's depth and from a Depth-Pro pass
// on the first view. Cameras pass through float32 pose encodings, so
// numbers may differ in the last rounded digit (1 mm, 1e-4 of a pixel of
// focal length).
func TestVGGTSameRecords(t *testing.T) {
	lib := onnxtest.Library(t)
	sets := []SyntheticSet{{Views: 2, Scenes: 8}, {Views: 4, Scenes: 4}}
	items := func() []*scene.Item { return renderSets(t, 5, sets, true) }
	want := processAll(t, baseConfig(5, ""), items())
	vggtPath := vggtModel(t, items())
	dpPath := depthProModel(t, items(), 1)

	tests := []struct {
		scale   string
		noDepth bool // the source gives no depth
		points  string
	}{
		{ScaleSource, false, "depth"},
		{ScaleDepthPro, true, "depth"},
		{ScaleAuto, true, "depth"},
		{ScaleSource, false, "world_points"},
	}
	for _, tc := range tests {
		t.Run(tc.scale+"/"+tc.points, func(t *testing.T) {
			cfg := baseConfig(5, ", multiview: vggt") + models(lib, fmt.Sprintf(
				"  vggt: {path: %q, size: %d, min_confidence: 2, scale: %s, points: %s}\n  depthpro: {path: %q, size: %d}\n",
				vggtPath, modelSide, tc.scale, tc.points, dpPath, modelSide))
			in := items()
			for _, it := range in {
				for v := range it.Views {
					it.Views[v].CamToWorld = nil // VGGT must supply the poses
					it.Views[v].K = geometry.Intrinsics{}
					if tc.noDepth {
						it.Views[v].Depth = geometry.DepthMap{}
					}
				}
			}
			got := processAll(t, cfg, in)
			wantMethod := tc.scale
			if tc.scale == ScaleAuto {
				wantMethod = ScaleDepthPro
			}
			records := 0
			for i := range want {
				if (want[i].record == nil) != (got[i].record == nil) {
					t.Errorf("item %d: ground truth %s, vggt %s", i, outcomeJSON(t, want[i]), outcomeJSON(t, got[i]))
					continue
				}
				if want[i].record == nil {
					continue
				}
				records++
				var w, g any
				json.Unmarshal([]byte(outcomeJSON(t, want[i])), &w)
				json.Unmarshal([]byte(outcomeJSON(t, got[i])), &g)
				if d := near(w, g, 1.0001e-3, "record"); d != "" {
					t.Errorf("item %d differs at %s", i, d)
				}
				geo := got[i].record.Meta.Geometry
				if geo == nil || geo.Depth != MultiviewVGGT || geo.Multiview != MultiviewVGGT || geo.Scale == nil ||
					geo.Scale.Method != wantMethod || geo.Scale.Factor != 1/vggtUnit {
					t.Errorf("item %d: meta.geometry = %+v scale %+v, want vggt with %s scale %v", i, geo, geo.Scale, wantMethod, 1/vggtUnit)
				}
			}
			if records < 3 {
				t.Errorf("only %d records of %d items: the comparison proves little", records, len(want))
			}
			t.Logf("compared %d records (of %d items)", records, len(want))
		})
	}
}

// TestVGGTConfidence: pixels whose VGGT depth confidence is below
// models.vggt.min_confidence get no depth; the others keep theirs.
func TestVGGTConfidence(t *testing.T) {
	lib := onnxtest.Library(t)
	sets := []SyntheticSet{{Views: 2, Scenes: 1}}
	truth := renderSets(t, 5, sets, true)
	path := vggtModel(t, truth)
	for _, thr := range []float64{2, lowConf + 1} {
		t.Run(fmt.Sprint(thr), func(t *testing.T) {
			p := configProcessor(t, baseConfig(5, ", multiview: vggt")+models(lib, fmt.Sprintf("  vggt: {path: %q, size: %d, min_confidence: %v}\n", path, modelSide, thr)))
			it := renderSets(t, 5, sets, true)[0]
			if _, err := p.withModels(context.Background(), it); err != nil {
				t.Fatal(err)
			}
			v, tv := it.Views[1], truth[0].Views[1]
			for px, z := range tv.Depth.Z {
				got := v.Depth.Z[px]
				dropped := thr > lowConf && px < modelSide*modelSide/10
				switch {
				case z <= 0:
				case dropped && !math.IsNaN(float64(got)):
					t.Fatalf("pixel %d: depth %v, want none (confidence %v < %v)", px, got, lowConf, thr)
				case !dropped && got != z:
					t.Fatalf("pixel %d: depth %v, want %v", px, got, z)
				}
			}
		})
	}
}

// TestModelsConfigErrors: a config that selects a model without one, or
// names a bad provider or model file, fails before any item is read, with
// a message naming the key or file.
func TestModelsConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not-a-model.onnx")
	if err := os.WriteFile(bad, []byte("not protobuf"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, geo, config, want string
		load                    bool // the error comes from loading the model
	}{
		{"depthpro without model", ", depth: depthpro", "", "models.depthpro.path: required when geometry.depth is depthpro", false},
		{"vggt without model", ", multiview: vggt", "models: {}\n", "models.vggt.path: required when geometry.multiview is vggt", false},
		{"vggt depthpro scale without depthpro", ", multiview: vggt", "models: {vggt: {path: v.onnx, scale: depthpro}}\n", "models.vggt.scale: depthpro needs models.depthpro.path", false},
		{"confidence without output", ", depth: depthpro", "models: {depthpro: {path: d.onnx, min_confidence: 0.5}}\n", "models.depthpro.min_confidence: set conf_output too", false},
		{"unknown depth mode", ", depth: lidar", "", "geometry.depth", false},
		{"bad provider", "", "models: {provider: gpu0}\n", "models.provider", false},
		{"unknown model key", "", "models: {depthpro: {path: d.onnx, heads: 2}}\n", "heads", false},
		{"bad model file", ", depth: depthpro", fmt.Sprintf("models: {depthpro: {path: %q}}\n", bad), "models.depthpro", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(baseConfig(3, tc.geo) + tc.config))
			if tc.load {
				if err != nil {
					t.Fatal(err)
				}
				cfg.Models.ORTLibrary = onnxtest.Library(t)
				_, err = newProcessor(cfg)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if tc.load && !strings.Contains(err.Error(), bad) {
				t.Errorf("error %v does not name the file %s", err, bad)
			}
		})
	}
}

// TestModelsDocExample: the config in docs/models.md parses, and the
// defaults it spells out are the defaults.
func TestModelsDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/models.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(doc), "## Using the models in `boostgen run`")
	_, rest, _ = strings.Cut(rest, "```yaml\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("docs/models.md: no yaml block under \"Using the models in `boostgen run`\"")
	}
	full, err := ParseConfig([]byte(example))
	if err != nil {
		t.Fatalf("docs/models.md example: %v", err)
	}
	m := full.Models
	minimal, err := ParseConfig([]byte(fmt.Sprintf(`
source: {type: scannet, scannet: {root: scans}}
geometry: {depth: depthpro, multiview: vggt}
models:
  ort_library: %q
  provider: %s
  depthpro: {path: %q}
  vggt: {path: %q}
`, m.ORTLibrary, m.Provider, m.DepthPro.Path, m.VGGT.Path)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(full.Models, minimal.Models) {
		a, _ := json.Marshal(full.Models)
		b, _ := json.Marshal(minimal.Models)
		t.Errorf("documented values differ from the defaults:\ndoc:      %s\ndefaults: %s", a, b)
	}
}

// TestDepthProConfidence: with a confidence output configured, pixels
// below models.depthpro.min_confidence get no depth.
func TestDepthProConfidence(t *testing.T) {
	lib := onnxtest.Library(t)
	sets := []SyntheticSet{{Views: 1, Scenes: 2}}
	truth := renderSets(t, 3, sets, true)
	path := depthProModelConf(t, truth, 1, true)
	for _, thr := range []float64{2, lowConf + 1} {
		t.Run(fmt.Sprint(thr), func(t *testing.T) {
			p := configProcessor(t, baseConfig(3, ", depth: depthpro")+models(lib, fmt.Sprintf("  depthpro: {path: %q, size: %d, conf_output: conf, min_confidence: %v}\n", path, modelSide, thr)))
			for i, it := range renderSets(t, 3, sets, true) {
				if _, err := p.withModels(context.Background(), it); err != nil {
					t.Fatal(err)
				}
				for px, z := range truth[i].Views[0].Depth.Z {
					got := it.Views[0].Depth.Z[px]
					want := z
					if thr > lowConf && px < modelSide*modelSide/10 {
						want = 0
					}
					if got != want {
						t.Fatalf("item %d pixel %d: depth %v, want %v", i, px, got, want)
					}
				}
			}
		})
	}
}

// TestVGGTNeedsScale: VGGT output is never written as meters unscaled; an
// item without depth, with no Depth-Pro configured, is rejected and says
// why.
func TestVGGTNeedsScale(t *testing.T) {
	lib := onnxtest.Library(t)
	sets := []SyntheticSet{{Views: 2, Scenes: 1}}
	path := vggtModel(t, renderSets(t, 5, sets, true))
	tests := []struct{ scale, want string }{
		{ScaleAuto, "vggt is not metric and this item has no depth"},
		{ScaleSource, "models.vggt.scale is source_depth but the source gives no depth"},
	}
	for _, tc := range tests {
		t.Run(tc.scale, func(t *testing.T) {
			it := renderSets(t, 5, sets, true)[0]
			for v := range it.Views {
				it.Views[v].Depth = geometry.DepthMap{}
			}
			cfg := baseConfig(5, ", multiview: vggt") + models(lib, fmt.Sprintf("  vggt: {path: %q, size: %d, scale: %s}\n", path, modelSide, tc.scale))
			out := processAll(t, cfg, []*scene.Item{it})[0]
			if out.reject == nil || out.reject.Code != RejectDepth || !strings.Contains(out.reject.Reason, tc.want) {
				t.Fatalf("outcome %s, want a depth reject saying %q", outcomeJSON(t, out), tc.want)
			}
		})
	}
}
