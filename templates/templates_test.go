package templates

import (
	"image"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/boostgen/boostgen/geometry"
)

func TestDefaultBankIsThePapers(t *testing.T) {
	b, err := LoadBanks(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Spot checks against Tables 12–14, verbatim.
	for group, want := range map[string]string{
		"single_point":    "What is the depth value at pixel point [A]?",
		"close_predicate": "Which point has a smaller depth value? Point [A] or Point [B]?",
		"bounding_cube":   "What is the center of the 3d bounding box coordinate for [A]?",
		"left_predicate":  "Can you confirm if the [A] is positioned to the left of the [B]?",
		"distance":        "Measure the distance from the [A] to the [B].",
	} {
		if !slices.Contains(b.Groups[group].Questions, want) {
			t.Errorf("%s: missing %q", group, want)
		}
		if !strings.Contains(b.Source[group], "spatialboost.yaml") {
			t.Errorf("%s comes from %s", group, b.Source[group])
		}
	}
	if got := len(b.Groups["left_predicate"].False); got != 3 {
		t.Errorf("left_predicate has %d false responses, the paper has 3", got)
	}
}

func TestBankErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, yaml, want string }{
		{"unknown placeholder", "name: x\ngroups:\n  distance:\n    questions: ['How far is [Q]?']\n    answers: ['[X]']\n", "unknown placeholder [Q]"},
		{"unknown key", "name: x\ngroupz: {}\n", "groupz"},
		{"unusable group", "name: x\ngroups:\n  distance:\n    questions: ['How far is [A] from [B] and [Y]?']\n    answers: ['[X]']\n", "group distance: no question uses only"},
		{"predicate without false", "name: x\ngroups:\n  left_predicate:\n    questions: ['Is [A] left of [B]?']\n    true: ['Yes.']\n", "needs true and false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".yaml")
			os.WriteFile(p, []byte(c.yaml), 0o644)
			_, err := LoadBanks([]string{p})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
			if c.name != "unknown key" && !strings.Contains(err.Error(), p) {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
}

func TestUserBankOverridesGroup(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mine.yaml")
	os.WriteFile(p, []byte("name: mine\ngroups:\n  distance:\n    questions: ['How many meters from [A] to [B]?']\n    answers: ['About [X].']\n"), 0o644)
	b, err := LoadBanks([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	if q := b.Groups["distance"].Questions; len(q) != 1 || b.Source["distance"] != p {
		t.Fatalf("distance group %v from %s", q, b.Source["distance"])
	}
}

func TestFill(t *testing.T) {
	obj := map[string]bool{"[A]": true, "[B]": true}
	for _, c := range []struct {
		tmpl string
		objs map[string]bool
		want string
	}{
		{"Is the [A] to the left of the [B]?", obj, "Is the red box to the left of the blue sphere?"},
		{"What is the center of the 3d bounding box coordinate for [A]?", obj, "What is the center of the 3d bounding box coordinate for the red box?"},
		{"[A] in [X] and [B] in [Y]", obj, "The red box in 1 and the blue sphere in 2"},
		{"the [A] and the [B] are [X] apart.", obj, "The red box and the blue sphere are 1 apart."},
		{"Is point [A] closer than [B]?", nil, "Is point red box closer than blue sphere?"},
	} {
		got := Fill(c.tmpl, map[string]string{"[A]": "red box", "[B]": "blue sphere", "[X]": "1", "[Y]": "2"}, c.objs)
		if got != c.want {
			t.Errorf("Fill(%q) = %q, want %q", c.tmpl, got, c.want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, c := range []struct {
		m    float64
		want string
	}{
		{1.23449, "1.234 m"}, {0.5, "0.500 m"}, {0.49951, "0.500 m"}, {0.4994, "49.9 cm"}, {0.0123, "1.2 cm"}, {12.3456, "12.346 m"},
	} {
		if got := Length(c.m); got != c.want {
			t.Errorf("Length(%v) = %q, want %q", c.m, got, c.want)
		}
	}
	if got := Point(geometry.NormalizedPoint{X: 0.5, Y: 0.25}); got != "(0.500, 0.250)" {
		t.Errorf("Point = %q", got)
	}
	c := geometry.Cube{Center: geometry.Vec3{-0.0001, 1.2345, 0.3}, Size: geometry.Vec3{0.4, 0.35, 0.6}}
	if got := CubeText(c); got != "(0.000, 1.234, 0.300), size (0.400, 0.350, 0.600)" && got != "(0.000, 1.235, 0.300), size (0.400, 0.350, 0.600)" {
		t.Errorf("CubeText = %q", got)
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		name  string
		objs  []Named
		want  map[int]string
		sized map[int]bool
	}{
		{"unique labels", []Named{{1, "red box", 1}, {2, "blue box", 1}}, map[int]string{1: "red box", 2: "blue box"}, nil},
		{"twins told apart by size", []Named{{1, "red box", 0.1}, {2, "red box", 0.3}}, map[int]string{1: "small red box", 2: "large red box"}, map[int]bool{1: true, 2: true}},
		{"twins of similar size", []Named{{1, "red box", 0.2}, {2, "red box", 0.3}}, map[int]string{}, nil},
		{"triplets: only the clear extremes", []Named{{1, "red box", 0.1}, {2, "red box", 0.25}, {3, "red box", 0.3}}, map[int]string{1: "small red box"}, map[int]bool{1: true}},
		{"an unmeasured twin blocks both", []Named{{1, "red box", 0.1}, {2, "red box", nan()}}, map[int]string{}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, sized := Names(c.objs)
			if len(got) != len(c.want) {
				t.Fatalf("names %v, want %v", got, c.want)
			}
			for id, n := range c.want {
				if got[id] != n || sized[id] != c.sized[id] {
					t.Errorf("object %d: %q (sized %v), want %q", id, got[id], sized[id], n)
				}
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

// flatScene makes a depth map with two objects on a slanted floor: object 1
// at the left, nearer; object 2 at the right, farther.
func flatScene() (geometry.DepthMap, []PlanObject) {
	w, h := 200, 150
	d := geometry.DepthMap{W: w, H: h, Z: make([]float32, w*h)}
	ids := make([]uint16, w*h)
	for j := 0; j < h; j++ {
		for i := 0; i < w; i++ {
			d.Z[j*w+i] = 6 - float32(j)*0.02
		}
	}
	for j := 60; j < 110; j++ {
		for i := 20; i < 70; i++ {
			ids[j*w+i], d.Z[j*w+i] = 1, 2.0
		}
		for i := 120; i < 180; i++ {
			ids[j*w+i], d.Z[j*w+i] = 2, 3.5
		}
	}
	m := geometry.MasksFromInstances(ids, w, h)
	return d, []PlanObject{
		{ID: 1, Name: "red box", Cube: geometry.Cube{Center: geometry.Vec3{-1, 2, 0.3}, Size: geometry.Vec3{0.5, 0.5, 0.6}}, Box: m[1].Bounds, Mask: m[1]},
		{ID: 2, Name: "blue sphere", Cube: geometry.Cube{Center: geometry.Vec3{1, 3.5, 0.2}, Size: geometry.Vec3{0.4, 0.4, 0.4}}, Box: m[2].Bounds, Mask: m[2]},
	}
}

func TestPlanForwardChain(t *testing.T) {
	b, _ := LoadBanks(nil)
	d, objs := flatScene()
	in := Input{Index: 0, Rng: rand.New(rand.NewPCG(1, 1)), Depth: d, Objects: objs, Views: 1, Captions: []string{"short", "long"},
		Order: OrderForward, MinMargin: 0.05, MinDepthGap: 0.05}
	p, err := b.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	var levels, kinds []string
	for _, tn := range p.Turns {
		levels = append(levels, tn.Level)
		kinds = append(kinds, tn.Kind)
		if tn.Question == "" || tn.Answer == "" {
			t.Errorf("turn %d: empty text", tn.Index)
		}
	}
	want := "pixel pixel pixel pixel pixel object object object object scene caption caption"
	if got := strings.Join(levels, " "); got != want {
		t.Fatalf("levels %s\nwant   %s", got, want)
	}
	if kinds[0] != "depth" || kinds[2] != "closer" || kinds[5] != "cube" || kinds[7] != "left" || kinds[9] != "distance" {
		t.Errorf("kinds %v", kinds)
	}
	// Points lie inside the two objects' boxes (they are the rationale).
	for _, pt := range p.Points {
		in := image.Pt(pt.Pixel[0], pt.Pixel[1]).In(objs[0].Box) || image.Pt(pt.Pixel[0], pt.Pixel[1]).In(objs[1].Box)
		if !in {
			t.Errorf("point %s at %v is in neither object", pt.Name, pt.Pixel)
		}
	}
	// Left: the red box (x = -1) is left of the blue sphere (x = 1).
	lt := p.Turns[7]
	a := map[string]int{"A": p.A.ID, "B": p.B.ID}
	redFirst := a[lt.Args["a"]] == 1
	if lt.Value.(bool) != redFirst {
		t.Errorf("left turn %+v says %v", lt.Args, lt.Value)
	}
	if p.Turns[10].Answer != "short" || p.Turns[11].Answer != "long" {
		t.Errorf("captions %q %q", p.Turns[10].Answer, p.Turns[11].Answer)
	}
}

func TestPlanOrdersAndMissingCaptions(t *testing.T) {
	b, _ := LoadBanks(nil)
	d, objs := flatScene()
	for _, order := range []string{OrderReverse, OrderRandom} {
		p, err := b.Plan(Input{Index: 3, Rng: rand.New(rand.NewPCG(2, 2)), Depth: d, Objects: objs, Views: 4, AnchorView: 2, Order: order, MinMargin: 0.05, MinDepthGap: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		if order == OrderReverse && (p.Turns[0].Level != LevelScene || p.Turns[9].Level != LevelPixel) {
			t.Errorf("reverse starts with %s, ends with %s", p.Turns[0].Level, p.Turns[9].Level)
		}
		for _, tn := range p.Turns[10:] {
			if !tn.Missing || tn.Index != 0 {
				t.Errorf("%s: caption turn without captions: %+v", order, tn)
			}
		}
		for _, tn := range p.Turns {
			if tn.Level == LevelPixel && !strings.HasPrefix(tn.Question, "In image 3, ") {
				t.Errorf("%s: multi-view pixel question %q does not name the view", order, tn.Question)
			}
		}
	}
}

func TestPlanBalancesAnswers(t *testing.T) {
	b, _ := LoadBanks(nil)
	d, objs := flatScene()
	truths := map[string][2]int{}
	for idx := 0; idx < 200; idx++ {
		p, err := b.Plan(Input{Index: idx, Rng: rand.New(rand.NewPCG(uint64(idx), 9)), Depth: d, Objects: objs, Views: 1, Order: OrderForward, MinMargin: 0.05, MinDepthGap: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		for _, tn := range p.Turns {
			if v, ok := tn.Value.(bool); ok {
				c := truths[tn.Kind]
				if v {
					c[0]++
				} else {
					c[1]++
				}
				truths[tn.Kind] = c
			}
		}
	}
	for kind, c := range truths {
		share := float64(c[0]) / float64(c[0]+c[1])
		if share < 0.45 || share > 0.55 {
			t.Errorf("%s: %d true, %d false", kind, c[0], c[1])
		}
	}
	if len(truths) < 4 {
		t.Errorf("only %d predicate kinds asked: %v", len(truths), truths)
	}
}

func TestPlanRefusesWithoutPair(t *testing.T) {
	b, _ := LoadBanks(nil)
	d, objs := flatScene()
	if _, err := b.Plan(Input{Rng: rand.New(rand.NewPCG(1, 1)), Depth: d, Objects: objs[:1], MinMargin: 0.05}); err == nil {
		t.Fatal("planned with one object")
	}
	same := objs[1]
	same.ID, same.Cube = 3, objs[0].Cube // same place as object 1: no clear left/right
	same.Mask, same.Box = objs[0].Mask, objs[0].Box
	if _, err := b.Plan(Input{Rng: rand.New(rand.NewPCG(1, 1)), Depth: d, Objects: []PlanObject{objs[0], same}, MinMargin: 0.05, MinDepthGap: 0.05}); err == nil {
		t.Fatal("planned a pair with no clear relation")
	}
}
