package preview

import (
	"context"
	"math"
	"sort"
	"testing"

	"github.com/boostgen/boostgen/gen"
	"github.com/boostgen/boostgen/gen/dataset"
	"github.com/boostgen/boostgen/gen/synthetic"
	"github.com/boostgen/boostgen/geometry"
	"github.com/boostgen/boostgen/internal/blob"
)

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// TestCubeProjection checks the wireframes the page draws against the
// synthetic scenes' exact geometry. The record's cubes are estimated from
// the visible surface only (a sphere's far half is never seen), so they are
// not the true boxes; what the overlay must get exactly right is the
// projection: the true object's axis-aligned box in the record's canonical
// frame, stated as a record states a cube (mm, degrees), drawn through the
// record's meta (inverse of canonical_from_camera, then the intrinsics),
// must land within 2 px of the same box projected by the scene's true
// anchor camera. The estimated cubes' distance from the truth is logged.
func TestCubeProjection(t *testing.T) {
	dir, cfg := testDataset(t)
	ctx := context.Background()
	store, err := blob.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dataset.ReadManifest(ctx, store)
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.Source.Synthetic
	opts := synthetic.Options{Width: sc.Width, Height: sc.Height, WallChance: *sc.WallChance, MinObjects: sc.MinObjects, MaxObjects: sc.MaxObjects}

	var corners, records, multi int
	maxErr := 0.0
	var estErr, estErrVisible []float64
	err = dataset.Records(ctx, store, m, func(e *dataset.Entry) error {
		rec := e.Record
		records++
		views := len(e.Images())
		if views > 1 {
			multi++
		}
		scene, err := synthetic.Generate(cfg.Seed, rec.Meta.Source.Index, views, opts)
		if err != nil {
			t.Fatal(err)
		}
		_, rendered, err := scene.Item(rec.ID)
		if err != nil {
			t.Fatal(err)
		}
		anchor := rec.Meta.Frame.AnchorView
		trueCam := scene.Cameras[anchor]
		worldToCam := trueCam.CamToWorld.Inverse()
		canonFromWorld := worldToCam.Then(geometry.PoseFromMatrix4(rec.Meta.Frame.CanonicalFromCamera))
		worldFromCanon := canonFromWorld.Inverse()
		// trueXY projects a canonical-frame point with the true camera.
		trueXY := func(p geometry.Vec3) (float64, float64, bool) {
			u, v, ok := trueCam.K.Project(worldToCam.Apply(worldFromCanon.Apply(p)))
			return u + 0.5, v + 0.5, ok && worldToCam.Apply(worldFromCanon.Apply(p))[2] >= nearZ
		}

		// The record as it is, and again with every cube replaced by the
		// true box in the record's frame.
		truthRec := rec
		truthRec.Meta.Objects = append([]gen.ObjectMeta(nil), rec.Meta.Objects...)
		trueCubes := map[string]geometry.Cube{}
		for k, om := range truthRec.Meta.Objects {
			var obj *synthetic.Object
			for n := range scene.Objects {
				if scene.Objects[n].ID == om.ID {
					obj = &scene.Objects[n]
				}
			}
			if obj == nil {
				t.Fatalf("%s: object %d is not in the scene", e.Where(), om.ID)
			}
			c := obj.TrueCube(canonFromWorld)
			truthRec.Meta.Objects[k].Cube = gen.CubeMeta{
				Center: []float64{round3(c.Center[0]), round3(c.Center[1]), round3(c.Center[2])},
				Size:   []float64{round3(c.Size[0]), round3(c.Size[1]), round3(c.Size[2])},
			}
			trueCubes[om.Ref] = c
		}
		ov, err := BuildOverlay(&truthRec)
		if err != nil {
			t.Fatalf("%s: %v", e.Where(), err)
		}
		if len(ov.Objects) != 2 {
			t.Fatalf("%s: %d objects drawn, want 2", e.Where(), len(ov.Objects))
		}
		for _, o := range ov.Objects {
			want := trueCubes[o.Ref].Corners()
			for n := range want {
				x, y, ok := trueXY(want[n])
				if ok != o.InFront[n] {
					t.Errorf("%s: object %s corner %d: in front %v, true camera says %v", e.Where(), o.Ref, n, o.InFront[n], ok)
					continue
				}
				if !ok {
					continue
				}
				corners++
				d := math.Hypot(o.Corners[n][0]-x, o.Corners[n][1]-y)
				maxErr = math.Max(maxErr, d)
				if d > 2 {
					t.Errorf("%s: object %s corner %d drawn at (%.1f, %.1f), true (%.1f, %.1f): %.2f px off", e.Where(), o.Ref, n, o.Corners[n][0], o.Corners[n][1], x, y, d)
				}
			}
			// Every edge between two corners in front is drawn between them.
			for _, ed := range CubeEdges {
				if !o.InFront[ed[0]] || !o.InFront[ed[1]] {
					continue
				}
				a, b := o.Corners[ed[0]], o.Corners[ed[1]]
				found := false
				for _, l := range o.Edges {
					if math.Hypot(l.X1-a[0], l.Y1-a[1]) < 1e-6 && math.Hypot(l.X2-b[0], l.Y2-b[1]) < 1e-6 {
						found = true
					}
				}
				if !found {
					t.Errorf("%s: object %s: edge %v is not drawn", e.Where(), o.Ref, ed)
				}
			}
		}

		// Points: drawn at the center of the pixel they state.
		for _, p := range ov.Points {
			var ref *struct{ i, j int }
			for _, mp := range rec.Meta.Points {
				if mp.Name == p.Name {
					ref = &struct{ i, j int }{mp.Pixel[0], mp.Pixel[1]}
				}
			}
			if d := math.Hypot(p.X-float64(ref.i)-0.5, p.Y-float64(ref.j)-0.5); d > 0.5 {
				t.Errorf("%s: point %s drawn %.2f px from the center of pixel (%d, %d)", e.Where(), p.Name, d, ref.i, ref.j)
			}
		}

		// The estimated cubes, for the log.
		est, err := BuildOverlay(&rec)
		if err != nil {
			t.Fatalf("%s: %v", e.Where(), err)
		}
		for k, o := range est.Objects {
			truth := ov.Objects[k]
			worst := 0.0
			for n := range o.Corners {
				if o.InFront[n] && truth.InFront[n] {
					worst = math.Max(worst, math.Hypot(o.Corners[n][0]-truth.Corners[n][0], o.Corners[n][1]-truth.Corners[n][1]))
				}
			}
			estErr = append(estErr, worst)
			if rendered[anchor].VisibleFraction(rec.Meta.Objects[k].ID) >= 0.99 {
				estErrVisible = append(estErrVisible, worst)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if records < 20 || multi == 0 || corners < 8*records {
		t.Fatalf("checked %d corners of %d records (%d multi-view): too few", corners, records, multi)
	}
	t.Logf("projection: %d corners of true boxes in %d records (%d multi-view), max error %.3f px", corners, records, multi, maxErr)
	t.Logf("estimated cubes vs true boxes, worst corner per cube: all %s; fully visible %s", quantiles(estErr), quantiles(estErrVisible))
}

func quantiles(v []float64) string {
	if len(v) == 0 {
		return "none"
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	q := func(f float64) float64 { return s[int(f*float64(len(s)-1))] }
	return "n=" + itoa(len(s)) + " median " + ftoa(q(0.5)) + " px, p90 " + ftoa(q(0.9)) + " px, max " + ftoa(s[len(s)-1]) + " px"
}
