package templates

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/boostgen/boostgen/geometry"
)

// Levels of the chain (Appendix C).
const (
	LevelPixel   = "pixel"
	LevelObject  = "object"
	LevelScene   = "scene"
	LevelCaption = "caption"
)

// Orders of the spatial turns (Table 7's ablation); captions always close.
const (
	OrderForward = "forward" // pixel → object → scene, the paper's choice
	OrderReverse = "reverse" // scene → object → pixel
	OrderRandom  = "random"
)

// PlanObject is an object the planner may ask about.
type PlanObject struct {
	ID    int
	Name  string // referring expression, e.g. "red box" or "large red box"
	Sized bool   // the name carries a size word
	Cube  geometry.Cube
	Box   image.Rectangle // 2D box in the anchor view
	Mask  *geometry.Mask  // in the anchor view
	// Vis says which sides of the object are hidden in the anchor view;
	// relations that read a hidden extent are not asked.
	Vis geometry.Visibility
}

// Input is everything the planner needs for one record.
type Input struct {
	// Index is the item's position in the source. True/false targets are
	// drawn from it, so answers are balanced over any run of items whatever
	// the scene content and whatever the scheduling.
	Index int
	Rng   *rand.Rand
	// Depth is the anchor view's depth map; pixel turns ask about it.
	Depth      geometry.DepthMap
	Objects    []PlanObject
	Views      int
	AnchorView int
	Captions   []string // short, detailed; nil when the source has none
	Order      string
	// MinMargin is the smallest estimated margin (meters) a predicate is
	// asked with; MinDepthGap the smallest depth difference two compared
	// points may have.
	MinMargin   float64
	MinDepthGap float64
}

// TemplateRef records which templates produced a turn.
type TemplateRef struct {
	Group    string `json:"group"`
	Question int    `json:"question"`
	Answer   int    `json:"answer"`
}

// Turn is one question and answer with the structured truth behind it.
type Turn struct {
	Index    int               `json:"index"` // 1-based position in the conversation; 0 when missing
	Level    string            `json:"level"`
	Kind     string            `json:"kind"`
	Args     map[string]string `json:"args,omitempty"`
	Value    any               `json:"value,omitempty"`
	Unit     string            `json:"unit,omitempty"`
	MarginM  *float64          `json:"margin_m,omitempty"`
	Extra    map[string]any    `json:"extra,omitempty"`
	Template *TemplateRef      `json:"template,omitempty"`
	Missing  bool              `json:"missing,omitempty"`
	Question string            `json:"-"`
	Answer   string            `json:"-"`
}

// PointRef is a pixel a turn states.
type PointRef struct {
	Name   string     `json:"name"`   // "P1"
	Object string     `json:"object"` // "A" or "B"
	XY     [2]float64 `json:"xy"`     // as stated
	Pixel  [2]int     `json:"pixel"`  // the pixel the stated point falls in
	DepthM float64    `json:"depth_m"`
}

// Plan is the planner's result.
type Plan struct {
	Turns  []Turn
	A, B   PlanObject
	Points []PointRef
}

// ErrNoPlan is wrapped when an item offers no pair of objects to ask about.
var ErrNoPlan = errors.New("no usable object pair")

var otherRelations = []geometry.Relation{geometry.Above, geometry.Behind, geometry.Taller, geometry.Wider, geometry.Bigger}

type candidate struct {
	pt    geometry.NormalizedPoint
	i, j  int
	depth float64 // rounded to 3 decimals, as stated
}

// Plan lays out the 12 turns for one record: 5 pixel turns about points
// inside the two objects used later (their rationale), 4 object turns (the
// cubes of A and B, left, one more predicate), 1 scene turn (the distance
// between A and B), and 2 caption turns.
func (b *Bank) Plan(in Input) (*Plan, error) {
	if len(in.Objects) < 2 {
		return nil, fmt.Errorf("%w: %d referable objects, need 2", ErrNoPlan, len(in.Objects))
	}
	cands := make([][]candidate, len(in.Objects))
	for n := range in.Objects {
		cands[n] = samplePoints(in.Depth, in.Objects[n].Mask, in.Rng, 8)
	}
	type pair struct{ a, b int }
	var pairs []pair
	for a := range in.Objects {
		for c := a + 1; c < len(in.Objects); c++ {
			pairs = append(pairs, pair{a, c})
		}
	}
	in.Rng.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })

	// Two passes: first only pairs that show the relation this item is meant
	// to ask about, then any answerable relation. Falling back only when no
	// pair will do keeps each relation's true/false targets following the
	// item index, which is what balances them over a dataset.
	for _, strict := range []bool{true, false} {
		for _, pr := range pairs {
			A, B := in.Objects[pr.a], in.Objects[pr.b]
			if _, ok := decide(geometry.Left, A, B, in.MinMargin); !ok {
				continue
			}
			rel, ok := b.chooseRelation(in, A, B, strict)
			if !ok {
				continue
			}
			pts, ok := choosePoints(cands[pr.a], cands[pr.b], in.MinDepthGap)
			if !ok {
				continue
			}
			return b.build(in, A, B, rel, pts), nil
		}
	}
	return nil, fmt.Errorf("%w: none of %d pairs has clear left/right, another clear relation and comparable points", ErrNoPlan, len(pairs))
}

// chooseRelation picks the fourth object turn's relation, rotating through
// the relations by item index so that each is asked about as often; strict
// takes only that relation, otherwise the next ones the pair shows clearly.
func (b *Bank) chooseRelation(in Input, A, B PlanObject, strict bool) (geometry.Relation, bool) {
	start := in.Index % len(otherRelations)
	tries := len(otherRelations)
	if strict {
		tries = 1
	}
	for k := 0; k < tries; k++ {
		r := otherRelations[(start+k)%len(otherRelations)]
		if r == geometry.Bigger && (A.Sized || B.Sized) {
			continue // "large red box" would give the answer away
		}
		if _, ok := decide(r, A, B, in.MinMargin); ok {
			return r, true
		}
	}
	return "", false
}

// decide answers r(A, B) when the geometry supports an answer: the extents
// it reads are visible and the margin is clear (geometry.Decide).
func decide(r geometry.Relation, A, B PlanObject, minMargin float64) (holds, ok bool) {
	if !geometry.Answerable(r, A.Vis, B.Vis) {
		return false, false
	}
	return geometry.Decide(r, A.Cube, B.Cube, minMargin)
}

// samplePoints finds up to k pixels inside the mask that are safe to state:
// inside the object with all 8 neighbours, valid depth, and no depth edge
// nearby, so that the point's depth does not depend on which of two
// neighbouring pixels a reader takes. The check is made on the pixel the
// stated (rounded) point falls in.
func samplePoints(d geometry.DepthMap, m *geometry.Mask, rng *rand.Rand, k int) []candidate {
	var out []candidate
	if m == nil || m.Count == 0 {
		return nil
	}
	r := m.Bounds
	for tries := 0; tries < 60*k && len(out) < k; tries++ {
		i, j := r.Min.X+rng.IntN(r.Dx()), r.Min.Y+rng.IntN(r.Dy())
		if !m.Has(i, j) {
			continue
		}
		pt := geometry.NormalizePixel(i, j, d.W, d.H)
		pi, pj := pt.Pixel(d.W, d.H)
		if tooClose(out, pi, pj) || !flatAt(d, m, pi, pj) {
			continue
		}
		z, _ := d.At(pi, pj)
		out = append(out, candidate{pt: pt, i: pi, j: pj, depth: geometry.Round3(z)})
	}
	return out
}

// minPointSeparation keeps the points of one object apart, so that turns
// about "another point" are about another place.
const minPointSeparation = 6

func tooClose(cs []candidate, i, j int) bool {
	for _, c := range cs {
		if abs(c.i-i) < minPointSeparation && abs(c.j-j) < minPointSeparation {
			return true
		}
	}
	return false
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func flatAt(d geometry.DepthMap, m *geometry.Mask, i, j int) bool {
	z, ok := d.At(i, j)
	if !ok || !m.Has(i, j) {
		return false
	}
	for dj := -2; dj <= 2; dj++ {
		for di := -2; di <= 2; di++ {
			ii, jj := i+di, j+dj
			if ii < 0 || jj < 0 || ii >= d.W || jj >= d.H || !m.Has(ii, jj) {
				return false
			}
			zn, ok := d.At(ii, jj)
			if !ok || math.Abs(zn-z) > 0.01*z+0.005 {
				return false
			}
		}
	}
	return true
}

// choosePoints picks P1 in A and P2 in B whose depths differ by at least
// gap, then P3 (another point of A or B) and P4 to compare it with.
func choosePoints(ca, cb []candidate, gap float64) ([4]candidate, bool) {
	var out [4]candidate
	found := false
	var used1, used2 int
	for x := range ca {
		for y := range cb {
			if math.Abs(ca[x].depth-cb[y].depth) >= gap {
				out[0], out[1], used1, used2, found = ca[x], cb[y], x, y, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return out, false
	}
	// P3 alternates object: the next unused candidate of B, else of A.
	var rest []candidate
	for y := range cb {
		if y != used2 {
			rest = append(rest, cb[y])
		}
	}
	for x := range ca {
		if x != used1 {
			rest = append(rest, ca[x])
		}
	}
	for p3 := range rest {
		for p4 := range rest {
			if p3 != p4 && math.Abs(rest[p3].depth-rest[p4].depth) >= gap {
				out[2], out[3] = rest[p3], rest[p4]
				return out, true
			}
		}
	}
	// Few candidates: compare P3 with an already stated point.
	for p3 := range rest {
		for _, q := range out[:2] {
			if math.Abs(rest[p3].depth-q.depth) >= gap {
				out[2], out[3] = rest[p3], q
				return out, true
			}
		}
	}
	return out, false
}

func (b *Bank) build(in Input, A, B PlanObject, rel geometry.Relation, pts [4]candidate) *Plan {
	p := &Plan{A: A, B: B}
	pnames := []string{"P1", "P2", "P3", "P4"}
	owner := func(c candidate) string {
		if A.Mask.Has(c.i, c.j) {
			return "A"
		}
		return "B"
	}
	for n, c := range pts {
		if n == 3 && (c == pts[0] || c == pts[1]) {
			continue // P4 re-uses a stated point
		}
		p.Points = append(p.Points, PointRef{Name: pnames[n], Object: owner(c), XY: [2]float64{c.pt.X, c.pt.Y}, Pixel: [2]int{c.i, c.j}, DepthM: c.depth})
	}
	name := func(c candidate) string {
		for n, q := range pts {
			if q == c {
				return pnames[n]
			}
		}
		return ""
	}

	var spatial []Turn
	depthTurn := func(c candidate) Turn {
		t := b.turn(in.Rng, "single_point", LevelPixel, "depth", map[string]string{"[A]": Point(c.pt), "[X]": Length(c.depth)}, nil, nil)
		t.Args = map[string]string{"point": name(c)}
		t.Value, t.Unit = c.depth, "m"
		return t
	}
	closeTurn := func(x, y candidate, target bool) Turn {
		holds := x.depth < y.depth
		if holds != target {
			x, y = y, x
		}
		t := b.turn(in.Rng, "close_predicate", LevelPixel, "closer", map[string]string{"[A]": Point(x.pt), "[B]": Point(y.pt)}, nil, &target)
		t.Args = map[string]string{"a": name(x), "b": name(y)}
		t.Value = target
		gap := geometry.Round3(math.Abs(x.depth - y.depth))
		t.MarginM = &gap
		t.Extra = map[string]any{"depths_m": []float64{x.depth, y.depth}}
		return t
	}
	objTurn := func(group, kind string, x, y PlanObject, target *bool, margin float64) Turn {
		vals := map[string]string{"[A]": x.Name, "[B]": y.Name}
		t := b.turn(in.Rng, group, LevelObject, kind, vals, map[string]bool{"[A]": true, "[B]": true}, target)
		t.Args = map[string]string{"a": ref(x, A), "b": ref(y, A)}
		t.Value = *target
		m := geometry.Round3(math.Abs(margin))
		t.MarginM = &m
		return t
	}
	relTurn := func(r geometry.Relation, target bool) Turn {
		x, y := A, B
		if (geometry.Margin(r, x.Cube, y.Cube) > 0) != target {
			x, y = y, x
		}
		return objTurn(string(r)+"_predicate", string(r), x, y, &target, geometry.Margin(r, x.Cube, y.Cube))
	}
	cubeTurn := func(o PlanObject) Turn {
		t := b.turn(in.Rng, "bounding_cube", LevelObject, "cube", map[string]string{"[A]": o.Name, "[X]": CubeText(o.Cube)}, map[string]bool{"[A]": true}, nil)
		t.Args = map[string]string{"object": ref(o, A)}
		t.Value = map[string]any{"center": geometry.Round3Vec(o.Cube.Center), "size": geometry.Round3Vec(o.Cube.Size), "yaw_deg": geometry.Round3(o.Cube.Yaw * 180 / math.Pi)}
		t.Unit = "m"
		return t
	}

	spatial = append(spatial,
		depthTurn(pts[0]),
		depthTurn(pts[1]),
		closeTurn(pts[0], pts[1], in.Index%2 == 0),
		depthTurn(pts[2]),
		closeTurn(pts[2], pts[3], (in.Index/2)%2 == 1),
		cubeTurn(A),
		cubeTurn(B),
		relTurn(geometry.Left, (in.Index/4)%2 == 0),
		relTurn(rel, (in.Index/len(otherRelations))%2 == 0),
	)
	dist := geometry.Round3(geometry.CenterDistance(A.Cube, B.Cube))
	dt := b.turn(in.Rng, "distance", LevelScene, "distance", map[string]string{"[A]": A.Name, "[B]": B.Name, "[X]": Length(dist)}, map[string]bool{"[A]": true, "[B]": true}, nil)
	dt.Args = map[string]string{"a": "A", "b": "B"}
	dt.Value, dt.Unit = dist, "m"
	dt.Extra = map[string]any{
		"closest_m":        geometry.Round3(geometry.ClosestDistance(A.Cube, B.Cube)),
		"vertical_m":       geometry.Round3(geometry.VerticalDistance(A.Cube, B.Cube)),
		"horizontal_m":     geometry.Round3(geometry.HorizontalDistance(A.Cube, B.Cube)),
		"direction_oclock": geometry.Direction(A.Cube, B.Cube),
	}
	spatial = append(spatial, dt)

	if in.Views > 1 {
		pre := b.Groups["view_prefix"].Questions[0]
		prefix := Fill(pre, map[string]string{"[V]": strconv.Itoa(in.AnchorView + 1)}, nil)
		for n := range spatial {
			if spatial[n].Level == LevelPixel {
				spatial[n].Question = prefix + lowerFirst(spatial[n].Question)
			}
		}
	}

	switch in.Order {
	case OrderReverse:
		spatial = append(append(append([]Turn{}, spatial[9]), spatial[5:9]...), spatial[0:5]...)
	case OrderRandom:
		in.Rng.Shuffle(len(spatial), func(i, j int) { spatial[i], spatial[j] = spatial[j], spatial[i] })
	}
	p.Turns = append(spatial, b.captionTurn(in, "caption_short", 0), b.captionTurn(in, "caption_detailed", 1))
	n := 0
	for k := range p.Turns {
		if !p.Turns[k].Missing {
			n++
			p.Turns[k].Index = n
		}
	}
	return p
}

func (b *Bank) captionTurn(in Input, group string, k int) Turn {
	g := b.Groups[group]
	q := in.Rng.IntN(len(g.Questions))
	t := Turn{Level: LevelCaption, Kind: group, Template: &TemplateRef{Group: group, Question: q, Answer: -1}, Question: g.Questions[q]}
	if k < len(in.Captions) && in.Captions[k] != "" {
		t.Answer = in.Captions[k]
	} else {
		t.Missing = true // left for the LLM caption stage
	}
	return t
}

// turn fills one question and a compatible answer from group. target picks
// the true or false responses of predicate groups.
func (b *Bank) turn(rng *rand.Rand, group, level, kind string, vals map[string]string, objects map[string]bool, target *bool) Turn {
	g := b.Groups[group]
	bound := make([]string, 0, len(vals))
	for k := range vals {
		bound = append(bound, k)
	}
	qi, _ := pick(rng, g.Questions, bound) // LoadBanks guarantees a usable one
	answers := g.Answers
	if target != nil {
		answers = g.False
		if *target {
			answers = g.True
		}
	}
	ai, _ := pick(rng, answers, bound)
	return Turn{
		Level:    level,
		Kind:     kind,
		Template: &TemplateRef{Group: group, Question: qi, Answer: ai},
		Question: Fill(g.Questions[qi], vals, objects),
		Answer:   Fill(answers[ai], vals, objects),
	}
}

func ref(o, A PlanObject) string {
	if o.ID == A.ID {
		return "A"
	}
	return "B"
}
