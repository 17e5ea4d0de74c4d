package synthetic

import (
	"bytes"
	"fmt"
	"image/png"
	"math"

	"github.com/boostgen/boostgen/gen/scannet"
	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/geometry"
)

// pngEncoder trades a little size for speed: images are written once per
// view, and BestSpeed is several times faster than the default.
var pngEncoder = png.Encoder{CompressionLevel: png.BestSpeed}

// Item renders every camera and packages the scene as the pipeline's input.
// Depth goes through the millimeter quantization the ScanNet layout stores
// (scannet.QuantizeDepth), so an item read back from an export is
// identical to this one.
func (s *Scene) Item(id string) (*scene.Item, []*View, error) {
	it := &scene.Item{ID: id, Index: s.Index, Source: "synthetic"}
	for _, o := range s.Objects {
		it.Objects = append(it.Objects, scene.Object{ID: o.ID, Label: o.Label})
	}
	visible := map[int]bool{}
	var views []*View
	for c, cam := range s.Cameras {
		v := s.Render(c)
		views = append(views, v)
		for id, n := range v.Visible {
			if n > 0 {
				visible[id] = true
			}
		}
		var buf bytes.Buffer
		if err := pngEncoder.Encode(&buf, v.Color); err != nil {
			return nil, nil, fmt.Errorf("synthetic: encode view %d: %w", c, err)
		}
		pose := cam.CamToWorld
		it.Views = append(it.Views, scene.View{
			Name:       fmt.Sprint(c),
			Image:      scene.Image{Bytes: buf.Bytes(), Ext: ".png"},
			W:          cam.K.W,
			H:          cam.K.H,
			Depth:      geometry.DepthMap{W: cam.K.W, H: cam.K.H, Z: scannet.DepthFromMillimeters(scannet.QuantizeDepth(v.Depth))},
			Instances:  v.Instances,
			K:          cam.K,
			CamToWorld: &pose,
		})
	}
	short, detailed := s.Captions(visible)
	it.Captions = []string{short, detailed}
	return it, views, nil
}

// TruthObject is an object's exact geometry as exported for people and tests.
type TruthObject struct {
	ID      int       `json:"id"`
	Label   string    `json:"label"`
	Shape   Shape     `json:"shape"`
	Center  []float64 `json:"center"`
	Size    []float64 `json:"size"`
	YawDeg  float64   `json:"yaw_deg"`
	Support int       `json:"support"`
}

// Truth is the scene's ground truth in world coordinates (z up, floor z=0).
func (s *Scene) Truth() any {
	objs := make([]TruthObject, len(s.Objects))
	for n, o := range s.Objects {
		objs[n] = TruthObject{ID: o.ID, Label: o.Label, Shape: o.Shape, Center: o.Center[:], Size: o.Size[:], YawDeg: o.Yaw * 180 / math.Pi, Support: o.Support}
	}
	return map[string]any{"frame": "world: z up, floor at z = 0, meters", "objects": objs}
}
