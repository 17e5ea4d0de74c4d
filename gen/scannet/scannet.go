// Package scannet reads and writes scenes in the layout ScanNet's SensReader
// exports, which users of RGB-D scans already have on disk:
//
//	color/N.jpg|png                  the color frames
//	depth/N.png                      uint16 depth in millimeters, 0 = invalid
//	pose/N.txt                       4×4 camera-to-world
//	intrinsic/intrinsic_color.txt    4×4 (fx, fy, cx, cy in the top-left 3×3)
//	intrinsic/intrinsic_depth.txt    4×4
//	instance-filt/N.png              optional instance ids (objectId+1)
//	<scene>.aggregation.json         optional labels of the instance ids
//
// boostgen adds one optional file, boostgen.json, holding captions a source
// knows to be true (the synthetic scenes write theirs). The synthetic scenes
// are exported in this layout, so the same reader serves both.
package scannet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // color frames are JPEG in real exports
	"image/png"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/geometry"
)

// Aggregation is the part of ScanNet's *.aggregation.json boostgen reads.
type Aggregation struct {
	SceneID   string     `json:"sceneId"`
	SegGroups []SegGroup `json:"segGroups"`
}

// SegGroup labels one object; instance-filt pixels hold ObjectID+1.
type SegGroup struct {
	ID       int    `json:"id"`
	ObjectID int    `json:"objectId"`
	Label    string `json:"label"`
	Segments []int  `json:"segments"`
}

// Extras is boostgen.json.
type Extras struct {
	Captions []string `json:"captions,omitempty"`
	// Truth is free-form ground truth a synthetic source leaves for people
	// and tests to look at; the reader ignores it.
	Truth any `json:"truth,omitempty"`
}

var pngEncoder = png.Encoder{CompressionLevel: png.BestSpeed}

// Write exports an item as a scene folder. Depth is stored as uint16
// millimeters (QuantizeDepth), so depth read back is quantized to 1 mm (the
// synthetic source quantizes its items with the same function, which keeps
// them identical across the round trip).
func Write(dir string, it *scene.Item, truth any) error {
	for _, sub := range []string{"color", "depth", "pose", "intrinsic", "instance-filt"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return err
		}
	}
	for n, v := range it.Views {
		name := v.Name
		if name == "" {
			name = strconv.Itoa(n)
		}
		if err := os.WriteFile(filepath.Join(dir, "color", name+v.Image.Ext), v.Image.Bytes, 0o644); err != nil {
			return err
		}
		if err := writePNG(filepath.Join(dir, "depth", name+".png"), gray16(v.Depth)); err != nil {
			return err
		}
		if v.Instances != nil {
			if err := writePNG(filepath.Join(dir, "instance-filt", name+".png"), instanceImage(v.Instances, v.W, v.H)); err != nil {
				return err
			}
		}
		pose := geometry.IdentityPose
		if v.CamToWorld != nil {
			pose = *v.CamToWorld
		}
		if err := os.WriteFile(filepath.Join(dir, "pose", name+".txt"), []byte(matrixText(pose.Matrix4())), 0o644); err != nil {
			return err
		}
		if n == 0 {
			k := intrinsicMatrix(v.K)
			for _, f := range []string{"intrinsic_color.txt", "intrinsic_depth.txt"} {
				if err := os.WriteFile(filepath.Join(dir, "intrinsic", f), []byte(matrixText(k)), 0o644); err != nil {
					return err
				}
			}
		}
	}
	agg := Aggregation{SceneID: filepath.Base(dir)}
	for _, o := range it.Objects {
		agg.SegGroups = append(agg.SegGroups, SegGroup{ID: o.ID - 1, ObjectID: o.ID - 1, Label: o.Label, Segments: []int{}})
	}
	if err := writeJSON(filepath.Join(dir, filepath.Base(dir)+".aggregation.json"), agg); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, "boostgen.json"), Extras{Captions: it.Captions, Truth: truth})
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func writePNG(path string, img image.Image) error {
	var buf bytes.Buffer
	if err := pngEncoder.Encode(&buf, img); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// QuantizeDepth turns float depth into the uint16 millimeters the depth
// PNGs hold (0 = invalid, also for anything beyond 65.535 m).
func QuantizeDepth(z []float32) []uint16 {
	out := make([]uint16, len(z))
	for n, v := range z {
		mm := math.Round(float64(v) * 1000)
		if v > 0 && mm <= math.MaxUint16 {
			out[n] = uint16(mm)
		}
	}
	return out
}

// DepthFromMillimeters is the inverse of QuantizeDepth: depth as Read
// returns it.
func DepthFromMillimeters(mm []uint16) []float32 {
	out := make([]float32, len(mm))
	for n, v := range mm {
		out[n] = float32(v) / 1000
	}
	return out
}

func gray16(d geometry.DepthMap) *image.Gray16 {
	img := image.NewGray16(image.Rect(0, 0, d.W, d.H))
	for n, mm := range QuantizeDepth(d.Z) {
		img.SetGray16(n%d.W, n/d.W, color.Gray16{Y: mm})
	}
	return img
}

func instanceImage(ids []uint16, w, h int) image.Image {
	maxID := uint16(0)
	for _, id := range ids {
		maxID = max(maxID, id)
	}
	if maxID <= 255 {
		img := image.NewGray(image.Rect(0, 0, w, h))
		for n, id := range ids {
			img.Pix[n] = uint8(id)
		}
		return img
	}
	img := image.NewGray16(image.Rect(0, 0, w, h))
	for n, id := range ids {
		img.SetGray16(n%w, n/w, color.Gray16{Y: id})
	}
	return img
}

func intrinsicMatrix(k geometry.Intrinsics) [4][4]float64 {
	return [4][4]float64{{k.Fx, 0, k.Cx, 0}, {0, k.Fy, k.Cy, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}}
}

// intrinsicsOf reads an intrinsic_*.txt matrix for an image of w×h pixels.
func intrinsicsOf(m [4][4]float64, w, h int) geometry.Intrinsics {
	return geometry.Intrinsics{Fx: m[0][0], Fy: m[1][1], Cx: m[0][2], Cy: m[1][2], W: w, H: h}
}

func matrixText(m [4][4]float64) string {
	var b strings.Builder
	for _, row := range m {
		for c, v := range row {
			if c > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Frames lists the frame names of a scene folder in numeric order.
func Frames(dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "color"))
	if err != nil {
		return nil, fmt.Errorf("scannet: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		names = append(names, strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())))
	}
	sort.Slice(names, func(i, j int) bool {
		a, ea := strconv.Atoi(names[i])
		b, eb := strconv.Atoi(names[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return names[i] < names[j]
	})
	return names, nil
}

// Read loads the named frames of a scene folder (all frames when frames is
// empty) as one item. Every error names the file it is about.
func Read(dir string, frames []string) (*scene.Item, error) {
	if len(frames) == 0 {
		var err error
		if frames, err = Frames(dir); err != nil {
			return nil, err
		}
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("scannet: %s: no frames in color/", dir)
	}
	kpath := filepath.Join(dir, "intrinsic", "intrinsic_color.txt")
	km, err := readMatrix(kpath)
	if err != nil {
		return nil, err
	}
	it := &scene.Item{Source: "scannet"}
	labels, err := readLabels(dir)
	if err != nil {
		return nil, err
	}
	it.Objects = labels
	for _, name := range frames {
		v, err := readView(dir, name, km)
		if err != nil {
			return nil, err
		}
		it.Views = append(it.Views, v)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "boostgen.json")); err == nil {
		var ex Extras
		if err := json.Unmarshal(b, &ex); err != nil {
			return nil, fmt.Errorf("scannet: %s: %w", filepath.Join(dir, "boostgen.json"), err)
		}
		it.Captions = ex.Captions
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return it, nil
}

// ReadColor loads only the color image of a frame (Name, Image, W, H set):
// what a mined pair's in-between frames need.
func ReadColor(dir, name string) (scene.View, error) {
	v := scene.View{Name: name}
	cpath, err := findColor(dir, name)
	if err != nil {
		return v, err
	}
	if v.Image.Bytes, err = os.ReadFile(cpath); err != nil {
		return v, err
	}
	v.Image.Ext = strings.ToLower(filepath.Ext(cpath))
	cfg, _, err := image.DecodeConfig(bytes.NewReader(v.Image.Bytes))
	if err != nil {
		return v, fmt.Errorf("scannet: %s: %w", cpath, err)
	}
	v.W, v.H = cfg.Width, cfg.Height
	return v, nil
}

func readView(dir, name string, km [4][4]float64) (scene.View, error) {
	v, err := ReadColor(dir, name)
	if err != nil {
		return v, err
	}
	v.K = intrinsicsOf(km, v.W, v.H)
	if err := v.K.Validate(); err != nil {
		return v, fmt.Errorf("scannet: %s: %w", filepath.Join(dir, "intrinsic", "intrinsic_color.txt"), err)
	}

	dpath := filepath.Join(dir, "depth", name+".png")
	dimg, err := decodePNG(dpath)
	if err != nil {
		return v, err
	}
	b := dimg.Bounds()
	if b.Dx() != v.W || b.Dy() != v.H {
		// Real exports store depth smaller than color (640×480 beside
		// 1296×968): register it through both intrinsics (register.go).
		if v.Depth, err = registerDepth(dir, dpath, dimg, v.K); err != nil {
			return v, err
		}
	} else {
		v.Depth = geometry.DepthMap{W: v.W, H: v.H, Z: DepthFromMillimeters(gray16Values(dimg))}
	}

	ipath := filepath.Join(dir, "instance-filt", name+".png")
	if _, err := os.Stat(ipath); err == nil {
		iimg, err := decodePNG(ipath)
		if err != nil {
			return v, err
		}
		ib := iimg.Bounds()
		if ib.Dx() != v.W || ib.Dy() != v.H {
			return v, fmt.Errorf("scannet: %s: instances are %d×%d but color is %d×%d", ipath, ib.Dx(), ib.Dy(), v.W, v.H)
		}
		if im, ok := iimg.(*image.Gray); ok { // 8-bit ids are the ids, not scaled to 16 bits
			v.Instances = make([]uint16, v.W*v.H)
			for n, p := range im.Pix {
				v.Instances[n] = uint16(p)
			}
		} else {
			v.Instances = gray16Values(iimg)
		}
	}

	ppath := filepath.Join(dir, "pose", name+".txt")
	if pm, err := readMatrix(ppath); err == nil {
		pose := geometry.PoseFromMatrix4(pm)
		if !pose.IsFinite() {
			return v, fmt.Errorf("scannet: %s: pose is not finite (ScanNet writes -inf for frames it lost track of)", ppath)
		}
		v.CamToWorld = &pose
	} else if !errors.Is(err, fs.ErrNotExist) {
		return v, err
	}
	return v, nil
}

// gray16Values returns img's pixels as 16-bit gray, row-major. Depth and
// instance PNGs decode to *image.Gray16, read here without converting each
// pixel through color.Model (an interface call and an allocation apiece).
func gray16Values(img image.Image) []uint16 {
	b := img.Bounds()
	w := b.Dx()
	out := make([]uint16, w*b.Dy())
	im16, is16 := img.(*image.Gray16)
	for j := b.Min.Y; j < b.Max.Y; j++ {
		row := out[(j-b.Min.Y)*w:]
		for i := b.Min.X; i < b.Max.X; i++ {
			if is16 {
				row[i-b.Min.X] = im16.Gray16At(i, j).Y
			} else {
				row[i-b.Min.X] = color.Gray16Model.Convert(img.At(i, j)).(color.Gray16).Y
			}
		}
	}
	return out
}

func findColor(dir, name string) (string, error) {
	for _, ext := range []string{".jpg", ".png", ".jpeg"} {
		p := filepath.Join(dir, "color", name+ext)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("scannet: %s: no color/%s.jpg or .png", dir, name)
}

func decodePNG(path string) (image.Image, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("scannet: %s: %w", path, err)
	}
	return img, nil
}

func readMatrix(path string) ([4][4]float64, error) {
	var m [4][4]float64
	f, err := os.Open(path)
	if err != nil {
		return m, err
	}
	defer f.Close()
	var vals []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for _, tok := range strings.Fields(sc.Text()) {
			x, err := strconv.ParseFloat(tok, 64)
			if err != nil {
				return m, fmt.Errorf("scannet: %s: %q is not a number", path, tok)
			}
			vals = append(vals, x)
		}
	}
	if err := sc.Err(); err != nil {
		return m, fmt.Errorf("scannet: %s: %w", path, err)
	}
	if len(vals) != 16 {
		return m, fmt.Errorf("scannet: %s: want a 4×4 matrix (16 numbers), found %d", path, len(vals))
	}
	for n, x := range vals {
		m[n/4][n%4] = x
	}
	return m, nil
}

func readLabels(dir string) ([]scene.Object, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.aggregation.json"))
	if err != nil || len(matches) == 0 {
		return nil, err
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		return nil, err
	}
	var agg Aggregation
	if err := json.Unmarshal(b, &agg); err != nil {
		return nil, fmt.Errorf("scannet: %s: %w", matches[0], err)
	}
	var objs []scene.Object
	for _, g := range agg.SegGroups {
		objs = append(objs, scene.Object{ID: g.ObjectID + 1, Label: g.Label})
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].ID < objs[j].ID })
	return objs, nil
}
