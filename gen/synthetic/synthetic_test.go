package synthetic

import (
	"bytes"
	"image/png"
	"reflect"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/geometry"
)

func TestGenerateIsDeterministic(t *testing.T) {
	a, err := Generate(3, 17, 4, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(3, 17, 4, DefaultOptions)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed and index, different scenes")
	}
	c, _ := Generate(4, 17, 4, DefaultOptions)
	if reflect.DeepEqual(a.Objects, c.Objects) {
		t.Fatal("another seed, same scene")
	}
	ia, _, _ := a.Item("x")
	ib, _, _ := b.Item("x")
	for n := range ia.Views {
		if !bytes.Equal(ia.Views[n].Image.Bytes, ib.Views[n].Image.Bytes) {
			t.Fatalf("view %d renders differently", n)
		}
	}
}

func TestSceneRanges(t *testing.T) {
	for idx := 0; idx < 40; idx++ {
		s, err := Generate(1, idx, 1, DefaultOptions)
		if err != nil {
			t.Fatal(err)
		}
		c := s.Cameras[0]
		if c.HFOVDeg < 45 || c.HFOVDeg > 75 || c.Position()[2] < 0.8 || c.Position()[2] > 1.8 ||
			c.PitchDeg < -40 || c.PitchDeg > -5 || c.RollDeg < -5 || c.RollDeg > 5 {
			t.Errorf("scene %d: camera %+v", idx, c)
		}
		if n := len(s.Objects); n < 3 || n > 8 {
			t.Errorf("scene %d: %d objects", idx, n)
		}
		for _, o := range s.Objects {
			bottom := o.Center[2] - o.Size[2]/2
			if o.Support == 0 && !near(bottom, 0) {
				t.Errorf("scene %d: %s floats at %.3f", idx, o.Label, bottom)
			}
			if o.Support != 0 {
				sup := s.Objects[o.Support-1]
				if !near(bottom, sup.Center[2]+sup.Size[2]/2) {
					t.Errorf("scene %d: %s is not on %s", idx, o.Label, sup.Label)
				}
			}
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// The renderer and the camera model agree: an object's visible pixels
// unproject (with the rendered depth) onto the object's surface.
func TestRenderMatchesCameraModel(t *testing.T) {
	s, _ := Generate(2, 5, 1, DefaultOptions)
	v := s.Render(0)
	c := s.Cameras[0]
	w := c.K.W
	for n, id := range v.Instances {
		if id == 0 {
			continue
		}
		o := s.Objects[id-1]
		p := c.CamToWorld.Apply(c.K.Unproject(float64(n%w), float64(n/w), float64(v.Depth[n])))
		cube := o.TrueCube(geometry.IdentityPose)
		lo, hi := cube.Min(), cube.Max()
		for k := 0; k < 3; k++ {
			if p[k] < lo[k]-1e-6 || p[k] > hi[k]+1e-6 {
				t.Fatalf("pixel %d of %s unprojects to %v, outside [%v, %v]", n, o.Label, p, lo, hi)
			}
		}
		if v.Visible[int(id)] > v.Amodal[int(id)] {
			t.Fatalf("%s: more visible than amodal pixels", o.Label)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, v.Color); err != nil || buf.Len() == 0 {
		t.Fatal(err)
	}
}

func TestCaptionsTellTheTruth(t *testing.T) {
	s := &Scene{FloorColor: "gray", Objects: []Object{
		{ID: 1, Label: "red box", Shape: Box, Size: geometry.Vec3{0.5, 0.5, 0.4}},
		{ID: 2, Label: "blue sphere", Shape: Sphere, Size: geometry.Vec3{0.2, 0.2, 0.2}, Support: 1},
		{ID: 3, Label: "red box", Shape: Box, Size: geometry.Vec3{0.3, 0.3, 0.3}},
		{ID: 4, Label: "green cylinder", Shape: Cylinder, Size: geometry.Vec3{0.2, 0.2, 0.9}},
	}}
	short, long := s.Captions(map[int]bool{1: true, 2: true, 3: true})
	if !strings.Contains(short, "three objects") || !strings.Contains(short, "two red boxes") || strings.Contains(short, "cylinder") {
		t.Errorf("short caption %q", short)
	}
	if !strings.Contains(long, "The blue sphere rests on top of one of the red boxes.") || !strings.Contains(long, "The two red boxes stand directly on the floor.") {
		t.Errorf("detailed caption %q", long)
	}
}
