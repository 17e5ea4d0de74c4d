package gen

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/boostgen/boostgen/gen/scene"
	"github.com/boostgen/boostgen/geometry"
	"github.com/boostgen/boostgen/internal/version"
	"github.com/boostgen/boostgen/templates"
)

// Reject codes: stable, short names the summary and stats count by.
const (
	RejectSource     = "source"      // the source could not read the item
	RejectView       = "view"        // a view is malformed (size, intrinsics, pose)
	RejectDepth      = "depth"       // no or too little valid depth
	RejectMasks      = "masks"       // no object masks
	RejectFewObjects = "few_objects" // fewer than two objects can be asked about
	RejectNoPair     = "no_pair"     // no pair with clear relations
)

// rejectError carries a reject code through the per-item stages.
type rejectError struct {
	code string
	msg  string
}

func (e *rejectError) Error() string { return e.msg }

func reject(code, format string, args ...any) error {
	return &rejectError{code: code, msg: fmt.Sprintf(format, args...)}
}

// processor turns items into records; one is shared by all workers and
// holds nothing mutable.
type processor struct {
	cfg        *Config
	bank       *templates.Bank
	floor      geometry.FloorOptions
	cloud      geometry.CloudOptions
	configHash string
	models     *modelSet // nil unless a geometry mode uses models
}

func newProcessor(cfg *Config) (*processor, error) {
	banks := make([]string, len(cfg.Templates.Banks))
	for n, b := range cfg.Templates.Banks {
		banks[n] = cfg.Resolve(b)
	}
	bank, err := templates.LoadBanks(banks)
	if err != nil {
		return nil, err
	}
	g := cfg.Geometry
	fo := geometry.DefaultFloorOptions
	fo.Iterations, fo.InlierDist, fo.MaxTiltDeg = g.Floor.Iterations, g.Floor.InlierDistM, g.Floor.MaxTiltDeg
	co := geometry.CloudOptions{Erode: *g.Outliers.Erode, GapM: *g.Outliers.DepthGapM, GapRel: *g.Outliers.DepthGapRel, Stride: 1}
	models, err := loadModels(cfg)
	if err != nil {
		return nil, err
	}
	return &processor{cfg: cfg, bank: bank, floor: fo, cloud: co, configHash: cfg.Hash(), models: models}, nil
}

// itemRand gives each item its own random stream, a function of the seed
// and the item's id only, so output never depends on which worker ran it.
func itemRand(seed uint64, id string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(id))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

// outcome is what processing one item produced.
type outcome struct {
	record *Record
	images []imageBlob
	reject *Reject
	// more are further records or rejects made from the same item (the
	// LLM stages' multi-view VQA), written right after this one.
	more []outcome
	// fatal stops the run (an LLM budget or quota error, gen/llmrun.go).
	fatal error
}

type imageBlob struct {
	key  string
	data []byte
}

// imageKey is the content address of an image in the output.
func imageKey(img scene.Image) string {
	sum := sha256.Sum256(img.Bytes)
	h := hex.EncodeToString(sum[:])
	ext := strings.ToLower(img.Ext)
	if ext == "" || ext == ".jpeg" {
		ext = ".jpg"
	}
	return "images/" + h[:2] + "/" + h + ext
}

// process turns an item into its record, or a reject; ctx bounds the
// model calls.
func (p *processor) process(ctx context.Context, it *scene.Item) outcome {
	rec, err := p.record(ctx, it)
	if err != nil {
		code := RejectSource
		var re *rejectError
		if errors.As(err, &re) {
			code = re.code
		}
		return outcome{reject: &Reject{Item: it.ID, Index: it.Index, Code: code, Reason: err.Error()}}
	}
	var imgs []imageBlob
	for _, v := range it.Views {
		imgs = append(imgs, imageBlob{key: imageKey(v.Image), data: v.Image.Bytes})
	}
	return outcome{record: rec, images: imgs}
}

// objectState is one object on its way to the planner.
type objectState struct {
	id     int
	label  string
	points []geometry.Vec3
	cube   geometry.Cube
	mask   *geometry.Mask // anchor view
	vis    geometry.Visibility
	skip   string
}

// analyze validates an item and measures its geometry.
func (p *processor) analyze(it *scene.Item, rng *rand.Rand) (*analysis, error) {
	if it.Err != nil {
		return nil, it.Err
	}
	if len(it.Views) == 0 {
		return nil, reject(RejectView, "no views")
	}
	g := p.cfg.Geometry
	multi := len(it.Views) > 1
	for _, v := range it.Views {
		if v.W <= 0 || v.H <= 0 || v.W*v.H > 1<<26 {
			return nil, reject(RejectView, "view %s: image size %d×%d", v.Name, v.W, v.H)
		}
		if len(v.Depth.Z) == 0 {
			return nil, reject(RejectDepth, "view %s: no depth (the source has none and no depth model is configured)", v.Name)
		}
		if v.Depth.W != v.W || v.Depth.H != v.H || len(v.Depth.Z) != v.W*v.H {
			return nil, reject(RejectView, "view %s: depth is %d×%d but the image is %d×%d", v.Name, v.Depth.W, v.Depth.H, v.W, v.H)
		}
		if err := v.K.Validate(); err != nil {
			return nil, reject(RejectView, "view %s: %v", v.Name, err)
		}
		if multi && (v.CamToWorld == nil || !v.CamToWorld.IsFinite()) {
			return nil, reject(RejectView, "view %s: multi-view item without a finite camera pose", v.Name)
		}
		if v.Instances == nil {
			return nil, reject(RejectMasks, "view %s: no object masks", v.Name)
		}
		if len(v.Instances) != v.W*v.H {
			return nil, reject(RejectView, "view %s: instance map has %d pixels, image has %d", v.Name, len(v.Instances), v.W*v.H)
		}
	}
	masks := make([]map[int]*geometry.Mask, len(it.Views))
	for n, v := range it.Views {
		masks[n] = geometry.MasksFromInstances(v.Instances, v.W, v.H)
	}
	anchor := chooseAnchor(it, masks, g.MinMaskPixels, rng)
	av := &it.Views[anchor]
	if f := av.Depth.ValidFraction(); f < *g.MinValidDepth {
		return nil, reject(RejectDepth, "view %s: %.0f%% of depth pixels are valid (the rest NaN, infinite or ≤ 0), need %.0f%%", av.Name, 100*f, 100**g.MinValidDepth)
	}

	frame := p.canonicalFrame(av, it.MasksMayCoverFloor, rng)
	toFrame := make([]geometry.Pose, len(it.Views))
	if multi {
		canonFromWorld := av.CamToWorld.Inverse().Then(frame.FromCamera)
		for n, v := range it.Views {
			toFrame[n] = v.CamToWorld.Then(canonFromWorld)
		}
	} else {
		toFrame[0] = frame.FromCamera
	}

	// Every instance seen in any view, and every object the source labels:
	// a labeled object without pixels is reported, not silently dropped.
	ids := map[int]bool{}
	for _, ms := range masks {
		for id := range ms {
			ids[id] = true
		}
	}
	for _, o := range it.Objects {
		ids[o.ID] = true
	}
	sorted := make([]int, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Ints(sorted)

	var objs []*objectState
	for _, id := range sorted {
		o := &objectState{id: id, label: it.Label(id), mask: masks[anchor][id]}
		objs = append(objs, o)
		if o.label == "" {
			o.skip = "no label"
			continue
		}
		pixels := 0
		for n, v := range it.Views {
			m := masks[n][id]
			if m == nil {
				continue
			}
			pixels += m.Count
			pts, _ := geometry.MaskCloud(v.Depth, v.K, m, toFrame[n], p.cloud)
			o.points = append(o.points, pts...)
		}
		if pixels == 0 {
			o.skip = "empty mask in every view"
			continue
		}
		if len(o.points) < g.MinPoints {
			o.skip = geometry.ErrTooFewPoints{Have: len(o.points), Need: g.MinPoints}.Error()
			continue
		}
		if g.Cube == "oriented" {
			o.cube = geometry.OrientedCube(o.points)
		} else {
			o.cube = geometry.AxisCube(o.points)
		}
		if !o.cube.Center.IsFinite() || !o.cube.Size.IsFinite() {
			o.skip = "cube is not finite"
			continue
		}
		if frame.Kind == geometry.FrameFloor {
			if s := onFloorShare(o.points); s >= floorPatchShare {
				o.skip = fmt.Sprintf("lies flat on the floor (%.0f%% of its points within %.0f cm of it): a patch of floor, not an object", 100*s, 100*floorPatchBandM)
				continue
			}
		}
		switch {
		case o.mask == nil || o.mask.Count == 0:
			o.skip = "empty mask in the anchor view"
		case o.mask.Count < g.MinMaskPixels:
			o.skip = fmt.Sprintf("%d pixels in the anchor view, need %d", o.mask.Count, g.MinMaskPixels)
		default:
			o.vis = geometry.MaskVisibility(av.Depth, av.Instances, id, o.mask)
			if o.vis.Truncated {
				o.skip = "cut off by the image border"
			} else if s := o.vis.OccludedShare(); s > *g.MaxOcclusion {
				o.skip = fmt.Sprintf("%.0f%% of its outline hidden by nearer objects", 100*s)
			}
		}
	}

	return &analysis{anchor: anchor, frame: frame, toFrame: toFrame, objects: objs}, nil
}

// analysis is an item's geometry: the anchor view, the canonical frame and
// every object's cloud, cube and usability.
type analysis struct {
	anchor  int
	frame   geometry.Frame
	toFrame []geometry.Pose // per view: camera → canonical
	objects []*objectState  // by instance id
}

// record runs the configured models (withModels), then the geometry
// and the planner, and assembles the record.
func (p *processor) record(ctx context.Context, it *scene.Item) (*Record, error) {
	rng := itemRand(p.cfg.Seed, it.ID)
	geo, err := p.withModels(ctx, it)
	if err != nil {
		return nil, err
	}
	an, err := p.analyze(it, rng)
	if err != nil {
		return nil, err
	}
	g := p.cfg.Geometry
	objs := an.objects
	av := &it.Views[an.anchor]
	// Names are given over every labeled object, usable or not: an object
	// no question asks about can still make a label ambiguous.
	var named []templates.Named
	for _, o := range objs {
		if o.label == "" {
			continue
		}
		vol := math.NaN()
		if len(o.points) >= g.MinPoints {
			vol = o.cube.Volume()
		}
		named = append(named, templates.Named{ID: o.id, Label: o.label, Volume: vol})
	}
	names, sized := templates.Names(named)

	var plan []templates.PlanObject
	var skipped []SkippedObject
	for _, o := range objs {
		if o.skip == "" && names[o.id] == "" {
			o.skip = fmt.Sprintf("label %q is shared and no size tells them apart", o.label)
		}
		if o.skip != "" {
			skipped = append(skipped, SkippedObject{ID: o.id, Label: o.label, Reason: o.skip})
			continue
		}
		plan = append(plan, templates.PlanObject{ID: o.id, Name: names[o.id], Sized: sized[o.id], Cube: o.cube, Box: o.mask.Bounds, Mask: o.mask, Vis: o.vis})
	}
	if len(plan) < 2 {
		var why []string
		for _, s := range skipped {
			why = append(why, fmt.Sprintf("%d %q: %s", s.ID, s.Label, s.Reason))
		}
		detail := ""
		if len(why) > 0 {
			detail = "; skipped " + strings.Join(why, "; ")
		}
		return nil, reject(RejectFewObjects, "%d usable objects, need 2%s", len(plan), detail)
	}

	pl, err := p.bank.Plan(templates.Input{
		Index: it.Index, Rng: rng, Depth: av.Depth, Objects: plan,
		Views: len(it.Views), AnchorView: an.anchor, Captions: it.Captions,
		Order: p.cfg.Templates.Order, MinMargin: *p.cfg.Templates.MinMarginM, MinDepthGap: *p.cfg.Templates.MinDepthGapM,
	})
	if err != nil {
		return nil, reject(RejectNoPair, "%v", err)
	}
	rec := p.assemble(it, an.anchor, an.frame, pl, objs, skipped)
	if it.Masks != "" {
		if geo == nil {
			geo = &GeometryMeta{Depth: DepthSource, Intrinsics: DepthSource}
		}
		geo.Masks = it.Masks
	}
	rec.Meta.Geometry = geo
	return rec, nil
}

// chooseAnchor picks the view pixel turns are asked about (Appendix C:
// "we first select an image x_i among the image input"): the one showing the
// most objects whole (large enough and clear of the image border), so that
// as many objects as possible can be asked about; ties are broken at random.
func chooseAnchor(it *scene.Item, masks []map[int]*geometry.Mask, minPixels int, rng *rand.Rand) int {
	if len(it.Views) == 1 {
		return 0
	}
	best, bestN, ties := 0, -1, 0
	for n, v := range it.Views {
		whole := 0
		for _, m := range masks[n] {
			b := m.Bounds
			if m.Count >= minPixels && b.Min.X > 0 && b.Min.Y > 0 && b.Max.X < v.W && b.Max.Y < v.H {
				whole++
			}
		}
		switch {
		case whole > bestN:
			best, bestN, ties = n, whole, 1
		case whole == bestN:
			// Reservoir choice among equals keeps the draw uniform.
			ties++
			if rng.IntN(ties) == 0 {
				best = n
			}
		}
	}
	return best
}

// canonicalFrame fits the floor on every 4th pixel (in each direction) of
// the view that is on no object, or on all of them when the masks may
// cover the floor (SA-1B, SAM 2): there a patch of floor is often one of
// the masks, and leaving it out can leave too little floor, or only a
// table top, to fit.
func (p *processor) canonicalFrame(v *scene.View, masksMayCoverFloor bool, rng *rand.Rand) geometry.Frame {
	var cands []geometry.Vec3
	for j := 0; j < v.H; j += 4 {
		for i := 0; i < v.W; i += 4 {
			if v.Instances[j*v.W+i] != 0 && !masksMayCoverFloor {
				continue
			}
			if z, ok := v.Depth.At(i, j); ok {
				cands = append(cands, v.K.Unproject(float64(i), float64(j), z))
			}
		}
	}
	if pl, inliers, ok := geometry.FitFloor(cands, p.floor, rng); ok {
		return geometry.FloorFrame(pl, inliers)
	}
	return geometry.CameraFrame()
}

// A mask with at least floorPatchShare of its points within floorPatchBandM
// of the floor plane is floor (a rug, a shadow, a patch SAM 2 cut out),
// which no question should treat as an object. Real objects rise above the
// band: the smallest synthetic one is 10 cm tall.
const (
	floorPatchShare = 0.9
	floorPatchBandM = 0.03
)

// onFloorShare is the share of canonical-frame points within
// floorPatchBandM of the floor (z = 0).
func onFloorShare(pts []geometry.Vec3) float64 {
	if len(pts) == 0 {
		return 0
	}
	n := 0
	for _, q := range pts {
		if math.Abs(q[2]) <= floorPatchBandM {
			n++
		}
	}
	return float64(n) / float64(len(pts))
}

func (p *processor) assemble(it *scene.Item, anchor int, frame geometry.Frame, pl *templates.Plan, objs []*objectState, skipped []SkippedObject) *Record {
	av := &it.Views[anchor]
	var image any
	var views []string
	if len(it.Views) == 1 {
		image = imageKey(it.Views[0].Image)
	} else {
		paths := make([]string, len(it.Views))
		for n, v := range it.Views {
			paths[n] = imageKey(v.Image)
		}
		image = paths
	}
	for _, v := range it.Views {
		views = append(views, v.Name)
	}
	conv := conversation(pl.Turns, len(it.Views))
	objMeta := func(ref string, po templates.PlanObject) ObjectMeta {
		var st *objectState
		for _, o := range objs {
			if o.id == po.ID {
				st = o
			}
		}
		b := po.Box
		r := geometry.Round3
		return ObjectMeta{
			Ref: ref, ID: po.ID, Label: st.label, Name: po.Name,
			Box2D:         [4]float64{r(float64(b.Min.X) / float64(av.W)), r(float64(b.Min.Y) / float64(av.H)), r(float64(b.Max.X) / float64(av.W)), r(float64(b.Max.Y) / float64(av.H))},
			Cube:          CubeMeta{Center: geometry.Round3Vec(po.Cube.Center), Size: geometry.Round3Vec(po.Cube.Size), YawDeg: r(po.Cube.Yaw * 180 / math.Pi)},
			Points:        len(st.points),
			OccludedShare: r(st.vis.OccludedShare()),
		}
	}
	m := frame.FromCamera.Matrix4()
	for i := range m {
		for j := range m[i] {
			m[i][j] = round6(m[i][j])
		}
	}
	return &Record{
		ID:            it.ID,
		Image:         image,
		Conversations: conv,
		Meta: Meta{
			SchemaVersion: RecordSchemaVersion,
			Generator:     "boostgen " + version.Version,
			Seed:          p.cfg.Seed,
			ConfigSHA256:  p.configHash,
			Kind:          KindSpatial,
			Task:          TaskSpatial,
			Source:        Provenance{Kind: it.Source, Item: it.ID, Index: it.Index, Views: views},
			Frame: FrameMeta{
				Kind: frame.Kind, AnchorView: anchor,
				CameraHeightM: geometry.Round3(frame.CameraHeight), FloorInliers: frame.FloorInliers,
				CanonicalFromCamera: m,
				Intrinsics:          IntrinsicsMeta{Fx: round6(av.K.Fx), Fy: round6(av.K.Fy), Cx: round6(av.K.Cx), Cy: round6(av.K.Cy), Width: av.W, Height: av.H},
			},
			Order:          p.cfg.Templates.Order,
			Objects:        []ObjectMeta{objMeta("A", pl.A), objMeta("B", pl.B)},
			Points:         pl.Points,
			Turns:          pl.Turns,
			SkippedObjects: skipped,
			Filters:        it.Filters,
		},
	}
}

// conversation turns the asked turns into LLaVA messages; the first human
// turn carries one <image> token per image.
func conversation(turns []templates.Turn, images int) []Message {
	var conv []Message
	for _, t := range turns {
		if t.Missing {
			continue
		}
		q := t.Question
		if len(conv) == 0 {
			q = strings.Repeat("<image>\n", images) + q
		}
		conv = append(conv, Message{From: "human", Value: q}, Message{From: "gpt", Value: t.Answer})
	}
	return conv
}

func round6(f float64) float64 {
	r := math.Round(f*1e6) / 1e6
	if r == 0 {
		return 0
	}
	return r
}
